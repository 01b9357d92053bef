"""Training jobs and inference."""

from .env import env_int, env_list

# How many jobs one user may have running (or sent to a worker) at once; more wait in `queued`.
AIMODELS_MAX_RUNNING_PER_USER = env_int("AIMODELS_MAX_RUNNING_PER_USER", 2)
# A running job's worker writes a heartbeat this often; a job whose heartbeat is older than STALE is taken
# for lost (its worker died with it) and failed with WORKER_LOST by the sweeper (Celery beat).
AIMODELS_HEARTBEAT_SECONDS = env_int("AIMODELS_HEARTBEAT_SECONDS", 5)
AIMODELS_STALE_SECONDS = env_int("AIMODELS_STALE_SECONDS", 60)
# A cancelled job that does not stop at its next step is stopped this many seconds later by force.
AIMODELS_CANCEL_GRACE_SECONDS = env_int("AIMODELS_CANCEL_GRACE_SECONDS", 3)
AIMODELS_DEFAULT_TIME_LIMIT = env_int("AIMODELS_DEFAULT_TIME_LIMIT", 3600)
AIMODELS_MAX_TIME_LIMIT = env_int("AIMODELS_MAX_TIME_LIMIT", 6 * 3600)
# Loaded models kept per process for inference (least recently used go first).
AIMODELS_MODEL_CACHE_SIZE = env_int("AIMODELS_MODEL_CACHE_SIZE", 16)
AIMODELS_PREDICT_MAX_ROWS = 1000
# Modules of algorithms outside aimodels/algorithms (dotted paths, comma-separated): each defines Algorithm
# subclasses, registered beside the built-in ones (docs/algorithms.md).
AIMODELS_PLUGINS = env_list("AIMODELS_PLUGINS", [])
