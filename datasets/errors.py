"""Error codes of the datasets app."""

from django.utils.translation import gettext_lazy as _
from rest_framework import status

from incubator.errors import ApiError, Conflict


class UnsupportedFormat(ApiError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    error_code = "UNSUPPORTED_MEDIA_TYPE"
    default_detail = _("Unsupported media type.")


class FileUnreadable(ApiError):
    """The file is in a known format but cannot be parsed; details name the row and column."""

    status_code = status.HTTP_400_BAD_REQUEST
    error_code = "FILE_UNREADABLE"
    default_detail = _("The file cannot be read.")


class DatasetNameTaken(Conflict):
    error_code = "DATASET_NAME_TAKEN"
    default_detail = _("This project already has a dataset with this name.")


class VersionNotReady(Conflict):
    error_code = "VERSION_NOT_READY"
    default_detail = _("This version is not ready: it is still processing or it failed.")


class VersionInUse(Conflict):
    """details: `used_by`, what refers to the version (training jobs, models, derived versions)."""

    error_code = "VERSION_IN_USE"
    default_detail = _("This version is in use and cannot be deleted.")


class ObjectStorageRequired(Conflict):
    error_code = "OBJECT_STORAGE_REQUIRED"
    default_detail = _("Direct uploads need object storage (S3); upload the file to this API instead.")


class UploadNotPending(Conflict):
    error_code = "UPLOAD_NOT_PENDING"
    default_detail = _("This upload has already been completed, aborted or has expired.")


class UploadIncomplete(Conflict):
    error_code = "UPLOAD_INCOMPLETE"
    default_detail = _("The uploaded object does not match what was announced.")


class ExportPreparing(Conflict):
    error_code = "EXPORT_PREPARING"
    default_detail = _("This copy of the version is still being prepared; try again in a few seconds.")


class ExportFailed(Conflict):
    error_code = "EXPORT_FAILED"
    default_detail = _("This version cannot be written as CSV; download it as Parquet or as uploaded.")
