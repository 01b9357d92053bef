"""Settings for every environment: base values, then one small module per topic.

DJANGO_SETTINGS_MODULE=incubator.settings is development and tests (embedded defaults);
incubator.settings.production adds the production checks on top.
"""

from .aimodels import *  # noqa: F403
from .analytics import *  # noqa: F403
from .api import *  # noqa: F403
from .base import *  # noqa: F403
from .cache import *  # noqa: F403
from .celery import *  # noqa: F403
from .channels import *  # noqa: F403
from .database import *  # noqa: F403
from .logging import *  # noqa: F403
from .metrics import *  # noqa: F403
from .schema_registry import *  # noqa: F403
from .storage import *  # noqa: F403
