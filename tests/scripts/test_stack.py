"""The stack script's failure paths, on a throw-away state folder: a taken port is refused with a one-line
fix and nothing is left running; a service that died is reported by `status` with a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def stack(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTMETER_", "AIRFLOW", "SM_"))}
    environ.pop("MONGO_URI", None)
    environ.pop("SPARK_MASTER_URL", None)
    environ |= {"SMARTMETER_STATE_DIR": str(state), **env}
    return subprocess.run(
        ["bash", "scripts/stack.sh", *args], cwd=REPO, env=environ, capture_output=True, text=True, timeout=120
    )


def test_taken_port_is_refused_and_nothing_is_left_running(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = stack(tmp_path, "start", "spark", SMARTMETER_SPARK_MASTER_PORT=str(port))
    assert proc.returncode != 0
    assert f"port {port} for spark-master is taken" in proc.stderr
    assert "SMARTMETER_" in proc.stderr, "the message says how to move the port"
    assert not list((tmp_path / "run").glob("*.pid")), "no pid file (nothing started) after a refused start"


def test_status_reports_a_dead_service(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run_dir / "ferretdb.pid").write_text(str(dead.pid))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "ferretdb.log").write_text("listener failed: address already in use\n")
    proc = stack(tmp_path, "status")
    assert proc.returncode == 1
    assert "ferretdb" in proc.stdout and "DIED" in proc.stdout
    assert "address already in use" in proc.stdout
