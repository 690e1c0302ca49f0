"""``/medembed/pdf/<doc_id>``: a library document's stored PDF, served inline so ``#page=N`` opens that page.

Only the file the store records for that document id is served, and only when it is a PDF; nothing is addressed by
path, so the route cannot reach any other file. Only signed-in users (any role) get it (``ui/login_route.py``).
"""

from __future__ import annotations

import functools
import logging
import re

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from library.manage import pdf_path
from medcore.config import Settings
from store import Store
from ui.login_route import request_principal
from ui.present import PDF_ROUTE

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _store(url: str) -> Store:
    return Store(url)


def serve_pdf(request: Request) -> Response:
    """The PDF of document ``doc_id``, inline (a sync endpoint: Starlette runs it in its thread pool)."""
    settings = Settings.load()
    if request_principal(request, settings) is None:
        return PlainTextResponse("Sign in first: /medembed/login", status_code=401)
    doc = _store(settings.paths.store_url).get_document(request.path_params["doc_id"])
    path = pdf_path(doc)
    if path is None:
        return PlainTextResponse(
            "No stored PDF for this document: it was deleted, ingested from a file that has since moved, or is not a "
            "PDF. Upload it again on the Library page.", status_code=404)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)
    return FileResponse(path, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"', "X-Content-Type-Options": "nosniff",
        # no-store: on a shared workstation the next person must not find the paper in the browser's cache
        "Cache-Control": "no-store"})


ROUTES = [Route(PDF_ROUTE + "/{doc_id:int}", serve_pdf)]
