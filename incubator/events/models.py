"""The outbox: one row per state change clients care about, written in the change's own transaction."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    # Monotonic id: a reconnecting client replays everything after the last id it saw.
    id = models.BigAutoField(_("ID"), primary_key=True)
    type = models.CharField(_("type"), max_length=64, db_index=True)  # e.g. "project.created", "application.approved"
    topic = models.CharField(_("topic"), max_length=128, db_index=True)  # e.g. "project:12", "user:7"
    subject_type = models.CharField(_("subject type"), max_length=64)
    subject_id = models.CharField(_("subject ID"), max_length=64)
    actor_id = models.BigIntegerField(_("actor ID"), null=True, blank=True)
    payload = models.JSONField(_("payload"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["id"]
        indexes = [models.Index(fields=["topic", "id"], name="event_topic_id")]

    def __str__(self) -> str:
        return f"#{self.id} {self.type} {self.topic}"
