"""ASGI entry point: HTTP (Django, static files for Swagger UI and admin) and WebSocket (Channels).

HTTP runs Django's synchronous stack once per request on a bounded thread pool (a2wsgi), sized like the
database pool so a request never waits for a connection. Under Django's own ASGI handler every sync
middleware hops to a thread and back, which halved throughput here (bench/http_auth.py, HTTP_MODE=asgi
keeps that path for comparison). WebSockets go to Channels' consumers on the event loop.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")
django_asgi = get_asgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from .celery import start_embedded_worker  # noqa: E402
from .routing import websocket_urlpatterns  # noqa: E402

start_embedded_worker()


def threaded_django(workers: int):
    wsgi = WSGIMiddleware(get_wsgi_application(), workers=workers)

    async def app(scope, receive, send):
        # a2wsgi reads the body from its threads with run_coroutine_threadsafe, which needs a real coroutine;
        # granian's receive returns another kind of awaitable.
        async def receive_coroutine():
            return await receive()

        await wsgi(scope, receive_coroutine, send)

    return app


http_app = django_asgi if settings.HTTP_MODE == "asgi" else threaded_django(settings.WEB_THREADS)

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(http_app),
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
