"""One Qdrant client per location (a server URL, or an embedded local-mode folder, one per process), and the names
of one store's collections in it."""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import threading
from typing import TYPE_CHECKING

from medcore.errors import MedEmbedError

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

    from medcore.config import Settings
    from medcore.models import ModelSpec

try:
    from qdrant_client import models
except ImportError:  # the faiss backend does not need it
    models = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

_CLIENTS: dict[str, QdrantClient] = {}
_LOCK = threading.Lock()


def client_for(settings: Settings) -> QdrantClient:
    """The client for ``settings.qdrant``: ``url`` set means a server (or cluster), else local mode in
    ``qdrant.path`` (default ``<home>/qdrant``). Local mode locks its folder, so clients are shared per process."""
    try:
        from qdrant_client import QdrantClient
    except ImportError:
        raise MedEmbedError(
            "index.backend = 'qdrant' needs qdrant-client; run `pip install -e '.[qdrant]'` (or use index.backend = "
            "'faiss')."
        ) from None
    q = settings.qdrant
    where = q.url or str((q.path or settings.paths.home / "qdrant").resolve())
    with _LOCK:
        if where in _CLIENTS:
            return _CLIENTS[where]
        if q.url:
            client = QdrantClient(url=q.url, api_key=os.environ.get(q.api_key_env) or None, timeout=int(q.timeout_s))
        else:
            client = _local(where)
        _CLIENTS[where] = client
        return client


def _local(path: str) -> QdrantClient:
    from qdrant_client import QdrantClient

    os.makedirs(path, exist_ok=True)
    try:
        return QdrantClient(path=path)
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        raise MedEmbedError(
            f"The embedded Qdrant at {path} is open in another process (local mode allows one). Run a Qdrant "
            "server (`docker compose --profile qdrant up -d`) and set MEDEMBED_QDRANT_URL=http://qdrant:6333, "
            "or stop the other process."
        ) from None


def forget(settings: Settings) -> None:
    """Close and drop the cached client for ``settings`` (tests; releasing a local-mode folder)."""
    q = settings.qdrant
    where = q.url or str((q.path or settings.paths.home / "qdrant").resolve())
    with _LOCK:
        client = _CLIENTS.pop(where, None)
    if client is not None:
        client.close()


@atexit.register
def _close_all() -> None:
    """Close local-mode clients before interpreter shutdown (their ``__del__`` fails noisily when run that late)."""
    with _LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - closing at exit; nothing to do about it
            logger.debug("Closing a Qdrant client at exit failed", exc_info=True)


class QdrantCollections:
    """The client for ``settings`` and the collection names of its store: each retriever's alias and the physical
    collection behind it (what the writer switches and the reader follows)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = client_for(settings)
        self.base = settings.qdrant.collection_prefix
        if settings.qdrant.url or settings.qdrant.path:  # shared by several stores: tell their collections apart
            self.base += "-" + hashlib.blake2b(settings.paths.store_url.encode(), digest_size=4).hexdigest()

    def alias(self, spec: ModelSpec | None) -> str:
        return f"{self.base}-{'bm25' if spec is None else spec.slug}"

    def live(self, spec: ModelSpec | None) -> str | None:
        """The physical collection behind ``spec``'s alias, or None when none was built."""
        name = self.alias(spec)
        for a in self.client.get_aliases().aliases:
            if a.alias_name == name:
                return a.collection_name
        return None
