"""Analytics: how long an answer is kept in the cache, and export files."""

from .env import env_int

# Seconds an analytics answer is kept; writes invalidate it sooner (analytics.memo), this bounds a lost bump.
ANALYTICS_CACHE_SECONDS = env_int("ANALYTICS_CACHE_SECONDS", 60)
# Hours an export's file stays downloadable before the sweeper deletes it.
ANALYTICS_EXPORT_TTL_HOURS = env_int("ANALYTICS_EXPORT_TTL_HOURS", 24)
# Rows an export may hold at most (a bigger report is refused with the limit named).
ANALYTICS_EXPORT_MAX_ROWS = env_int("ANALYTICS_EXPORT_MAX_ROWS", 1_000_000)
