"""Settings for benchmark servers: the real ones, plus the reference views' URLs."""

from incubator.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
INSTALLED_APPS = [*INSTALLED_APPS]  # noqa: F405
