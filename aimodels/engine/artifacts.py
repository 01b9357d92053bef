"""Model artifacts: a fitted pipeline to bytes and back with skops.io, never pickle.

skops rebuilds only the types it is told to trust. loads() trusts the types skops itself does not, when each
comes from an allowed package (ALLOWED_PACKAGES, matched on whole dotted parts: "sklearn.x" is in, "sklearnx"
is not) or is one of our own (ALLOWED_NAMES); anything else (a function such as os.system, a class of another
package) raises ArtifactUntrusted before anything is built.
"""

import zipfile
from typing import Any

import skops.io as sio

from datasets.engine.messages import gettext as _

from .errors import ArtifactUntrusted

ALLOWED_PACKAGES = ("sklearn", "numpy", "scipy")
ALLOWED_NAMES = ("aimodels.engine.preprocess.FrameColumns",)

__all__ = ["ALLOWED_NAMES", "ALLOWED_PACKAGES", "ArtifactUntrusted", "allowed", "dumps", "loads"]


def dumps(model: Any) -> bytes:
    # skops stores its JSON schema indented and uncompressed by default: deflate makes a file several times smaller.
    return sio.dumps(model, compression=zipfile.ZIP_DEFLATED, compresslevel=6)


def allowed(type_name: str, allow: tuple[str, ...] = ()) -> bool:
    """Whether loads() may trust this fully qualified name (as skops lists it)."""
    if type_name in ALLOWED_NAMES:
        return True
    return any(type_name.startswith(f"{package}.") for package in (*ALLOWED_PACKAGES, *allow))


def loads(data: bytes, *, allow: tuple[str, ...] = ()) -> Any:
    """The model in `data`. `allow` adds packages (e.g. those of plugins outside aimodels/algorithms whose
    estimators are their own classes) to ALLOWED_PACKAGES."""
    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - not a skops file at all: as untrusted as it gets
        raise ArtifactUntrusted(_("This is not a model artifact."), types=[]) from exc
    refused = sorted(name for name in found if not allowed(name, allow))
    if refused:
        raise ArtifactUntrusted(
            _("The model artifact holds types that are not allowed: %(types)s.") % {"types": ", ".join(refused)},
            types=refused,
        )
    return sio.loads(data, trusted=found)
