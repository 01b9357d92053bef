"""Cache: Redis when REDIS_URL is set (shared by every process), else an in-process cache."""

from .env import env_str

REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "incubator.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "incubator",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "incubator"}}
