"""Superset settings for the compose deployment (SUPERSET_CONFIG_PATH points here).

The project's own superset/superset_config.py (shared with the local stack) is loaded first when present;
then the deployment-specific values are taken from the environment, which compose fills from .env.
"""

import os
from pathlib import Path

_project_config = (
    Path(os.environ.get("SMARTMETER_SUPERSET_DIR", "/app/superset_home/smartmeter")) / "superset_config.py"
)
if _project_config.is_file():
    exec(compile(_project_config.read_text(), str(_project_config), "exec"))  # noqa: S102 - our own file

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_SQLALCHEMY_DATABASE_URI"]
