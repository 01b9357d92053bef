"""Error codes of analytics."""

from django.utils.translation import gettext_lazy as _
from rest_framework import status

from incubator.errors import ApiError


class ExportNotReady(ApiError):
    status_code = status.HTTP_409_CONFLICT
    error_code = "EXPORT_NOT_READY"
    default_detail = _("The export is not finished yet.")


class ExportExpired(ApiError):
    status_code = status.HTTP_410_GONE
    error_code = "EXPORT_EXPIRED"
    default_detail = _("The export's file has expired; create the export again.")


class ExportsBusy(ApiError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    error_code = "EXPORTS_BUSY"
    default_detail = _("You already have %(count)d exports queued or running; wait for one to finish.")
