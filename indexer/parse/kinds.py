"""The one place a kind of input file is declared: its suffixes, its parser, and whether it stands alone or supplies
the metadata of a file of another kind beside it (a JATS ``X.xml`` beside ``X.pdf``).

Ingest (which files a folder holds), parsing (which parser reads a file) and the watched inbox (which files travel
with a PDF) all read this registry. A new kind is one :func:`register_file_kind` call (see ``docs/extending.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from indexer.parse.document import ParsedDocument
from indexer.parse.jats import parse_jats
from indexer.parse.pdf import parse_pdf

#: ``(path, collection, sha256 or None) -> ParsedDocument``; raises ``IngestError`` for a file it cannot read.
Parser = Callable[[Path, str, str | None], ParsedDocument]


@dataclass(frozen=True)
class FileKind:
    """A kind of input file.

    Attributes:
        name: e.g. ``"pdf"``.
        suffixes: lower-case, with the dot, e.g. ``(".xml", ".nxml")``.
        parse: reads one file of this kind.
        enriches: the kind whose metadata a file of this kind fills in when both share a name (``"pdf"`` for JATS);
            such a file is ingested on its own only where no file of that kind is beside it.
    """

    name: str
    suffixes: tuple[str, ...]
    parse: Parser
    enriches: str | None = None


FILE_KINDS: dict[str, FileKind] = {}


def register_file_kind(kind: FileKind) -> FileKind:
    """Add (or replace) a kind of input file; returns it."""
    FILE_KINDS[kind.name] = kind
    return kind


def kind_of(path: Path) -> FileKind | None:
    """The kind a file's suffix names, or None for a file no parser reads."""
    suffix = path.suffix.lower()
    return next((k for k in FILE_KINDS.values() if suffix in k.suffixes), None)


def supported_suffixes() -> tuple[str, ...]:
    """Every suffix some parser reads, e.g. ``(".pdf", ".xml", ".nxml")``."""
    return tuple(s for k in FILE_KINDS.values() for s in k.suffixes)


def companion_suffixes(of: str) -> tuple[str, ...]:
    """The suffixes of the files that supply the metadata of a file of kind ``of``: ``(".xml", ".nxml")`` for a PDF."""
    return tuple(s for k in FILE_KINDS.values() if k.enriches == of for s in k.suffixes)


register_file_kind(FileKind("pdf", (".pdf",), lambda path, collection, sha256: parse_pdf(
    path, collection=collection, sha256=sha256)))
register_file_kind(FileKind("jats", (".xml", ".nxml"), lambda path, collection, _sha256: parse_jats(
    path, collection=collection), enriches="pdf"))
