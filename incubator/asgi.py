"""ASGI entry point: HTTP (Django, static files for Swagger UI and admin) and WebSocket (Channels).

HTTP runs Django's synchronous stack once per request on a bounded thread pool (a2wsgi), sized like the
database pool so a request never waits for a connection. Under Django's own ASGI handler every sync
middleware hops to a thread and back, which halved throughput here (bench/http_auth.py, HTTP_MODE=asgi
keeps that path for comparison). WebSockets go to Channels' consumers on the event loop.

Importing this module starts nothing: the embedded Celery worker (no broker configured) starts when the
server actually serves, at lifespan startup where the server sends one, else on the first HTTP or
WebSocket connection (`make serve` runs uvicorn with --lifespan off, granian's asginl has no lifespan).
"""

import asyncio
import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")
django_asgi = get_asgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from .celery import start_embedded_worker, supervise_embedded_worker  # noqa: E402
from .edge import BufferedBody  # noqa: E402
from .events.sse import PATHS as EVENT_STREAM_PATHS  # noqa: E402
from .events.sse import event_stream_app  # noqa: E402
from .routing import websocket_urlpatterns  # noqa: E402
from .websocket import OriginValidator  # noqa: E402


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


def beside_django(app):
    """Server-Sent Events on the event loop: a stream that lasts must not hold one of the pool's threads."""
    static_and_django = ASGIStaticFilesHandler(BufferedBody(app))

    async def route(scope, receive, send):
        if scope["path"] in EVENT_STREAM_PATHS:
            return await event_stream_app(scope, receive, send)
        return await static_and_django(scope, receive, send)

    return route


def collector_for_serving() -> None:
    """Python's cycle collector, set for a long-lived server. Everything loaded so far (Django, the apps, the
    URLconf) lives as long as the process: frozen, a full collection no longer walks it. And collections run
    less often: with the default thresholds a full one came every few seconds under load and stopped the event
    loop for 240 ms each time with a thousand sockets open, which every socket's latency showed (bench/live.py:
    p99 224 ms, with this 51 ms). Garbage without cycles is freed at once whatever the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def start_background_work_when_serving(app):
    """Starts the embedded worker on the first scope the server hands over (lifespan, HTTP or WebSocket)."""
    started = False

    async def lifespan(receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def serving(scope, receive, send):
        nonlocal started
        if not started:
            started = True
            # Sync work (Celery's Django fixup touches database connections): off the event loop.
            await asyncio.to_thread(start_embedded_worker)
            supervise_embedded_worker()
            collector_for_serving()
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        return await app(scope, receive, send)

    return serving


application = start_background_work_when_serving(
    ProtocolTypeRouter(
        {
            # The body is read and bounded on the event loop before a pool thread takes the request.
            "http": beside_django(http_app),
            "websocket": OriginValidator(URLRouter(websocket_urlpatterns)),
        }
    )
)
