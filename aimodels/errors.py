"""Error codes of the aimodels app."""

from django.utils.translation import gettext_lazy as _

from incubator.errors import Conflict


class JobNotCancellable(Conflict):
    error_code = "JOB_FINISHED"
    default_detail = _("This job has already finished; only a queued or running job can be cancelled.")


class JobNotFinished(Conflict):
    error_code = "JOB_NOT_FINISHED"
    default_detail = _("This job is still queued or running; cancel it first, or wait for it to finish.")


class ModelNameTaken(Conflict):
    error_code = "MODEL_NAME_TAKEN"
    default_detail = _("This project already has a model with this name.")


class ModelHasVersions(Conflict):
    error_code = "MODEL_IN_PRODUCTION"
    default_detail = _("This model has a version in production; archive it first.")


class ArtifactInvalid(Conflict):
    error_code = "ARTIFACT_INVALID"
    default_detail = _("The stored model file does not match its checksum or cannot be loaded safely.")


class StageUnchanged(Conflict):
    error_code = "STAGE_UNCHANGED"
    default_detail = _("The version is already in this stage.")
