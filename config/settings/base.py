"""Settings shared by every environment. Everything an operator may change comes from the
environment; the README's configuration table lists each variable."""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Local state of the embedded default (broker folders, media, beat's schedule). Created on
# first use (config/celery.py, the test settings); a deploy may point it elsewhere.
RUN_DIR = Path(os.environ.get("RUN_DIR", str(BASE_DIR / ".run")))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# --- Core -------------------------------------------------------------------------------
SECRET_KEY = env("SECRET_KEY", "dev-insecure-secret-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Where emails and jobs (no request at hand) send people; pages use the address they were
# requested on (apps.core.public_urls). `make run` sets it from HOST and PORT.
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env("SITE_NAME", "Tollgate")  # in page titles, email subjects and greetings
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "django.contrib.postgres",
    # third party
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "allauth",
    "allauth.account",
    "djstripe",
    # ours, in import order (each may use the ones above it)
    "apps.core",
    "apps.accounts",
    "apps.catalog",
    "apps.subscriptions",
    "apps.keys",
    "apps.metering",
    "apps.gateway",
    "apps.billing",
    "apps.payouts",
    "apps.webhooks",
    "apps.analytics",
    # later apps are added here as they land
]

MIDDLEWARE = [
    "apps.core.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.middleware.ActiveOrganizationMiddleware",
    "apps.core.middleware.ServiceErrorMiddleware",
    "apps.core.middleware.ContentSecurityPolicyMiddleware",
]
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self' https://checkout.stripe.com "
    "https://billing.stripe.com https://connect.stripe.com; base-uri 'self'; object-src 'none'"
)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
                "apps.accounts.context_processors.organizations",
            ],
            # `{{ amount|money:currency }}` in every template: the one way money is shown
            "builtins": ["apps.core.templatetags.money"],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
# SQLite by default (the embedded install); DATABASE_URL switches to PostgreSQL.
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions and WAL let the web process and the worker share the file
    # without "database is locked" under light concurrent writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, counter store ----------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tg:cache",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The counter store: rate windows, quotas, started calls and unflushed usage. A Redis of its
# own may hold it (COUNTER_REDIS_URL, default REDIS_URL), and that one may be a Redis Cluster
# (COUNTER_REDIS_CLUSTER=1; the cache and Celery's broker cannot use a cluster).
COUNTER_REDIS_URL = env("COUNTER_REDIS_URL", "")
COUNTER_REDIS_CLUSTER = env_bool("COUNTER_REDIS_CLUSTER", False)
# "redis" when a Redis is set, else "database" (the embedded store: rows + atomic updates).
COUNTER_STORE = env("COUNTER_STORE", "redis" if (COUNTER_REDIS_URL or REDIS_URL) else "database")
# The gateway's Redis commands time out after this; the write then goes to the database.
COUNTER_STORE_TIMEOUT_S = float(env("COUNTER_STORE_TIMEOUT_S", "2"))
# Redis must keep writes across a restart (AOF) to hold usage: without it usage goes to the
# database and, unless GATEWAY_FAIL_OPEN, the gateway refuses calls (docs/operators.md).
COUNTER_STORE_REQUIRE_PERSISTENCE = env_bool("COUNTER_STORE_REQUIRE_PERSISTENCE", True)
# Usage stream shards (one key each, so a Redis Cluster spreads them); only ever raise it.
USAGE_STREAM_SHARDS = int(env("USAGE_STREAM_SHARDS", "1"))
# A started call with no sign of life for this long is billed at its plan's minimum units;
# calls in flight refresh their started record every METERING_START_REFRESH_S.
METERING_ORPHAN_AFTER_S = float(env("METERING_ORPHAN_AFTER_S", "300"))
METERING_START_REFRESH_S = float(env("METERING_START_REFRESH_S", "60"))
# How often a flush worker looks for orphaned started calls (a SCAN of the counter store).
METERING_SWEEP_INTERVAL_S = float(env("METERING_SWEEP_INTERVAL_S", "60"))
# Request ids already counted are kept this long past every source's watermark.
METERING_DEDUPE_RETENTION_S = float(env("METERING_DEDUPE_RETENTION_S", "3600"))
GATEWAY_FAIL_OPEN = env_bool("GATEWAY_FAIL_OPEN", False)
UPSTREAM_ALLOW_PRIVATE = env_bool("UPSTREAM_ALLOW_PRIVATE", False)
GATEWAY_MAX_BODY_BYTES = int(env("GATEWAY_MAX_BODY_BYTES", str(10 * 1024 * 1024)))
GATEWAY_CACHE_TTL_S = float(env("GATEWAY_CACHE_TTL_S", "30"))
GATEWAY_NEGATIVE_CACHE_TTL_S = float(env("GATEWAY_NEGATIVE_CACHE_TTL_S", "5"))
# The gateway's base URL when it has an address of its own (https://gw.example.com); empty:
# the site's own origin + /gw. Its origin is added to the pages' CSP connect-src (Try it).
GATEWAY_PUBLIC_URL = env("GATEWAY_PUBLIC_URL", "").rstrip("/")
# gc.freeze() the start-up heap in each server process: short full collections (p99)
FREEZE_STARTUP_HEAP = env_bool("FREEZE_STARTUP_HEAP", True)

# --- Celery -----------------------------------------------------------------------------
# With Redis: Redis is the broker. Without: kombu's filesystem transport, which needs no
# server; `make run` starts one worker with an embedded beat that reads these folders.
if REDIS_URL:
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
    _broker_dir = RUN_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu writes its exchange tables here (default: ./control in the working directory)
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
# beat's record of when each job last ran; losing it only means jobs (all idempotent) may run
# once more. config/celery.py creates its folder.
CELERY_BEAT_SCHEDULE_FILENAME = env(
    "CELERY_BEAT_SCHEDULE_FILENAME", str(RUN_DIR / "celerybeat-schedule")
)
CELERY_BEAT_SCHEDULE = {
    "flush-usage": {"task": "apps.metering.tasks.flush_usage", "schedule": 10.0},
    "run-payouts": {
        "task": "apps.payouts.tasks.run_payouts",
        "schedule": crontab(minute=0, hour=6, day_of_month=1),
    },
    "purge-idempotency-records": {
        "task": "apps.core.tasks.purge_idempotency_records",
        "schedule": crontab(minute=40, hour=3),
    },
    "retry-due-transfers": {
        "task": "apps.payouts.tasks.retry_due_transfers",
        "schedule": crontab(minute="*/10"),
    },
    "reconcile-ledger": {
        "task": "apps.payouts.tasks.reconcile_ledger",
        "schedule": crontab(minute=17),
    },
    "retry-due-webhook-deliveries": {
        "task": "apps.webhooks.tasks.retry_due_deliveries",
        "schedule": 60.0,
    },
    "purge-old-webhook-events": {
        "task": "apps.webhooks.tasks.purge_old_webhook_events",
        "schedule": crontab(minute=15, hour=4),
    },
    "close-due-periods": {
        "task": "apps.billing.tasks.close_due_periods",
        "schedule": crontab(minute="*/5"),
    },
    "retry-collection": {
        "task": "apps.billing.tasks.retry_collection",
        "schedule": crontab(minute="7,37"),
    },
    "run-dunning": {"task": "apps.billing.tasks.run_dunning", "schedule": crontab(minute=23)},
    "purge-expired-invitations": {
        "task": "apps.accounts.tasks.purge_expired_invitations",
        "schedule": crontab(minute=30, hour=3),
    },
}

# --- Auth and accounts ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "home"

ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
INVITATION_TTL = timedelta(days=int(env("INVITATION_TTL_DAYS", "7")))
ACCESS_TOKEN_LAST_USED_EVERY = timedelta(minutes=1)

# --- Email ------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Tollgate <noreply@tollgate.local>")
# seconds; an invitation is sent inside its transaction, so a mail server that hangs must
# not hold it for long (the invitation is then refused, not half made)
EMAIL_TIMEOUT = int(env("EMAIL_TIMEOUT", "10"))
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalization ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = False

# --- Static and media -------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(RUN_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

# --- Platform API -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.AccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "EXCEPTION_HANDLER": "apps.core.problems.drf_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.idempotency.IdempotentAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tollgate platform API",
    "DESCRIPTION": "Manage listings, plans, subscriptions, keys, invoices and payouts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "ApiStatusEnum": "apps.catalog.models.ApiStatus",
        "ApiVisibilityEnum": "apps.catalog.models.Visibility",
        "PlanVisibilityEnum": "apps.subscriptions.models.PlanVisibility",
        "SubscriptionStatusEnum": "apps.subscriptions.models.SubscriptionStatus",
        "InvoiceStatusEnum": "apps.billing.models.InvoiceStatus",
    },
}

# --- Money ------------------------------------------------------------------------------
CURRENCY = env("CURRENCY", "USD").upper()
PLATFORM_FEE_PERCENT = Decimal(env("PLATFORM_FEE_PERCENT", "20"))
PAYMENT_GRACE_DAYS = int(env("PAYMENT_GRACE_DAYS", "3"))
# Dunning: after a failed payment, Tollgate charges the invoice again this many days after
# the first failure (Stripe's Smart Retries default to about 4-8 tries over 2 weeks). After
# the last retry fails, the invoice's subscriptions are `unpaid` (gateway 402, no fees), and
# UNPAID_CANCEL_DAYS later they are cancelled with a final usage invoice.
DUNNING_RETRY_DAYS = tuple(
    int(day) for day in env("DUNNING_RETRY_DAYS", "1,3,7,14").split(",") if day.strip()
)
UNPAID_CANCEL_DAYS = int(env("UNPAID_CANCEL_DAYS", "30"))
# A provider's price change reaches existing subscribers no sooner than this many days after
# it is announced (they keep their prices until then).
PRICE_CHANGE_NOTICE_DAYS = int(env("PRICE_CHANGE_NOTICE_DAYS", "30"))
PAYOUT_MINIMUM = Decimal(env("PAYOUT_MINIMUM", "10.00"))
# An invoice total below this is not charged but carried to the organization's next invoice
# (empty: Stripe's minimum charge for CURRENCY, apps/billing/currency.py; 0: always charge).
MINIMUM_CHARGE = Decimal(env("MINIMUM_CHARGE")) if env("MINIMUM_CHARGE", "") else None
# Earnings become payable this many days after the consumer's payment cleared (refunds and
# disputes come in that window); a lost dispute's Stripe fee is the platform's cost, or the
# provider's with DISPUTE_FEE_PAYER=provider.
PAYOUT_HOLD_DAYS = int(env("PAYOUT_HOLD_DAYS", "14"))
DISPUTE_FEE_PAYER = env("DISPUTE_FEE_PAYER", "platform")
MANUAL_PAYMENT_INSTRUCTIONS = env(
    "MANUAL_PAYMENT_INSTRUCTIONS",
    "Pay by bank transfer to Tollgate Marketplace, IBAN GB33 BUKB 2020 1555 5555 55, "
    "quoting the invoice number. Invoices are due within 14 days.",
)
INVOICE_NUMBER_PREFIX = env("INVOICE_NUMBER_PREFIX", "TG")

# --- Stripe (dj-stripe) -----------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY if not STRIPE_LIVE_MODE else ""
STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY if STRIPE_LIVE_MODE else ""
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"

# --- Observability ----------------------------------------------------------------------
METRICS_TOKEN = env("METRICS_TOKEN")
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOG_JSON = env_bool("LOG_JSON", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "apps.core.logging.RequestIdFilter"},
        "redact": {"()": "apps.core.logging.RedactingFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_JSON else "plain",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},
    },
}
FORMS_URLFIELD_ASSUME_HTTPS = True

# SQLite cannot make NULL endpoints collide in the aggregates' unique constraint; the flush
# is serialised by its ledger lock and looks rows up itself, so nothing relies on it there.
SILENCED_SYSTEM_CHECKS = ["models.W047"]
