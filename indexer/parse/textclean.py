"""Make untrusted document text safe to store, index and show: no NUL or control characters, no invisible
bidirectional overrides (which can make a title read differently from what it holds), no lone UTF-16 surrogates
(which no UTF-8 database accepts). Visible text of any script, emoji and combining marks are kept as they are."""

from __future__ import annotations

import re
from dataclasses import replace

from indexer.parse.document import ParsedDocument
from medcore.types import META_TEXT_FIELDS

# C0 controls but tab and newline; DEL and C1 controls; zero-width space, word joiner, BOM; LRM/RLM; the bidi
# embeddings, overrides and isolates (U+202A-E, U+2066-9); lone surrogates; the non-characters U+FFFE/U+FFFF.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """``text`` without the characters listed above; a carriage return becomes a newline."""
    return _UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def clean_line(text: str | None) -> str | None:
    """A metadata value cleaned and collapsed to one line (None when nothing is left)."""
    if text is None:
        return None
    return " ".join(clean_text(text).split()) or None


def clean_document(parsed: ParsedDocument) -> ParsedDocument:
    """A copy of ``parsed`` with every text field cleaned (segments without text are dropped)."""
    segments = [replace(s, text=clean_text(s.text), heading=clean_line(s.heading)) for s in parsed.segments]
    return replace(parsed, segments=[s for s in segments if s.text.strip()],
                   **{key: clean_line(getattr(parsed, key)) for key in META_TEXT_FIELDS})

