"""OPTIONS answers: what a route accepts, without DRF's object lookups (which assume a queryset)."""

from typing import Any

from rest_framework import exceptions
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request, clone_request


class Metadata(SimpleMetadata):
    """DRF's metadata, but the writable fields of PUT/POST are described to whoever may use the method
    without calling `get_object()`: views here load their objects themselves (a project-scoped view has no
    queryset), and a failed lookup must not turn an OPTIONS request into a 500."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        actions = {}
        for method in {"PUT", "POST"} & set(view.allowed_methods):
            view.request = clone_request(request, method)
            try:
                view.check_permissions(view.request)
            except exceptions.APIException:
                continue
            finally:
                view.request = request
            serializer = _input_serializer(view, method)
            if serializer is not None:
                actions[method] = self.get_serializer_info(serializer)
        return actions


def _input_serializer(view: Any, method: str) -> Any:
    """What the method accepts: the request serializer its @extend_schema names (views here render their
    output with another serializer, which describes fields a client never sends)."""
    handler = getattr(view, method.lower(), None)
    schema_class = getattr(handler, "kwargs", {}).get("schema")
    if schema_class is None:
        return None
    schema = schema_class()
    schema.view, schema.method, schema.path = view, method, view.request.path
    try:
        request = schema.get_request_serializer()
    except Exception:  # noqa: BLE001 - documentation only: an OPTIONS answer must not fail on it
        return None
    if isinstance(request, type):
        return request()
    return request if hasattr(request, "fields") else None
