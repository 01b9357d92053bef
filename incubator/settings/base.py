"""Core Django settings: apps, middleware, i18n, static files, security defaults."""

from pathlib import Path

from corsheaders.defaults import default_headers
from django.utils.translation import gettext_lazy as _

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", True)
# Development-only key; production.py refuses to start without SECRET_KEY.
SECRET_KEY = env_str("SECRET_KEY") or "dev-insecure-key-change-me-0123456789-abcdefghijklmnopqrstuvwxyz"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "incubator.events",
    "incubator.idempotency",
    "accounts",
    "projects",
    "datasets",
    "aimodels",
    "schema_registry",
    "analytics",
]

MIDDLEWARE = [
    # First: its clock, query count and Redis count take in everything below (incubator.metrics).
    "incubator.metrics.middleware.MetricsMiddleware",
    "incubator.middleware.RequestIdMiddleware",
    "incubator.middleware.CacheBatchMiddleware",
    "incubator.middleware.ApiErrorFallbackMiddleware",
    "incubator.middleware.ApiPathMiddleware",
    "incubator.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "incubator.urls"
# The admin login goes through the same lockout as the API login (accounts.services.user_authenticate).
AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutBackend"]
ASGI_APPLICATION = "incubator.asgi.application"
WSGI_APPLICATION = "incubator.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project package is not an installed app: its templates (the landing page) are listed here.
        "DIRS": [BASE_DIR / "incubator" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "accounts.password_validation.MinimumLengthValidator"},  # its message in Chinese too
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Chinese first: no Accept-Language means zh-hans.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "var" / "static")
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "var" / "media")

# JSON bodies above this size are refused with 413 before they are read; file uploads get their own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
API_MAX_UPLOAD_BYTES = env_int("API_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
# Uploaded files go to a temporary file, hashed as they arrive (datasets.uploads), in var/tmp: the same
# filesystem as the datasets storage, so storing a large upload links it into place instead of copying it.
FILE_UPLOAD_HANDLERS = ["datasets.uploads.HashingUploadHandler"]
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR") or str(BASE_DIR / "var" / "tmp")
# A body is read on the event loop before a thread takes the request (incubator.edge): 408 when it stops
# arriving for the idle timeout, or (JSON, not uploads) is not complete within the total timeout.
API_BODY_IDLE_TIMEOUT = env_int("API_BODY_IDLE_TIMEOUT", 10)
API_BODY_TIMEOUT = env_int("API_BODY_TIMEOUT", 30)

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", ["http://localhost:5173", "http://127.0.0.1:5173"])
# What a browser app on another origin may send beyond django-cors-headers' defaults (the conditional and range
# requests, safe retries, the stream's cursor) and may read of the answers (a browser hides any other header).
CORS_ALLOW_HEADERS = (
    *default_headers,
    "accept-language",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "if-range",
    "last-event-id",
    "range",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = [
    "Accept-Ranges",
    "Content-Disposition",
    "Content-Length",
    "Content-Range",
    "ETag",
    "Idempotent-Replayed",
    "Location",
    "Retry-After",
    "X-Request-ID",
]
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# HTTP requests run on a pool of this many threads per process (see incubator/asgi.py); keep it at or
# below DB_POOL_MAX_SIZE so no request waits for a database connection.
HTTP_MODE = env_str("HTTP_MODE") or "threads"
WEB_THREADS = env_int("WEB_THREADS", env_int("DB_POOL_MAX_SIZE", 10))
