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
