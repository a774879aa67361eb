"""Superset configuration for OpenFinOps.

Loaded through ``SUPERSET_CONFIG_PATH=superset/superset_config.py`` (see ``scripts/superset.sh``).
Everything secret or site-specific comes from the environment; nothing secret lives in this file.

Required environment:
  SUPERSET_SECRET_KEY          signs sessions and encrypts stored database passwords (refuse to start without it)
  OPENFINOPS_SUPERSET_DB_URL   SQLAlchemy URL of Superset's metadata database (PostgreSQL)
Optional:
  GUEST_TOKEN_JWT_SECRET       secret for embedded-dashboard guest tokens (a random one per process otherwise)
  OPENFINOPS_SUPERSET_ROW_LIMIT  default chart row limit (default 50000)
  OPENFINOPS_SUPERSET_DATA_CACHE_SECONDS  how long a chart result is cached (default 300, the refresh interval; 0 = off)
"""

from __future__ import annotations

import os
import secrets

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "")
if len(SECRET_KEY) < 16:
    raise RuntimeError(
        "SUPERSET_SECRET_KEY is missing or shorter than 16 characters: run `scripts/superset.sh init` and source "
        "$OPENFINOPS_CREDENTIALS_DIR/superset.env, or export a strong random key."
    )

SQLALCHEMY_DATABASE_URI = os.environ.get("OPENFINOPS_SUPERSET_DB_URL", "")
if not SQLALCHEMY_DATABASE_URI:
    raise RuntimeError(
        "OPENFINOPS_SUPERSET_DB_URL is not set: Superset's metadata must live on PostgreSQL "
        '(eval "$(bash scripts/pg.sh env)" exports it).'
    )

# Guest tokens (embedded dashboards). Without a configured secret use a throw-away one so that the
# well-known default can never be used to forge tokens.
GUEST_TOKEN_JWT_SECRET = os.environ.get("GUEST_TOKEN_JWT_SECRET") or secrets.token_urlsafe(32)
GUEST_TOKEN_JWT_ALGO = "HS256"
GUEST_TOKEN_JWT_EXP_SECONDS = 300

FEATURE_FLAGS = {
    # Dashboards carry roles (superset/access.yaml, set by deploy.py): a role only sees the dashboards it is attached
    # to. A dashboard without roles would fall back to dataset permissions, so deploy gives every dashboard roles.
    "DASHBOARD_RBAC": True,
    "DASHBOARD_NATIVE_FILTERS": True,
    "ENABLE_TEMPLATE_PROCESSING": False,
}

APP_NAME = "OpenFinOps"

# --- API / CSRF ----------------------------------------------------------------------------------------------
# CSRF stays on for browser forms. API clients (scripts, tests) log in with /api/v1/security/login, fetch a
# token from /api/v1/security/csrf_token/ and send it as X-CSRFToken together with the session cookie.
WTF_CSRF_ENABLED = True
WTF_CSRF_EXEMPT_LIST = [
    "superset.charts.data.api.data",
    "superset.dashboards.api.cache_dashboard_screenshot",
    "superset.views.core.explore_json",
    "superset.views.core.log",
    "superset.views.datasource.views.samples",
]
WTF_CSRF_TIME_LIMIT = 60 * 60 * 24 * 7

# --- Row limits ----------------------------------------------------------------------------------------------
ROW_LIMIT = int(os.environ.get("OPENFINOPS_SUPERSET_ROW_LIMIT", "50000"))
SAMPLES_ROW_LIMIT = 1000
FILTER_SELECT_ROW_LIMIT = 10000
SQL_MAX_ROW = 100000
DISPLAY_MAX_ROW = 10000
SQLLAB_TIMEOUT = 60
SUPERSET_WEBSERVER_TIMEOUT = 120

# --- Telemetry and outbound calls: off -----------------------------------------------------------------------
# The UI renders a Scarf tracking pixel; a CSP without third-party image/connect hosts blocks it (and any other
# phone-home). Web fonts from CDNs are not allowed either: the UI falls back to local fonts.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
CONTENT_SECURITY_POLICY_WARNING = False
MAPBOX_API_KEY = ""
SLACK_ENABLE_AVATARS = False

# --- Safety ----------------------------------------------------------------------------------------------------
PREVENT_UNSAFE_DB_CONNECTIONS = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = os.environ.get("OPENFINOPS_SUPERSET_HTTPS", "0") == "1"
# Caches without Redis (the embedded runtime). Metadata: in-process. Chart data: files under SUPERSET_HOME, shared by
# the gunicorn workers, kept for OPENFINOPS_SUPERSET_DATA_CACHE_SECONDS (default 300 = the dashboards' refresh
# interval, so a result is never older than the refresh users already see; 0 = no data cache). The cache key holds
# the query, the user's row-level-security filters and the dataset's change time, and access is checked before the
# cache is read, so a cached result reaches exactly who the query would. A forced refresh bypasses it.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_SECONDS = int(os.environ.get("OPENFINOPS_SUPERSET_DATA_CACHE_SECONDS", "300"))
DATA_CACHE_CONFIG = (
    {"CACHE_TYPE": "FileSystemCache", "CACHE_DEFAULT_TIMEOUT": DATA_CACHE_SECONDS, "CACHE_THRESHOLD": 20000,
     "CACHE_DIR": os.path.join(os.environ.get("SUPERSET_HOME") or os.path.expanduser("~/.superset"), "data-cache")}
    if DATA_CACHE_SECONDS > 0 else {"CACHE_TYPE": "NullCache"}
)

# --- Event log ---------------------------------------------------------------------------------------------------
# Superset's DBEventLogger writes one `logs` row and commits for every timed step of a chart-data request
# (execute_sql, load_into_dataframe, post_processing, json_dumps, _get_data_response, then the request itself):
# six commits per chart, and each commit expires the request's ORM objects, which are then read again (user, roles,
# dataset, database). Measured on the demo: 84 metadata statements per chart-data request. The step timings are
# not written (they are in the access log's durations); every request, page view and action still is.
from superset.utils.log import DBEventLogger  # noqa: E402


class RequestEventLogger(DBEventLogger):
    """DBEventLogger without the per-step timings of chart-data requests."""

    STEP_TIMINGS = frozenset({"execute_sql", "load_into_dataframe", "QueryObject.post_processing",
                              "ChartDataRestApi.json_dumps", "_get_data_response"})

    def log(self, user_id, action, *args, **kwargs):
        if action in self.STEP_TIMINGS:
            return None
        return super().log(user_id, action, *args, **kwargs)


EVENT_LOGGER = RequestEventLogger()
