"""``medembed ui``: the Streamlit app, started with the serving policy's hardening flags."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import click

from cli.common import handle_errors, settings_of

logger = logging.getLogger(__name__)


@click.command()
@click.option("--port", default=8501, show_default=True, type=int)
@click.option("--address", default="127.0.0.1", show_default=True)
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@handle_errors
def ui(ctx: click.Context, port: int, address: str, streamlit_args: tuple[str, ...]) -> None:
    """Start the Streamlit app (search, compare, score, ask, library). Refuses to serve without sign-in beyond
    localhost (see `medembed users add` and docs/deploy.md)."""
    from access import serving

    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    with serving.prepared(settings_of(ctx), address) as hardening:
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
               "--server.address", address, "--server.headless", "true", *hardening, *streamlit_args]
        logger.info("Starting %s", " ".join(cmd))
        code = subprocess.call(cmd, env=os.environ.copy())
    ctx.exit(code)
