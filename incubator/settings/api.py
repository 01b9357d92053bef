"""REST framework, JWT and OpenAPI settings."""

from datetime import timedelta

from .base import SECRET_KEY
from .env import env_int, env_str

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_RENDERER_CLASSES": ["incubator.renderers.ORJSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "incubator.negotiation.ContentNegotiation",
    # The API speaks JSON only, and `format` is a word of its own domain (a dataset's file format, a download's
    # format): DRF must not read ?format= as a renderer choice.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_PARSER_CLASSES": ["incubator.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "incubator.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "incubator.filters.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "incubator.openapi.AutoSchema",
    "DEFAULT_METADATA_CLASS": "incubator.metadata.Metadata",
    "EXCEPTION_HANDLER": "incubator.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["incubator.throttling.RateLimits"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("THROTTLE_ANON") or "6000/min",
        "user": env_str("THROTTLE_USER") or "12000/min",
        "register": env_str("THROTTLE_REGISTER") or "30/hour",
    },
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# Failed logins: after this many failures in the window for one account or one address, answer 429.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Incubator API",
    "DESCRIPTION": (
        "Backend of the AI software incubator. Every error has the body "
        "`{status_code, error_code, message, details}`; `message` follows Accept-Language (zh-hans, en). "
        "Lists return `{<plural>: [...], pagination: {page, page_size, total, total_pages, next, previous}}`.\n\n"
        "Live updates: changes (job progress and metrics, dataset versions becoming ready, members, applications, "
        "models) are events `{id, type, topic, ts, data}` on topics `project:{id}`, `dataset:{id}`, `job:{id}` and "
        "`user:{id}` (readable by whoever can see the project; a user's topic by that user). Read them over the "
        "WebSocket `/ws/v1/stream` (authenticate with the subprotocols `incubator.v1` and `bearer.<access token>` "
        'or a first message `{"type": "auth", "token": ...}`, then `subscribe` to `topics` with `since`), as '
        "Server-Sent Events from `GET /api/v1/events/stream`, or by polling `GET /api/v1/events`. The three share "
        "event ids, so a client that reconnects with the last id it saw is sent what it missed. The protocol, close "
        "codes and every event type with its data are described in `docs/events.md` in the project's repository."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: Swagger UI would load it from validator.swagger.io, sending it the schema's address on
    # any host but localhost; the docs load nothing from outside the host (incubator/tests/test_docs_browser.py).
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # Docstrings are for maintainers: operation descriptions come from @extend_schema(description=...) and
    # component descriptions from @extend_schema_serializer(description=...) only (incubator.openapi.AutoSchema).
    "DISABLE_DOCSTRING_DESCRIPTIONS": True,
    "ENUM_NAME_OVERRIDES": {
        "ProjectStatusEnum": "projects.models.Project.Status",
        "ApplicationStatusEnum": "projects.models.Application.Status",
        "MembershipRoleEnum": "projects.models.Membership.Role",
        "GrantableRoleEnum": "projects.api.serializers.GRANTABLE_ROLES",
        "DatasetVersionStatusEnum": "datasets.models.DatasetVersion.Status",
        "DatasetProfileStatusEnum": "datasets.models.DatasetVersion.ProfileStatus",
        "DatasetUploadStatusEnum": "datasets.models.DatasetUpload.Status",
        "DatasetVersionSourceEnum": "datasets.models.DatasetVersion.Source",
        "DatasetFormatEnum": "datasets.models.FORMAT_CHOICES",
        "JobStatusEnum": "aimodels.models.TrainingJob.Status",
        "ModelStageEnum": "aimodels.models.ModelVersion.Stage",
        "ModelTaskEnum": "aimodels.models.TASK_CHOICES",
        "ExportFormatEnum": "analytics.models.Export.Format",
        "ExportStatusEnum": "analytics.models.Export.Status",
        "LogLevelEnum": "aimodels.api.serializers.LOG_LEVELS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "incubator.openapi.add_error_responses",
        "incubator.openapi.nullable_references",
        "datasets.api.pipeline_schema.add_step_components",
    ],
    "TAGS": [
        {"name": "users", "description": "Registration, JWT login, the logged-in user"},
        {"name": "projects", "description": "AI projects, members and join applications"},
        {
            "name": "datasets",
            "description": "Datasets of a project: uploads, immutable versions, preview, profiles, downloads, "
            "preprocessing",
        },
        {
            "name": "training",
            "description": "Algorithms and training jobs: start, watch (progress, metrics, logs), cancel, retry",
        },
        {"name": "models", "description": "The model registry: models, versions, stages, predictions"},
        {
            "name": "schemas",
            "description": "The schema registry: the JSON Schemas forms validate with (GET /schema), their "
            "versions and compatibility (docs/schema-registry.md)",
        },
        {
            "name": "schema migrations",
            "description": "Moving stored documents to a new schema version: dry run, run, log, rollback",
        },
        {"name": "admin", "description": "Platform admins: the database's tables and Django migrations"},
        {
            "name": "events",
            "description": "The live stream without a WebSocket: Server-Sent Events and polling (docs/events.md)",
        },
        {"name": "health", "description": "Liveness and readiness"},
    ],
}
