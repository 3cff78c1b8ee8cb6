"""Fixtures of the dashboard tests.

The `superset`-marked tests run their own Superset instance ("superset-test", port SMARTMETER_SUPERSET_TEST_PORT,
default 8099) over their own MongoDB database (smartmeter_test_superset), so they neither need nor disturb the
Superset of `make run`. Its metadata database is fresh for every session: a copy of an empty, migrated template
(built once per Superset version, the slow part) into which start.sh imports the bundle.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pymongo
import pytest

from spark_jobs.common.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
SUPERSET_BIN = ROOT / ".venv-superset" / "bin"
BROWSER_PY = ROOT / ".venv-browser" / "bin" / "python"
TEST_DB = os.environ.get("SMARTMETER_SUPERSET_TEST_DB", "smartmeter_test_superset")
TEST_PORT = int(os.environ.get("SMARTMETER_SUPERSET_TEST_PORT", "8099"))
INSTANCE = "superset-test"


def _state() -> Path:
    return get_settings().state_dir


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SUPERSET_INSTANCE=INSTANCE,
        SMARTMETER_SUPERSET_PORT=str(TEST_PORT),
        SMARTMETER_MONGO_DB=TEST_DB,
        SUPERSET_WORKERS="2",
        SUPERSET_DATA_CACHE="off",
    )
    env.update(extra)
    return env


def secrets_env() -> dict[str, str]:
    """SUPERSET_* secrets as scripts/env.sh exports them (generated once into the state folder)."""
    out = subprocess.run(
        ["bash", "-c", ". scripts/env.sh >/dev/null && echo $SUPERSET_ADMIN_PASSWORD && echo $SUPERSET_SECRET_KEY"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {"SUPERSET_ADMIN_PASSWORD": out[0], "SUPERSET_SECRET_KEY": out[1]}


@pytest.fixture(scope="session")
def mongo_db():
    client = pymongo.MongoClient(get_settings().mongo_uri, serverSelectionTimeoutMS=3000)
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as exc:
        pytest.fail(
            f"MongoDB/FerretDB not reachable at {get_settings().mongo_uri}: {exc}; run `make start`", pytrace=False
        )
    yield client[TEST_DB]
    client.close()


@pytest.fixture(scope="session")
def seeded_db(mongo_db):
    """The test database with generated base collections and their dashboard views."""
    from plugins.serving.dashboard_views import build_dashboard_views
    from tests.superset.seed import base_frames, insert_base

    frames = base_frames(n_households=120, n_days=60, reference_csv=get_settings().household_information_csv)
    insert_base(mongo_db, frames)
    counts = build_dashboard_views(mongo_db)
    return {"db": mongo_db, "frames": frames, "counts": counts}


def _template(env: dict[str, str]) -> Path:
    """An empty, migrated metadata database with the admin user, built once per Superset version."""
    version = subprocess.run(
        [str(SUPERSET_BIN / "python"), "-c", "import importlib.metadata as m; print(m.version('apache-superset'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    home = _state() / "superset-test-template"
    db = home / "superset.db"
    if (home / "bootstrap.ok").is_file() and (home / "bootstrap.ok").read_text().strip() == version and db.is_file():
        return db
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    cmd_env = env | {
        "SUPERSET_CONFIG_PATH": str(ROOT / "superset" / "superset_config.py"),
        "SUPERSET_METADATA_DB_URI": f"sqlite:///{db}?check_same_thread=false",
        "SUPERSET_HOME_DIR": str(home),
        "PYTHONPATH": "",
    }
    for args in (
        ["superset", "db", "upgrade"],
        ["superset", "init"],
        ["python", str(ROOT / "superset" / "admin_user.py")],
    ):
        subprocess.run([str(SUPERSET_BIN / args[0]), *args[1:]], env=cmd_env, check=True, capture_output=True)
    (home / "bootstrap.ok").write_text(version)
    (home / "admin.sha").write_text(hashlib.sha256(env["SUPERSET_ADMIN_PASSWORD"].encode()).hexdigest() + "\n")
    return db


@pytest.fixture(scope="session")
def superset_server(seeded_db):
    """A Superset over the test database, its metadata database fresh from the template plus the bundle."""
    if not (SUPERSET_BIN / "superset").exists():
        pytest.fail("Superset is not installed (.venv-superset); run `make install`", pytrace=False)
    env = _env(**secrets_env())
    template = _template(env)
    home = _state() / INSTANCE
    subprocess.run([str(ROOT / "superset" / "stop.sh")], env=env, check=False, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(template, home / "superset.db")
    # the template already has the migrations and the admin user with this password
    for stamp in ("bootstrap.ok", "admin.sha"):
        src = template.parent / stamp
        if src.is_file():
            shutil.copy(src, home / stamp)
    start = subprocess.run([str(ROOT / "superset" / "start.sh")], env=env, capture_output=True, text=True)
    if start.returncode != 0:
        pytest.fail(f"superset/start.sh failed:\n{start.stdout}\n{start.stderr}")
    yield {"url": f"http://127.0.0.1:{TEST_PORT}", "env": env, "start_output": start.stdout, "home": home}
    subprocess.run([str(ROOT / "superset" / "stop.sh")], env=env, check=False, capture_output=True)


@pytest.fixture(scope="session")
def api(superset_server):
    from tests.superset.client import Superset

    return Superset(superset_server["url"], password=superset_server["env"]["SUPERSET_ADMIN_PASSWORD"])


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    path = _state() / "artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
