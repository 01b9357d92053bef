"""What the engine raises; services turn these into the API's errors (datasets.errors)."""

from typing import Any

from . import messages


class EngineError(Exception):
    """Base of the engine's errors. `message` is already translated (a messages.Message, made by gettext)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {key: value for key, value in details.items() if value is not None}
        # Set when the error crossed from the engine's process, where the message was a Message.
        self.received_translations: dict[str, str] | None = None

    def translations(self, languages: list[str] | None = None) -> dict[str, str]:
        """The message in every language (messages.translations), to store for readers of any language."""
        if self.received_translations is not None:
            return self.received_translations
        return messages.translations(self.message, languages)


class UnsupportedFormat(EngineError):
    """Not one of FORMATS (by name and content): the API answers 415 UNSUPPORTED_MEDIA_TYPE."""


class ParseFailure(EngineError):
    """The file is in a known format but cannot be read. details: `row` (1-based: the line number for CSV,
    TSV and JSON Lines, counting the header line; the record number for JSON arrays, xlsx rows as Excel
    numbers them, Parquet rows counting from 1) and `column` (the column's name when known, else its
    1-based number), whichever are known."""


class PipelineInvalid(EngineError):
    """A preprocessing pipeline that cannot run on these columns. details: `step` (0-based index in the
    pipeline) and `field` (the step's field at fault, e.g. "columns" or "value")."""
