"""The `make run` demo script as the Makefile runs it: scripts/env.sh sourced in the recipe's shell, then the
script in a child bash, which sees only exported variables (a non-exported one broke `make run` once)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_demo(state: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTMETER_", "AIRFLOW", "SM_"))}
    environ["SMARTMETER_STATE_DIR"] = str(state)
    return subprocess.run(
        ["bash", "-c", "source scripts/env.sh && bash scripts/demo.sh"],
        cwd=REPO,
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_finished_demo_is_not_redone(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "done").write_text("2026-01-01T00:00:00Z\n")
    proc = run_demo(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "demo: already ran (2026-01-01T00:00:00Z)" in proc.stdout
    assert (tmp_path / "truth").is_dir(), "the demo prepares its folders under the state folder it was given"


def test_demo_without_the_reference_data_stops_naming_the_missing_files(tmp_path):
    proc = run_demo(tmp_path / "state", SMARTMETER_REFERENCE_DIR=str(tmp_path / "nowhere"))
    assert proc.returncode == 4, proc.stderr
    assert f"demo: reference data missing: {tmp_path / 'nowhere' / 'household_information.csv'}" in proc.stderr
    assert not (tmp_path / "state" / "demo" / "history").exists(), "nothing generated before the check"
