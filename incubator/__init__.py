"""The Incubator project package: settings, URLs, ASGI/WSGI entry points and shared plumbing."""

from .celery import app as celery_app

__all__ = ("celery_app",)
