"""Several stage jobs in one Spark application, one after another: the daily DAG's analyses beside the forecast.

    python -m spark_jobs.analyses [--only JOB,JOB] JOB [ARGS...] [+ JOB [ARGS...]]...
    e.g. ... anomalies --from-date D --to-date D --detectors robust + tariffs --from-date D --to-date D

Each JOB is a module of ``spark_jobs`` with ``main(argv)`` (anomalies, tariffs, neighbours) and gets its own
arguments, exactly as if it were submitted alone. Why one application: a day's analyses handle a few hundred
thousand rows, so their time is the JVMs' start and warm-up (class loading, JIT, generated-code compilation), paid
once per application. Measured on the 5,566-household bench lake, one core: neighbours took 32.8 s in a new
application and 2.3 s run again in the same one; tariffs 21.9 s alone and 10.3 s after the neighbours.

``--only`` (the run's selected stages) drops the jobs it does not name, so a backfill that reruns some stages runs
only those. A failing job does not stop the others (their outputs are independent); the application then exits
with an error naming every failed job, after printing one JSON line of per-job outcomes and seconds.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

JOBS = ("anomalies", "tariffs", "neighbours")
SEPARATOR = "+"


def split_jobs(argv: list[str]) -> list[tuple[str, list[str]]]:
    """``JOB args + JOB args ...`` as (job, args) pairs; every job must be one of :data:`JOBS`, named once."""
    groups: list[list[str]] = [[]]
    for token in argv:
        if token == SEPARATOR:
            groups.append([])
        else:
            groups[-1].append(token)
    jobs = []
    for group in groups:
        if not group:
            raise SystemExit(f"analyses: empty job between '{SEPARATOR}' separators in {argv}")
        name, *args = group
        if name not in JOBS:
            raise SystemExit(f"analyses: unknown job {name!r}; known: {', '.join(JOBS)}")
        jobs.append((name, args))
    names = [n for n, _ in jobs]
    if len(set(names)) != len(names):
        raise SystemExit(f"analyses: a job is named twice in {names}")
    return jobs


def parse_args(argv: list[str] | None) -> tuple[set[str] | None, list[tuple[str, list[str]]]]:
    """``[--only JOB,JOB] JOB args + ...``: the selected jobs (None: all) and the (job, args) pairs."""
    argv = list(sys.argv[1:] if argv is None else argv)
    only = None
    if argv[:1] == ["--only"]:
        if len(argv) < 2:
            raise SystemExit("analyses: --only needs a comma-separated list of jobs")
        only = {j for j in argv[1].split(",") if j}
        argv = argv[2:]
    return only, split_jobs(argv)


def run_jobs(jobs: list[tuple[str, list[str]]], only: set[str] | None = None) -> dict[str, dict]:
    """Run each job's ``main(args)`` in this process (so in one Spark application); outcomes by job."""
    from pyspark.sql import SparkSession

    outcomes: dict[str, dict] = {}
    for name, args in jobs:
        if only is not None and name not in only:
            outcomes[name] = {"status": "not_selected"}
            continue
        started = time.monotonic()
        try:
            code = importlib.import_module(f"spark_jobs.{name}").main(args)
            status = "success" if code in (0, None) else f"exit {code}"
        except SystemExit as exc:  # argparse errors and the jobs' own checks
            status = f"exit {exc.code}"
        except Exception as exc:  # noqa: BLE001 - reported with the others below; the next job still runs
            traceback.print_exc()
            status = f"failed: {type(exc).__name__}: {exc}"
        outcomes[name] = {"status": status, "seconds": round(time.monotonic() - started, 1)}
        active = SparkSession.getActiveSession()
        if active is not None:
            active.catalog.clearCache()  # each job caches its own inputs; the next one starts clean
    return outcomes


def main(argv: list[str] | None = None) -> int:
    only, jobs = parse_args(argv)
    outcomes = run_jobs(jobs, only)
    print(json.dumps({"analyses": outcomes}))
    failed = {n: o["status"] for n, o in outcomes.items() if o["status"] not in ("success", "not_selected")}
    if failed:
        raise SystemExit(f"analyses: {len(failed)} of {len(jobs)} jobs failed: {failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
