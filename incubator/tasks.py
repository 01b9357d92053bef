"""Tasks of the shared plumbing."""

from celery import shared_task


@shared_task(name="incubator.ping", soft_time_limit=5, time_limit=10)
def ping() -> str:
    """Answers 'pong': proves a worker consumes the broker (readiness, CI's worker test)."""
    return "pong"
