"""Tally settings. Every deploy-specific value comes from the environment (see .env.example)."""

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
_INSECURE_KEY = "dev-insecure-key-set-SECRET_KEY-in-production"
SECRET_KEY = env("SECRET_KEY", default=_INSECURE_KEY)
if SECRET_KEY == _INSECURE_KEY and not DEBUG and "pytest" not in sys.modules:
    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for local use).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where Tally is reachable from outside; used in links Tally hands out (checkout pages, receipts, docs).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Outbound webhooks go to public HTTPS addresses only; on, private/loopback/link-local destinations and plain
# http are accepted too (local development and tests only; docs/webhooks.md).
WEBHOOKS_ALLOW_PRIVATE_URLS = env.bool("WEBHOOKS_ALLOW_PRIVATE_URLS", default=False)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "apps.common",
    "apps.accounts",
    "apps.catalog",
    "apps.customers",
    "apps.orders",
    "apps.signals",
    "apps.meters",
    "apps.credits",
    "apps.rating",
    "apps.billing",
    "apps.webhooks",
    "apps.checkout",
    "apps.costs",
    "apps.value",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.accounts.middleware.CurrentOrganizationMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "apps.accounts.context_processors.organization",
            ],
        },
    },
]

# SQLite is the embedded default (make run needs nothing but Python); DATABASE_URL switches to PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'tally.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web process and the worker share one SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Largest API request body accepted (bytes); larger bodies get 413 in the error envelope.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# Where the Stripe SDK sends API calls: unset = Stripe itself (https://api.stripe.com); a fake Stripe such as
# localstripe for development and tests (`http://127.0.0.1:8420`). Keys are per organization (billing settings).
STRIPE_API_BASE = env("STRIPE_API_BASE", default="").rstrip("/") or None
# Where the hosted checkout page loads Stripe.js from (localstripe serves a stand-in at `<base>/js.stripe.com/v3/`).
STRIPE_JS_URL = env("STRIPE_JS_URL", default="https://js.stripe.com/v3/")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.authentication.HasOrganization"],
    "DEFAULT_PARSER_CLASSES": ["apps.common.api.JsonParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "apps.common.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tally API",
    "DESCRIPTION": (
        "Wire-compatible with Paid's v2 API: the official paid-python SDK works against this base URL. "
        "Operations tagged `tally-extension` go beyond Paid's API."
    ),
    "VERSION": "2",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status` with different choices; name each enum after what it describes.
    "ENUM_NAME_OVERRIDES": {
        "CustomerStatusEnum": ["active", "churned"],
        "ArchivableStatusEnum": ["active", "archived"],
        "CreditCurrencyStatusFilterEnum": ["active", "archived", "all"],
        "CustomerUserStatusEnum": ["active", "deactivated"],
        "OrderStatusEnum": ["draft", "active", "paused", "ended"],
        "SeatAssignmentStatusEnum": ["assigned", "unassigned"],
        "OrderBillingFrequencyEnum": ["monthly", "quarterly", "semiAnnually", "annual", "custom"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.common.openapi.postprocess_schema",
    ],
}

# django-q2: the ORM broker is the embedded default; REDIS_URL switches the broker to Redis.
# Rating (signals → usage records and credit spends) has its own queue and worker processes, so scheduled
# sweeps and slow jobs on the main queue can never delay a balance (docs/rating.md). Start them with
# `Q_CLUSTER_NAME=rating python manage.py qcluster` (Procfile `rating`; `manage.py serve` starts both).
# RATING_CLUSTER="" puts rating back on the main queue.
RATING_CLUSTER = env("RATING_CLUSTER", default="rating") or None
RATING_WORKERS = env.int("RATING_WORKERS", default=2)  # also the number of runs queued per organization
Q_CLUSTER = {
    "name": "tally",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 300,
    "retry": 360,
    "catch_up": False,
    "poll": 0.5,
}
if RATING_CLUSTER:
    Q_CLUSTER["ALT_CLUSTERS"] = {RATING_CLUSTER: {"workers": RATING_WORKERS}}
if env.bool("Q_SYNC", default="pytest" in sys.modules):
    # Tests run tasks in-process when they are enqueued (after commit), instead of needing a worker.
    Q_CLUSTER["sync"] = True
if env("REDIS_URL", default=""):
    Q_CLUSTER["redis"] = env("REDIS_URL")
else:
    Q_CLUSTER["orm"] = "default"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # weasyprint and the font subsetter log every step of a PDF render at INFO.
        "fontTools": {"level": "WARNING"},
        "weasyprint.progress": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},  # the SDK logs every request at INFO
    },
}
