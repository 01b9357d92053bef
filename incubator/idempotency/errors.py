"""Error codes of idempotent requests."""

from django.utils.translation import gettext_lazy as _

from incubator.errors import Conflict


class IdempotencyKeyReused(Conflict):
    error_code = "IDEMPOTENCY_KEY_REUSED"
    default_detail = _("This Idempotency-Key was already used with another request.")
