"""Test settings: fast hashing, local mail outbox, eager Celery. PostgreSQL and Redis are used
when DATABASE_URL / REDIS_URL are set (CI sets both); otherwise SQLite and the embedded store."""

from .base import *

DEBUG = False
SECRET_KEY = "test-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
UPSTREAM_ALLOW_PRIVATE = True
# The suite's Redis (CI's, a developer's) runs without AOF; the persistence tests start
# their own redis-server and turn this on.
COUNTER_STORE_REQUIRE_PERSISTENCE = False
METERING_SWEEP_INTERVAL_S = 0
FREEZE_STARTUP_HEAP = False  # servers start in the test process, once per test
ACCOUNT_RATE_LIMITS = {"login_failed": "5/5m/key"}
ALLOWED_HOSTS = ["*"]
# A fresh clone has no .run/: the SQLite test database and media live there.
RUN_DIR.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = RUN_DIR / "test-media"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING["root"]["level"] = "WARNING"
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True

# Tests that run the site under uvicorn share the database between threads. An in-memory
# SQLite database uses shared-cache table locks ("database table is locked"); a file does
# not, so SQLite test runs use one.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    import os

    _test_db = RUN_DIR / f"test-db-{os.getpid()}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(_test_db)}
