"""What the training engine raises; services turn these into the API's errors by their stable `code`."""

from typing import Any

# The codes the engine raises (services may raise EngineError with codes of their own).
INVALID_SPEC = "INVALID_SPEC"  # the spec does not fit the frame (what check() reports); details: field
NOT_ENOUGH_ROWS = "NOT_ENOUGH_ROWS"  # < 2 training rows or no held-out row; details: train_rows, valid_rows
SINGLE_CLASS = "SINGLE_CLASS"  # one class in all the rows or in the training rows; details: classes
TOO_MANY_CLASSES = "TOO_MANY_CLASSES"  # more than training.MAX_CLASSES classes; details: classes, limit
NO_FEATURES = "NO_FEATURES"  # no feature left (every one is null in the training rows); details: dropped
TRAINING_FAILED = "TRAINING_FAILED"  # the algorithm failed on this data; details: error (exception class)
ARTIFACT_UNTRUSTED = "ARTIFACT_UNTRUSTED"  # an artifact holding a type outside the allowlist; details: types


class EngineError(Exception):
    """An error with a stable `code`, a translated `message` (django.utils.translation.gettext) and JSON-ready
    `details` (None values left out)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = {key: value for key, value in details.items() if value is not None}


class ArtifactUntrusted(EngineError):
    """artifacts.loads() met a type outside its allowlist: the artifact is not loaded."""

    def __init__(self, message: str, *, types: list[str]) -> None:
        super().__init__(ARTIFACT_UNTRUSTED, message, types=types)
