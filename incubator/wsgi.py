"""WSGI entry point (management tools; the service itself runs under ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")

application = get_wsgi_application()
