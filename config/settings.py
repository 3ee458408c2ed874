"""Dosewise settings: one module, read from environment variables.

Dosewise always runs on PostgreSQL and Redis: DATABASE_URL and REDIS_URL name them. On a laptop
scripts/run.sh and scripts/test.sh start embedded ones (config/embedded.py) and set both; production sets them,
SECRET_KEY, ALLOWED_HOSTS and DEBUG=0. Without DATABASE_URL every database use fails with how to start.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DOSEWISE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=False)
# Without SECRET_KEY in the environment Dosewise runs in laptop mode: a fixed development key and no
# HTTPS hardening. Production sets SECRET_KEY (and HTTPS=1 behind TLS); see README "Configuration".
_INSECURE_DEV_KEY = "dosewise-insecure-development-key-change-me-in-production-0123456789"
SECRET_KEY = env_str("SECRET_KEY") or _INSECURE_DEV_KEY
LAPTOP_MODE = SECRET_KEY == _INSECURE_DEV_KEY
if LAPTOP_MODE and env_bool("HTTPS"):
    raise ImproperlyConfigured("SECRET_KEY must be set in production (HTTPS=1)")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_celery_beat",
    "auditlog",
    "axes",
    "scheduler",
    "visits",
    "notifications",
    "web",
    "fhir",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.PermissionsPolicyMiddleware",
    # JSON errors and the body-size limit under /api/, around everything that may answer an error.
    "config.middleware.ApiEdgeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    # Axes must be last: it inspects the response of failed logins.
    "axes.middleware.AxesMiddleware",
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
            ]
        },
    }
]

DATABASE_URL = env_str("DATABASE_URL", "")
DATABASES: dict[str, dict[str, Any]] = {
    "default": (
        dict(dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
                                   conn_health_checks=True))
        if DATABASE_URL
        # No SQLite fallback: any database use says how to start (settings still load for collectstatic, mypy).
        else {"ENGINE": "config.no_database"}
    )
}
if not DATABASES["default"]["ENGINE"].startswith(("django.db.backends.postgresql", "config.no_database")):
    raise ImproperlyConfigured(f"DATABASE_URL must name a PostgreSQL database, got {DATABASES['default']['ENGINE']}")
# Session settings sent at connect (libpq `options`). Default: no JIT compilation. Our queries are short and indexed,
# but at a chain's size their cost estimates pass jit_above_cost and PostgreSQL spent ~10 ms compiling each one
# (seen in EXPLAIN ANALYZE on 15M visits, issue #16). Set DB_OPTIONS="" behind PgBouncer, which refuses `options`.
DB_OPTIONS = env_str("DB_OPTIONS", "-c jit=off")
if DB_OPTIONS and DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = DB_OPTIONS
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Refuses nothing: its password_changed hook deletes the user's API tokens (config/tokens.py).
    {"NAME": "config.tokens.RevokeTokensOnPasswordChange"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# On a laptop whitenoise serves straight from the apps' static folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = LAPTOP_MODE or DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if LAPTOP_MODE or DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security: shared front-desk PCs, session clients, production hardening -------------
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60)  # idle timeout on shared PCs
SESSION_SAVE_EVERY_REQUEST = True  # the timeout is an idle timeout
SESSION_ENGINE = "config.sessions"  # an unchanged session written at most once a minute
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
# HTTPS=1 turns on the TLS hardening (redirect, HSTS, secure cookies) for production behind TLS.
SECURE_SSL_REDIRECT = env_bool("HTTPS", default=False)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # load-balancer and container health checks speak plain HTTP
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_SSL_REDIRECT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Bodies larger than this answer 413 under /api/ (config.middleware, config.parsers); pages get Django's 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
# No inline script or style anywhere: every script and stylesheet is a static file (README "Staff pages").
# Swagger UI's icons are data: images. Permissions-Policy: config.middleware.PermissionsPolicyMiddleware.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    }
}

# Reverse proxies in front of Dosewise that append to X-Forwarded-For (0: none, clients connect directly).
# Throttling and the login lockout count the address the outermost trusted proxy saw (config/lockout.py).
NUM_PROXIES = env_int("NUM_PROXIES", 0)
if NUM_PROXIES < 0:
    raise ImproperlyConfigured(f"NUM_PROXIES must be 0 or more, got {NUM_PROXIES}")
# API tokens live this long from their creation; a password change or deactivation ends them at once.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 12)
if API_TOKEN_TTL_HOURS < 1:
    raise ImproperlyConfigured(f"API_TOKEN_TTL_HOURS must be 1 or more, got {API_TOKEN_TTL_HOURS}")

AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A locked-out page login sees the staff pages' 429 page; under /api/ the JSON-errors middleware answers JSON.
AXES_LOCKOUT_TEMPLATE = "429.html"
AXES_ENABLED = env_bool("AXES_ENABLED", default=True)
AXES_CLIENT_IP_CALLABLE = "config.lockout.client_ip"
AXES_USERNAME_CALLABLE = "config.lockout.lockout_username"

# --- REST framework --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["scheduler.permissions.IsStaffMember"],
    "DEFAULT_PAGINATION_CLASS": "scheduler.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON bodies only (API.md: "JSON everywhere"): a form offered in the schema cannot say null, and its `+`
    # (an instant's offset) arrives as a space. The SMS webhooks read Twilio's forms as plain Django views.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.BoundedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "scheduler.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttling.UserRateThrottle",
        "config.throttling.AnonRateThrottle",
    ],
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("THROTTLE_USER", "2000/min"),
        "anon": env_str("THROTTLE_ANON", "600/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Dosewise API",
    "DESCRIPTION": "Scheduling, reminders and missed-visit escalation for opioid-treatment clinics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files: no CDN (and none in the CSP).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["config.schema.api_endpoints_only"],
    # Visits and escalations both have a `kind`; name the enums so the schema has no clash.
    "ENUM_NAME_OVERRIDES": {
        "VisitKindEnum": "visits.models.KIND_CHOICES",
        "EscalationKindEnum": "visits.models.Escalation.KIND_CHOICES",
        "MedicationEnum": "scheduler.models.MEDICATION_CHOICES",
        "DrugScreenResultEnum": "visits.models.DRUG_SCREEN_RESULT_CHOICES",
    },
}

# --- Cache (throttling, axes) ------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Celery ----------------------------------------------------------------------------
# The broker is the Redis of REDIS_URL (no filesystem fallback: the worker and beat refuse to start without it,
# config/celery.py). The embedded Redis listens on a unix socket: redis-py says unix:///path, kombu
# redis+socket:///path.
CELERY_BROKER_URL = (
    "redis+socket://" + REDIS_URL.removeprefix("unix://") if REDIS_URL.startswith("unix://") else REDIS_URL
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged after it ran: a killed worker's task is redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Time limits stay well below the Redis visibility timeout (3600 s), so a task is never
# redelivered while its first run is still going.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The console SMS transport prints texts to the terminal; Celery would otherwise re-emit stdout as
# WARNING log records, and message bodies must never reach logs above DEBUG.
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_TIMEZONE = "UTC"

# --- Dosewise --------------------------------------------------------------------------
SMS_BACKEND = env_str("SMS_BACKEND", "console")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER")
if SMS_BACKEND not in {"console", "memory", "twilio", "fake_redis"}:
    raise ImproperlyConfigured(f"SMS_BACKEND must be console, memory, twilio or fake_redis, got {SMS_BACKEND!r}")
GENERATION_HORIZON_DAYS = env_int("GENERATION_HORIZON_DAYS", 28)
# Texts per send task (notifications.sending.SEND_CHUNK): one claim transaction per chunk.
SMS_SEND_CHUNK = env_int("SMS_SEND_CHUNK", 50)

# --- Logging: patient data never above DEBUG -------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"client_errors_one_line": {"()": "config.logfilters.ClientErrorsWithoutTraceback"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["client_errors_one_line"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's default config gives the `django` logger its own console handler under DEBUG, so every record
    # was written twice (once more through root): one handler, root's.
    "loggers": {"django": {"handlers": [], "level": LOG_LEVEL, "propagate": True}},
}
