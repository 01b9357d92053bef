"""The first answer to each Idempotency-Key, kept for a day so a retried create returns it instead of creating again."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotentRequest(models.Model):
    # Whose key it is ("user:7", or "anon:<address>" for anonymous creates such as registration): two clients
    # never share answers even if they pick the same key.
    owner = models.CharField(_("owner"), max_length=80)
    key = models.CharField(_("key"), max_length=255)
    # The method, path and body the key was first used with: the same key with anything else is a 409.
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("status code"))
    body = models.TextField(_("response body"), blank=True)  # as the client first read it, byte for byte
    location = models.CharField(_("location"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("idempotent request")
        verbose_name_plural = _("idempotent requests")
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotent_request_owner_key")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
