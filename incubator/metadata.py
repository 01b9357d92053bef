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
            serializer = view.get_serializer() if hasattr(view, "get_serializer") else None
            if serializer is not None:
                actions[method] = self.get_serializer_info(serializer)
        return actions
