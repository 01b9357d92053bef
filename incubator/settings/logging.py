"""Logging: one line per record with the request id, level from LOG_LEVEL."""

from .env import env_str

LOG_LEVEL = env_str("LOG_LEVEL") or "INFO"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "incubator.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "incubator.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler (DEBUG only) printed each of its records a second time, as plain text.
        "django": {"handlers": [], "propagate": True},
        "django.request": {"level": "ERROR"},
        "django.db.backends": {"level": "INFO"},
        "psycopg.pool": {"level": "WARNING"},
    },
}
