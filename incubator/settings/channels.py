"""Channel layer and the live stream: Redis when REDIS_URL is set (shared by every ASGI process and every
Celery worker), else in-memory, where each web process tails the outbox table itself (EVENTS_TAIL)."""

from .cache import REDIS_URL
from .env import env_int, env_str

# A channel holds this many undelivered messages; past it the layer drops new ones without telling anyone. The
# stream notices the hole (each message names the previous event of its topic) and fills it from the table. The
# same bound applies per WebSocket in the process's hub (events waiting for the socket's consumer, frames
# waiting for the socket): past it the consumer catches up from the table, or a socket that does not read is
# closed with 4008 (docs/events.md).
CHANNEL_LAYER_CAPACITY = env_int("CHANNEL_LAYER_CAPACITY", 1000)

# Either way each process joins a topic's group once, with its hub's channel, and fans events out to its own
# sockets (incubator/events/hub.py). "pubsub": one Redis subscription per process and topic (a group_send is one
# PUBLISH); "lists": channels_redis' default, one Redis list per member channel, with a capacity each.
CHANNEL_LAYER_KIND = env_str("CHANNEL_LAYER_KIND") or "pubsub"

if REDIS_URL and CHANNEL_LAYER_KIND == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "incubator"},
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "capacity": CHANNEL_LAYER_CAPACITY,
                # Seconds a message waits in a channel nobody reads (a consumer that went away uncleanly).
                "expiry": 60,
                # Group memberships last a day in Redis; the stream renews its own every hour.
                "group_expiry": 86400,
                "prefix": "incubator",
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_LAYER_CAPACITY, "expiry": 60},
        }
    }

# The outbox and its stream (docs/events.md).
EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", 30)
# A WebSocket must authenticate within this many seconds of connecting, else it is closed with 4001.
EVENTS_STREAM_AUTH_TIMEOUT = env_int("EVENTS_STREAM_AUTH_TIMEOUT", 10)
# An idle stream gets a heartbeat this often, checks its topics against the table and re-checks access.
EVENTS_STREAM_HEARTBEAT = env_int("EVENTS_STREAM_HEARTBEAT", 20)
# A client that has not taken a message within this many seconds is closed with 4008 (it reconnects with `since`).
EVENTS_STREAM_SEND_TIMEOUT = env_int("EVENTS_STREAM_SEND_TIMEOUT", 10)
# A subscriber that had to refill this many holes in one minute is too slow for live delivery: 4008.
EVENTS_STREAM_MAX_REFILLS = env_int("EVENTS_STREAM_MAX_REFILLS", 120)
EVENTS_STREAM_MAX_TOPICS = env_int("EVENTS_STREAM_MAX_TOPICS", 100)
# A replay larger than this is cut short with a `replay.truncated` message: the client reloads its state.
EVENTS_REPLAY_MAX = env_int("EVENTS_REPLAY_MAX", 10000)
# Web processes read new events from the table every EVENTS_TAIL_INTERVAL_MS when the channel layer is not
# shared between processes (in-memory): then events written by Celery workers still reach the sockets.
EVENTS_TAIL = env_int("EVENTS_TAIL", 0 if REDIS_URL else 1) == 1
EVENTS_TAIL_INTERVAL_MS = env_int("EVENTS_TAIL_INTERVAL_MS", 250)
