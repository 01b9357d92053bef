"""Channel layer: Redis when REDIS_URL is set (shared by every ASGI process), else in-memory."""

from .cache import REDIS_URL
from .env import env_int

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                # The default capacity (100) silently drops messages for a slow reader; clients replay from the
                # event table on reconnect, so a larger buffer only has to cover bursts.
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000),
                "expiry": 60,
                "prefix": "incubator",
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
