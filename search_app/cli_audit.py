"""Audit the CLI commands that change the library or produce models: ``ingest``, ``index``, ``generate``,
``train``, ``merge`` and ``watch`` (when it stops). Each run is one audit-log entry naming the OS user
(``cli:<user>``), the command, its outputs and options; option values whose names suggest a secret (or a URL, which
may hold one) are left out. Auditing never fails a command.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import click

logger = logging.getLogger(__name__)

AUDITED = ("ingest", "index", "classify", "generate", "train", "merge", "watch")
_SECRET = re.compile(r"pass|token|secret|key|url", re.I)


def _text(value: Any) -> str:
    """A parameter as a person reads it: paths and tuples of paths joined, not their Python repr."""
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _detail(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (_text(v) if not isinstance(v, int | float | bool | type(None)) else v)
            for k, v in params.items() if not _SECRET.search(k)}


def _record(ctx: click.Context, action: str, ok: bool) -> None:
    try:
        from indexer import audit
        from indexer.store import Store
        from search_app.user_admin import cli_principal

        params = dict(ctx.params)
        target = _text(params.get("output") or params.get("paths") or params.get("inbox") or params.get("model") or "")
        store = Store.from_settings(ctx.find_root().obj["settings"])
        audit.record(store, cli_principal(), action, target[:500], ok=ok, **_detail(params))
        store.close()
    except Exception as exc:  # noqa: BLE001 - the audit must not break the command it records
        logger.warning("Could not write the audit log entry for %s: %s", action, exc)


def audit_commands(group: click.Group, names: tuple[str, ...] = AUDITED) -> None:
    """Wrap the callbacks of ``names`` in ``group`` so each run is audited (success or failure)."""
    for name in names:
        command = group.commands.get(name)
        if command is None or command.callback is None:
            continue
        original = command.callback

        @functools.wraps(original)
        def audited(*args: Any, __original=original, __name=name, **kwargs: Any) -> Any:  # noqa: ANN001
            ctx = click.get_current_context()
            try:
                result = __original(*args, **kwargs)
            except click.exceptions.Exit as stop:
                _record(ctx, __name, ok=stop.exit_code == 0)
                raise
            except SystemExit as stop:
                _record(ctx, __name, ok=stop.code in (0, None))
                raise
            except BaseException:
                _record(ctx, __name, ok=False)
                raise
            _record(ctx, __name, ok=True)
            return result

        command.callback = audited
