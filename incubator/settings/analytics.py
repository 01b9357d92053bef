"""Analytics: how long an answer is kept in the cache, and export files."""

from .env import env_int, env_str

# Seconds an analytics answer is kept; writes invalidate it sooner (analytics.memo), this bounds a lost bump.
ANALYTICS_CACHE_SECONDS = env_int("ANALYTICS_CACHE_SECONDS", 60)
# Hours an export's file stays downloadable before the sweeper deletes it.
ANALYTICS_EXPORT_TTL_HOURS = env_int("ANALYTICS_EXPORT_TTL_HOURS", 24)
# Rows an export may hold at most (a bigger report is refused with the limit named).
ANALYTICS_EXPORT_MAX_ROWS = env_int("ANALYTICS_EXPORT_MAX_ROWS", 1_000_000)
# Seconds after which the sweeper sends again an export still queued, or running without a sign of life.
ANALYTICS_EXPORT_STALE_SECONDS = env_int("ANALYTICS_EXPORT_STALE_SECONDS", 600)
# The time zone trends and the dashboard use when a request names none: where most of the incubator's users are.
ANALYTICS_TIME_ZONE = env_str("ANALYTICS_TIME_ZONE", "Asia/Shanghai")
# Exports one user may have queued or running at once: one member cannot fill the workers' queue for everyone.
ANALYTICS_EXPORTS_PER_USER = env_int("ANALYTICS_EXPORTS_PER_USER", 3)
