"""Superset configuration for the smart-meter platform (loaded through SUPERSET_CONFIG_PATH by superset/start.sh).

Everything deployment-specific comes from the environment that scripts/env.sh prepares: the secret key and admin
password (generated once into the git-ignored state folder for the local default), the state folder that holds
the metadata database, and the MongoDB serving store.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))

import pymongosql_fixes  # noqa: E402  (patches the MongoDB driver before Superset uses it)

pymongosql_fixes.apply()

_STATE = Path(os.environ.get("SMARTMETER_STATE_DIR") or _HERE.parent / ".state")

# Superset itself only refuses its built-in placeholder key; an empty or short key would also be accepted by
# Flask, so refuse those here with one clear line instead of signing sessions with a guessable key.
SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "")
if len(SECRET_KEY) < 32:
    sys.stderr.write(
        "superset: refusing to start: SUPERSET_SECRET_KEY is not set (or shorter than 32 characters). "
        "Set it (e.g. `openssl rand -base64 42`), or use `make run`, which generates a local default.\n"
    )
    raise SystemExit(78)

SQLALCHEMY_DATABASE_URI = os.environ.get(
    "SUPERSET_METADATA_DB_URI", f"sqlite:///{_STATE / 'superset' / 'superset.db'}?check_same_thread=false"
)
DATA_DIR = str(_STATE / "superset")

FEATURE_FLAGS = {
    # Virtual datasets push native-filter values into the MongoDB find (filter_values) to keep fetches small.
    "ENABLE_TEMPLATE_PROCESSING": True,
    "DASHBOARD_CROSS_FILTERS": True,
    "DRILL_TO_DETAIL": True,
    "DRILL_BY": True,
}

# The serving store changes only when a pipeline run loads it, and the dashboards DAG then refreshes this cache
# by replaying the dashboards' requests (plugins/serving/superset_cache.py): results may be kept for long. One
# cache folder per instance (the tests' and the benchmark's Superset have their own metadata ids).
_HOME = Path(os.environ.get("SUPERSET_HOME_DIR") or _STATE / "superset")
_CACHE_DIR = str(_HOME / "cache")
DATA_CACHE_CONFIG = {
    # SUPERSET_DATA_CACHE=off (the tests) always reads the store
    "CACHE_TYPE": "NullCache" if os.environ.get("SUPERSET_DATA_CACHE") == "off" else "FileSystemCache",
    "CACHE_DIR": _CACHE_DIR,
    "CACHE_DEFAULT_TIMEOUT": int(os.environ.get("SUPERSET_DATA_CACHE_TIMEOUT", timedelta(days=2).total_seconds())),
    "CACHE_THRESHOLD": 5000,
    "CACHE_KEY_PREFIX": "smartmeter_data_",
}
FILTER_STATE_CACHE_CONFIG = {
    "CACHE_TYPE": "FileSystemCache",
    "CACHE_DIR": _CACHE_DIR,
    "CACHE_DEFAULT_TIMEOUT": int(timedelta(days=7).total_seconds()),
    "CACHE_KEY_PREFIX": "smartmeter_filter_",
}
EXPLORE_FORM_DATA_CACHE_CONFIG = {
    # SUPERSET_DATA_CACHE=off (the tests) always reads the store
    "CACHE_TYPE": "NullCache" if os.environ.get("SUPERSET_DATA_CACHE") == "off" else "FileSystemCache",
    "CACHE_DIR": _CACHE_DIR,
    "CACHE_DEFAULT_TIMEOUT": int(timedelta(days=7).total_seconds()),
    "CACHE_KEY_PREFIX": "smartmeter_explore_",
}

# Superset's default event logger commits one row per UI event (each chart query is several) to the metadata
# database: with SQLite under a dashboard's concurrent queries that was ~20 % of the request time. Events go to
# the Python log instead (logger "superset.events", INFO, so silent at the default WARNING level);
# SUPERSET_EVENT_LOG=db brings back Superset's action log.
if os.environ.get("SUPERSET_EVENT_LOG", "log") != "db":
    import logging as _logging

    from superset.utils.log import AbstractEventLogger as _AbstractEventLogger

    class _LogEventLogger(_AbstractEventLogger):
        _log = _logging.getLogger("superset.events")
        _log.setLevel(os.environ.get("SUPERSET_LOG_LEVEL", "WARNING"))

        def log(self, user_id, action, dashboard_id, duration_ms, slice_id, referrer, *args, **kwargs):  # noqa: ANN001, ARG002
            self._log.info(
                "%s user=%s dashboard=%s slice=%s %s ms", action, user_id, dashboard_id, slice_id, duration_ms
            )

    EVENT_LOGGER = _LogEventLogger()

# ECharts animates every chart for about a second after its data arrives; on a small machine that repainting
# competes with the next charts' queries and rendering. Dashboards here are for reading figures, so charts are
# drawn once, without the animation (a theme token Superset passes to every ECharts chart).
from superset.config import THEME_DARK as _THEME_DARK  # noqa: E402  (Superset's own defaults, already loaded)
from superset.config import THEME_DEFAULT as _THEME_DEFAULT  # noqa: E402

_NO_ANIMATION = {"echartsOptionsOverrides": {"animation": False}}
THEME_DEFAULT = {**_THEME_DEFAULT, "token": {**_THEME_DEFAULT["token"], **_NO_ANIMATION}}
THEME_DARK = _THEME_DARK and {**_THEME_DARK, "token": {**_THEME_DARK["token"], **_NO_ANIMATION}}

# Half-hourly meter data needs a 30-minute grain, which Superset does not ship. PyMongoSQL runs the outer query
# (grouping, time grain) in SQLite, so the expression is SQLite: floor the epoch seconds to 1800.
TIME_GRAIN_ADDONS = {"PT30M": "30 minute"}
# Superset's own MongoDB week expression fails its SQL parser (which also takes DATETIME with at most two
# arguments), so P1W is replaced too: a Monday-start week (the UK convention) from nested two-argument calls.
TIME_GRAIN_ADDON_EXPRESSIONS = {
    "mongodb": {
        "PT30M": "DATETIME((CAST(STRFTIME('%s', {col}) AS INTEGER) / 1800) * 1800, 'unixepoch')",
        "P1W": "DATETIME(DATETIME(DATETIME({col}, 'start of day'), '-6 days'), 'weekday 1')",
    },
    "sqlite": {"PT30M": "DATETIME((CAST(STRFTIME('%s', {col}) AS INTEGER) / 1800) * 1800, 'unixepoch')"},
}

# Bound on rows fetched per chart: serving collections are pre-aggregated, so hitting this means a bad dataset.
ROW_LIMIT = 50000
SQL_MAX_ROW = 100000
SUPERSET_WEBSERVER_TIMEOUT = 120

# Local single-user default on 127.0.0.1; a deployment behind TLS turns these back on.
TALISMAN_ENABLED = os.environ.get("TALISMAN_ENABLED", "false").lower() == "true"
CONTENT_SECURITY_POLICY_WARNING = False
SESSION_COOKIE_SECURE = False
WTF_CSRF_ENABLED = True
SUPERSET_LOAD_EXAMPLES = False
