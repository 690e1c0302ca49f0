"""The one place an export format is declared (after datasette's output renderers): a name, how the file is named
and served, and the function that writes it. The CLI's ``--export`` choices and the UI's download buttons are
built from :data:`EXPORTERS`; a new format is one :func:`register_exporter` call (see ``docs/extending.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from medcore.errors import MedEmbedError
from medcore.types import Document
from search_app import citations

#: ``(papers in order, {document id: the reader's note}) -> the whole file as text``.
Render = Callable[[Sequence[Document], Mapping[int, str] | None], str]


@dataclass(frozen=True)
class Exporter:
    """An export format.

    Attributes:
        name: what ``--export`` takes, e.g. ``"bibtex"``.
        label: the download button's text, e.g. ``"BibTeX"``.
        extension: of the downloaded file, without the dot.
        media_type: served with the download.
        render: writes the papers.
        download: offered as a download button in the app (the Vancouver list is shown and copied instead).
    """

    name: str
    label: str
    extension: str
    media_type: str
    render: Render
    download: bool = True


EXPORTERS: dict[str, Exporter] = {}


def register_exporter(exporter: Exporter) -> Exporter:
    """Add (or replace) an export format; returns it."""
    EXPORTERS[exporter.name] = exporter
    return exporter


def exporter(name: str) -> Exporter:
    """The format called ``name``; raises MedEmbedError naming the known ones."""
    if name not in EXPORTERS:
        raise MedEmbedError(f"Unknown export format {name!r}; use one of: {', '.join(EXPORTERS)}.")
    return EXPORTERS[name]


def export(docs: Sequence[Document], name: str, notes: Mapping[int, str] | None = None) -> str:
    """The papers written in format ``name`` (one of :data:`EXPORTERS`)."""
    return exporter(name).render(docs, notes)


def downloads() -> list[Exporter]:
    """The formats the app offers as download buttons, in registration order."""
    return [e for e in EXPORTERS.values() if e.download]


def _numbered_vancouver(docs: Sequence[Document], _notes: Mapping[int, str] | None = None) -> str:
    return "".join(f"{n}. {reference}\n" for n, reference in enumerate(citations.vancouver(docs), start=1))


register_exporter(Exporter("ris", "RIS", "ris", "application/x-research-info-systems", citations.to_ris))
register_exporter(Exporter("bibtex", "BibTeX", "bib", "application/x-bibtex", citations.to_bibtex))
register_exporter(Exporter("csv", "CSV", "csv", "text/csv", citations.to_csv))
register_exporter(Exporter("vancouver", "Vancouver", "txt", "text/plain", _numbered_vancouver, download=False))
