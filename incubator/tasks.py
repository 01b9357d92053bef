"""Tasks of the shared plumbing."""

from celery import shared_task


@shared_task(name="incubator.ping", soft_time_limit=5, time_limit=10)
def ping() -> str:
    """Answers 'pong': proves a worker consumes the broker (readiness, CI's worker test)."""
    return "pong"


@shared_task(name="incubator.events_prune", soft_time_limit=600, time_limit=660)
def events_prune() -> int:
    """Deletes outbox events older than EVENTS_RETENTION_DAYS (beat, hourly)."""
    from .events.services import events_prune as prune

    return prune()
