"""OpenAPI: descriptions only from @extend_schema, the list key per view, and the contract's error responses on
every operation."""

from typing import Any

from django.utils.encoding import force_str
from django.utils.translation import override
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter

from .errors import ERROR_CODES, code_for_status


class AutoSchema(SpectacularAutoSchema):
    def get_description(self) -> str:  # type: ignore[override]
        """Only what `@extend_schema(description=...)` says: never a view's or a base class's docstring, which
        is written for maintainers (drf-spectacular falls back to them). The decorator's subclass returns its
        description before reaching this; an operation without one has none, and a test refuses that."""
        return ""

    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        handler = getattr(self.view, self.method.lower(), None)
        if getattr(handler, "idempotent", False):
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    # What the server accepts (incubator.idempotency.services._KEY): a fuzzer's keys then fit it.
                    pattern="^[!-~]{1,255}$",
                    description=(
                        "Makes a retry safe: the same key and body within 24 hours return the first answer "
                        "(with `Idempotent-Replayed: true`) and create nothing more; the same key with another "
                        "body is a 409 IDEMPOTENCY_KEY_REUSED. 1 to 255 printable ASCII characters, e.g. a UUID."
                    ),
                )
            )
        return parameters

    def _get_paginator(self) -> Any:
        paginator = super()._get_paginator()
        if paginator is not None:
            paginator.list_key_for_schema = getattr(self.view, "list_key", "results")
        return paginator


class JWTScheme(SimpleJWTScheme):
    """The Bearer scheme (Swagger UI's Authorize button) for the project's subclass of simplejwt's authentication:
    drf-spectacular's own extension matches simplejwt's class only."""

    target_class = "accounts.authentication.JWTAuthentication"


_ERRORS_ALWAYS = {
    "401": "Not authenticated, or the token is invalid or expired",
    "429": "Rate limited (see Retry-After)",
    "500": "Internal error (the body carries a request_id, never a stack trace)",
    "503": "A dependency (database, cache, broker) is down",
}
_ERRORS_WITH_BODY = {
    "400": "Invalid input or malformed JSON (details.field / details.message / details.errors)",
    "413": "Request body too large",
    "415": "Unsupported media type",
}
_ERRORS_WITH_ID = {"404": "Not found (also for private objects the caller may not see)"}
_ERRORS_WRITE = {
    "403": "Permission denied",
    "409": "Conflicts with the current state (error_code names it, e.g. ALREADY_MEMBER), or an Idempotency-Key "
    "already used with another body (IDEMPOTENCY_KEY_REUSED)",
}
_ERRORS_PAGED = {"404": "A page past the last one (NOT_FOUND; details name the last page)"}
# Query parameters that name one object the caller must be able to read (analytics' `?project=`, `?dataset=`,
# `?ids=`): a private or missing one is a 404, as in a path.
_OBJECT_PARAMETERS = frozenset({"project", "dataset", "ids"})


def _error_schema() -> dict[str, Any]:
    with override("en"):
        described = "\n".join(f"- `{code}`: {force_str(message)}" for code, message in sorted(ERROR_CODES.items()))
    return {
        "type": "object",
        "description": "The one error body of every response with status >= 400.",
        "required": ["status_code", "error_code", "message", "details"],
        "properties": {
            "status_code": {"type": "integer", "example": 400, "description": "Equals the HTTP status."},
            "error_code": {
                "type": "string",
                "enum": sorted(ERROR_CODES),
                "example": "INVALID_INPUT",
                "description": "Stable machine-readable code:\n" + described,
            },
            "message": {"type": "string", "example": "输入参数无效", "description": "Localized by Accept-Language."},
            "details": {
                "type": "object",
                "additionalProperties": True,
                "example": {
                    "field": "email",
                    "message": "请输入合法的邮件地址。",
                    "errors": {"email": ["请输入合法的邮件地址。"]},
                },
            },
        },
    }


def _error_content(status_code: str) -> dict[str, Any]:
    """The Error schema with an example of this status (Swagger UI shows the example per response)."""
    code = code_for_status(int(status_code))
    with override("zh-hans"):
        message = force_str(ERROR_CODES[code])
    example: dict[str, Any] = {"status_code": int(status_code), "error_code": code, "message": message, "details": {}}
    if status_code == "400":
        example["details"] = {"field": "name", "message": "该字段是必填项。", "errors": {"name": ["该字段是必填项。"]}}
    elif status_code == "429":
        example["details"] = {"retry_after": 30}
    elif status_code == "500":
        example["details"] = {"request_id": "3f2b9c0e8d7a4b1c9e6f5a4d3c2b1a09"}
    elif status_code == "503":
        example["details"] = {"unavailable": ["database"]}
    return {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}, "example": example}}}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: an Error component, and the error responses each operation can give."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = _error_schema()
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(_ERRORS_ALWAYS)
            if "requestBody" in operation or operation.get("parameters"):
                errors.update(_ERRORS_WITH_BODY if "requestBody" in operation else {"400": "Invalid parameters"})
            names_object = any(
                parameter.get("in") == "query" and parameter.get("name") in _OBJECT_PARAMETERS
                for parameter in operation.get("parameters", [])
            )
            if "{" in path or (names_object and path.startswith("/api/v1/analytics/")):
                errors.update(_ERRORS_WITH_ID)
            elif any(parameter.get("name") == "page" for parameter in operation.get("parameters", [])):
                errors.update(_ERRORS_PAGED)
            if method in ("post", "put", "patch", "delete") or operation.get("security"):
                errors.update(_ERRORS_WRITE)
            for status_code, description in errors.items():
                operation["responses"].setdefault(
                    status_code, {"description": description, **_error_content(status_code)}
                )
    return result


def nullable_references(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: a nullable reference, `{"allOf": [{"$ref": X}], "nullable": true}` as
    drf-spectacular writes it, becomes `{"oneOf": [{"$ref": X}, {"$ref": NullEnum}], "nullable": true}`, the form
    it already uses for nullable enums. OpenAPI 3.0.3 ignores `nullable` without `type`, and `allOf` applies to null
    too, so strict validators and some client generators took `"decided_by": null` for a violation of the schema."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    null = {"$ref": "#/components/schemas/NullEnum"}
    found = False

    def visit(node: Any) -> None:
        nonlocal found
        if isinstance(node, dict):
            parts = node.get("allOf")
            if (
                node.get("nullable") is True
                and isinstance(parts, list)
                and len(parts) == 1
                and isinstance(parts[0], dict)
                and set(parts[0]) == {"$ref"}
            ):
                node["oneOf"] = [node.pop("allOf")[0], dict(null)]
                found = True
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(result.get("paths"))
    visit(components)
    if found:
        components.setdefault("NullEnum", {"enum": [None]})
    return result
