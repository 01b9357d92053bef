"""Predictions from a model version: the artifact loaded once per process (a bounded LRU keyed by its SHA-256,
which is checked on every load), the rows checked against the version's input signature."""

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from datasets import storage
from incubator.errors import InvalidInput

from .errors import ArtifactInvalid
from .models import ModelVersion

_lock = threading.Lock()
_models: OrderedDict[tuple[str, str], Any] = OrderedDict()


def _read(name: str) -> bytes:
    with open(storage.local_copy(name), "rb") as handle:
        return handle.read()


def model_load(version: ModelVersion) -> Any:
    """The fitted pipeline of a version; 409 ARTIFACT_INVALID when the file is missing, altered or unsafe."""
    key = (version.artifact, version.artifact_sha256)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    try:
        data = _read(version.artifact)
    except FileNotFoundError as exc:
        raise ArtifactInvalid(details={"reason": "missing"}) from exc
    if hashlib.sha256(data).hexdigest() != version.artifact_sha256:
        raise ArtifactInvalid(details={"reason": "checksum"})
    from .engine import artifacts  # the engine loads with the first model (aimodels.services._train says why)

    try:
        model = artifacts.loads(data)
    except artifacts.ArtifactUntrusted as exc:
        raise ArtifactInvalid(details={"reason": "untrusted"}) from exc
    with _lock:
        _models[key] = model
        _models.move_to_end(key)
        while len(_models) > max(1, settings.AIMODELS_MODEL_CACHE_SIZE):
            _models.popitem(last=False)
    return model


def models_forget() -> None:
    """Empty this process's cache (tests)."""
    with _lock:
        _models.clear()


def model_predict(*, version: ModelVersion, rows: list[Any]) -> dict[str, Any]:
    """Predictions (and class probabilities for classifiers) for up to AIMODELS_PREDICT_MAX_ROWS rows; a row
    that does not fit the signature is a 400 naming its index and column."""
    if not isinstance(rows, list) or not rows:
        raise InvalidInput({"rows": [_("Send a non-empty list of rows (JSON objects).")]})
    if len(rows) > settings.AIMODELS_PREDICT_MAX_ROWS:
        raise InvalidInput({"rows": [_("At most %(n)d rows.") % {"n": settings.AIMODELS_PREDICT_MAX_ROWS}]})
    from .engine import predict as engine_predict  # loaded with the first prediction, as model_load's artifacts

    try:
        frame = engine_predict.frame_of(rows, version.signature)
    except engine_predict.RowError as exc:
        field = f"rows.{exc.row}.{exc.column}" if exc.column else f"rows.{exc.row}"
        raise InvalidInput({field: [exc.message]}) from exc
    model = model_load(version)
    return engine_predict.predict(model, frame, version.signature)
