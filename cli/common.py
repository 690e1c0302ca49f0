"""What every ``medembed`` command shares: the settings, the store, one way to report errors, and the audit mark.

A command that changes the library or produces a model carries ``@audited("action")`` under its ``@click.command``:
each run is one audit-log entry naming the OS user (``cli:<user>``), the command, its outputs and options; option
values whose names suggest a secret (or a URL, which may hold one) are left out. Auditing never fails a command.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from medcore.config import Settings
from medcore.errors import MedEmbedError

if TYPE_CHECKING:
    from store import Store

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_AUDIT_NOTE = "medembed.audit"
_SECRET = re.compile(r"pass|token|secret|key|url", re.I)


class RegistryChoice(click.Choice):
    """A ``click.Choice`` whose choices are read from a registry when the command runs, so that a kind registered
    after this module was imported (a plugin's export format) is accepted and listed in ``--help``."""

    def __init__(self, names: Callable[[], list[str]]) -> None:
        self._names = names
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, _value: object) -> None:  # click.Choice.__init__ assigns; the registry is the source
        pass


def export_formats(*extra: str) -> RegistryChoice:
    """The ``--export`` choices: every registered format (:data:`search_app.exporters.EXPORTERS`), then ``extra``."""
    from search_app import exporters

    return RegistryChoice(lambda: [*exporters.EXPORTERS, *extra])


def retriever_modes() -> RegistryChoice:
    """The ``--mode`` choices: every registered retriever mode (:data:`medcore.retrievers.RETRIEVER_MODES`)."""
    from medcore.retrievers import RETRIEVER_MODES

    return RegistryChoice(lambda: sorted(RETRIEVER_MODES))


def option_group(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Click options applied as one decorator (shared by commands, or named for what they configure), listed in
    ``--help`` in the order given."""

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def settings_of(ctx: click.Context) -> Settings:
    """The settings the ``medembed`` group loaded (``--config`` and ``MEDEMBED_*``)."""
    return ctx.find_root().obj["settings"]


def open_store(ctx: click.Context) -> Store:
    """The store of the loaded settings (SQLAlchemy is imported here, so commands that need no store start fast)."""
    from store import Store

    return Store.from_settings(settings_of(ctx))


def handle_errors(func: F) -> F:
    """Turn MedEmbedError into a one-line message and exit status 1 instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MedEmbedError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def audited(action: str) -> Callable[[F], F]:
    """Record each run of the command in the audit log as ``action`` (success, failure, or the exit status)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            try:
                result = func(*args, **kwargs)
            except click.exceptions.Exit as stop:
                _record(ctx, action, ok=stop.exit_code == 0)
                raise
            except SystemExit as stop:
                _record(ctx, action, ok=stop.code in (0, None))
                raise
            except BaseException:
                _record(ctx, action, ok=False)
                raise
            _record(ctx, action, ok=True)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def audit_note(ctx: click.Context, target: str | None = None, **detail: Any) -> None:
    """What the command's audit entry should say beyond its options: its ``target`` (what it changed) and details
    known only while it runs (the model a default resolved to, counts). Later notes add to earlier ones."""
    note = ctx.meta.setdefault(_AUDIT_NOTE, {})
    if target is not None:
        note["target"] = target
    note.update(detail)


def _text(value: Any) -> str:
    """A parameter as a person reads it: paths and tuples of paths joined, not their Python repr."""
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _detail(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (_text(v) if not isinstance(v, int | float | bool | type(None)) else v)
            for k, v in params.items() if not _SECRET.search(k)}


def _record(ctx: click.Context, action: str, ok: bool) -> None:
    try:
        from access import audit
        from access.admin import cli_principal

        params = dict(ctx.params)
        note = dict(ctx.meta.get(_AUDIT_NOTE, {}))
        target = note.pop("target", None) or _text(params.get("output") or params.get("paths") or params.get("inbox")
                                                    or params.get("model") or "")
        store = open_store(ctx)
        audit.record(store, cli_principal(), action, target[:500], ok=ok, **(_detail(params) | _detail(note)))
        store.close()
    except Exception as exc:  # noqa: BLE001 - the audit must not break the command it records
        logger.warning("Could not write the audit log entry for %s: %s", action, exc)
