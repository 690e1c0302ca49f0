"""The small error hierarchy. The CLI turns every MedEmbedError into a one-line message."""

from __future__ import annotations


class MedEmbedError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class ConfigError(MedEmbedError):
    """Settings file or environment variable is invalid."""


class ModelUnavailableError(MedEmbedError):
    """A model cannot be loaded (not on disk, and downloads are off or failed)."""


class IndexNotFoundError(MedEmbedError):
    """No index has been built yet for the requested model."""


class IndexMismatchError(MedEmbedError):
    """An index on disk was built with another model or dimension than requested."""


class IngestError(MedEmbedError):
    """One input file could not be ingested; the batch goes on without it."""


class PDFParseError(IngestError):
    """A PDF is corrupt, encrypted, empty or not a PDF at all."""


class DatasetError(MedEmbedError):
    """A BEIR dataset folder is missing files or malformed."""


class LockedError(MedEmbedError):
    """Another process holds the index lock."""


class LLMError(MedEmbedError):
    """The OpenAI-compatible LLM server cannot be reached or rejects every request."""


class TrainingError(MedEmbedError):
    """Training or merging cannot start: bad triplets, an occupied output folder, mismatched models."""


class PermissionDenied(MedEmbedError):
    """The signed-in user's role does not allow this action (checked on the server, in the action itself)."""


class AuthError(MedEmbedError):
    """Sign-in is misconfigured, or the app would be served open where it must not be."""


class StoreUnavailableError(MedEmbedError):
    """The database cannot be reached (down, restarting, network); the request failed cleanly and may be retried."""
