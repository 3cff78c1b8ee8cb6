"""Superset refuses to start without a proper secret key (outside the local default that env.sh generates)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv-superset" / "bin" / "python"


@pytest.fixture(autouse=True)
def _superset_installed():
    """`make test` installs Superset first; a missing environment is a failure, not a skip."""
    if not PY.exists():
        pytest.fail("Superset is not installed (.venv-superset); run `make install`", pytrace=False)


def _load_config(secret: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SUPERSET_SECRET_KEY", "PYTHONPATH")}
    if secret is not None:
        env["SUPERSET_SECRET_KEY"] = secret
    return subprocess.run(
        [str(PY), "-c", "import runpy; runpy.run_path('superset/superset_config.py')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_config_refuses_without_secret_key():
    run = _load_config(None)
    assert run.returncode == 78
    assert "refusing to start: SUPERSET_SECRET_KEY is not set" in run.stderr


def test_config_refuses_short_secret_key():
    assert _load_config("too-short").returncode == 78


def test_config_accepts_a_real_key():
    run = _load_config("k" * 48)
    assert run.returncode == 0, run.stderr


def test_start_script_refuses_without_secret_key(tmp_path):
    env = dict(
        os.environ, SUPERSET_SECRET_KEY="short", SUPERSET_INSTANCE="superset-nokey", SMARTMETER_SUPERSET_PORT="8097"
    )
    run = subprocess.run([str(ROOT / "superset" / "start.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1].startswith("superset: ERROR: SUPERSET_SECRET_KEY")
