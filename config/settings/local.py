"""Local development and the embedded `make run` install: SQLite, no Redis, console email."""

from .base import *

DEBUG = env_bool("DEBUG", True)
# The demo APIs are served by this very process on 127.0.0.1.
UPSTREAM_ALLOW_PRIVATE = env_bool("UPSTREAM_ALLOW_PRIVATE", True)
# A developer's Redis rarely runs with AOF: usage may be lost there, and that is fine.
COUNTER_STORE_REQUIRE_PERSISTENCE = env_bool("COUNTER_STORE_REQUIRE_PERSISTENCE", False)
