"""What the engine raises; services turn these into the API's errors (datasets.errors)."""

from typing import Any


class EngineError(Exception):
    """Base of the engine's errors. `message` is already translated (django.utils.translation.gettext)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {key: value for key, value in details.items() if value is not None}


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
