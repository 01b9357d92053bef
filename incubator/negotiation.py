"""Content negotiation remembered per Accept header: DRF parses and ranks the header on every request, and
clients send the same few headers every time."""

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation

from .generations import LocalMemo

# Accept headers are the client's to choose: the memo is bounded, and long headers are not kept.
_CHOICES = LocalMemo(size=512)
_MAX_KEPT_HEADER = 512


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request: Any, renderers: list, format_suffix: str | None = None) -> tuple[Any, str]:
        if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
            return super().select_renderer(request, renderers, format_suffix)
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if len(accept) > _MAX_KEPT_HEADER:
            return super().select_renderer(request, renderers, format_suffix)
        # The choice depends only on the header and the view's renderer classes, in order.
        key = (accept, *(type(renderer) for renderer in renderers))
        choice = _CHOICES.get(key)
        if choice is None:
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
            choice = (next(i for i, r in enumerate(renderers) if r is renderer), media_type)
            _CHOICES.set(key, choice)
        index, media_type = choice
        return renderers[index], media_type
