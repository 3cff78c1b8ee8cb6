"""Dashboard load times at full scale: 5,566 households x 2 years of serving views (`make superset-bench`).

Generates the base collections in memory (the real household list, 730 days), builds the dash_* views from them
with plugins/serving/dashboard_views.py and writes only the views to MongoDB database smartmeter_bench_superset
(the base collections are what the pipeline loads; the dashboards never read them). Then starts a Superset
instance over it without a data cache, times every chart through the chart-data API and every dashboard in
headless Chromium (cold); restarts it with the data cache, refreshes the cache the way the dashboards DAG does
after a load (replaying the dashboards' recorded requests) and times the dashboards again. Writes
bench/results/dashboards.json (screenshots: .state/artifacts/bench_screenshots*/).

    .venv/bin/python -m tests.superset.bench_dashboards [--households 5566] [--days 730] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pymongo

from plugins.serving.dashboard_views import _Base, compute_dashboard_views, write_dashboard_views
from plugins.serving.superset_cache import cached_share, warm_dashboard_cache
from spark_jobs.common.settings import get_settings
from tests.superset.client import Superset
from tests.superset.conftest import BROWSER_PY, ROOT, _template, secrets_env
from tests.superset.seed import base_frames

DB = "smartmeter_bench_superset"
PORT = 8097
INSTANCE = "superset-bench"
PREPARATION_KEYS = ("households", "days", "base_rows", "compute_views_s", "view_documents", "write_views_s")


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def dashboard_loads(env: dict, out: Path) -> tuple[dict[str, list[float]], dict]:
    """Every dashboard loaded 3 times in headless Chromium, after one untimed first visit that fills the new
    browser profile's cache with Superset's JavaScript; seconds per load, and the first visit."""
    run = subprocess.run(
        [
            str(BROWSER_PY),
            str(ROOT / "superset" / "screenshot_dashboards.py"),
            "--url",
            f"http://127.0.0.1:{PORT}",
            "--out",
            str(out),
            "--repeat",
            "3",
            "--warm-browser",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    shots = json.loads(run.stdout)
    loads = {d["title"]: [load["load_seconds"] for load in d["loads"]] for d in shots["dashboards"]}
    return loads, shots["browser_first_visit"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=5566)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--reuse", action="store_true", help="keep the views already in the bench database")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dashboards.json")
    args = ap.parse_args()
    settings = get_settings()
    client = pymongo.MongoClient(settings.mongo_uri)
    db = client[DB]
    report: dict = {"households": args.households, "days": args.days}
    if args.reuse and args.out.exists():
        # the views were prepared by an earlier run: keep that run's preparation figures with the new timings
        earlier = json.loads(args.out.read_text())
        report |= {k: earlier[k] for k in PREPARATION_KEYS if k in earlier}

    if not args.reuse:
        t = time.perf_counter()
        frames = base_frames(
            args.households, args.days, start="2012-01-01", reference_csv=settings.household_information_csv
        )
        report["base_rows"] = {k: len(v) for k, v in frames.items()}
        views = compute_dashboard_views(_Base(frames=frames))
        del frames
        report["compute_views_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        report["view_documents"] = write_dashboard_views(db, views)
        report["write_views_s"] = round(time.perf_counter() - t, 1)
        print(json.dumps(report), flush=True)

    env = (
        dict(os.environ)
        | secrets_env()
        | {
            "SUPERSET_INSTANCE": INSTANCE,
            "SMARTMETER_SUPERSET_PORT": str(PORT),
            "SMARTMETER_MONGO_DB": DB,
            "SUPERSET_DATA_CACHE": "off",
        }
    )
    home = settings.state_dir / INSTANCE
    subprocess.run([str(ROOT / "superset" / "stop.sh")], env=env, check=False)
    if not (home / "superset.db").exists():
        home.mkdir(parents=True, exist_ok=True)
        template = _template(env)
        shutil.copy(template, home / "superset.db")
        for stamp in ("bootstrap.ok", "admin.sha"):
            shutil.copy(template.parent / stamp, home / stamp)
    subprocess.run([str(ROOT / "superset" / "start.sh")], env=env, check=True)
    try:
        api = Superset(f"http://127.0.0.1:{PORT}", password=env["SUPERSET_ADMIN_PASSWORD"])
        report["load_average_before"] = load_average()
        charts = {}
        for chart in sorted(api.charts(), key=lambda c: c["slice_name"]):
            body, seconds = api.chart_data(chart["id"])
            charts[chart["slice_name"]] = {"seconds": round(seconds, 2), "rows": body["result"][0]["rowcount"]}
        household = db["dash_households"].find_one({}, {"household_id": 1})["household_id"]
        drill = next(c for c in api.charts() if c["slice_name"].startswith("Daily readings of the selected"))
        body, seconds = api.chart_data(drill["id"], [{"col": "household_id", "op": "IN", "val": [household]}])
        charts["(drill-down with one household chosen)"] = {
            "seconds": round(seconds, 2),
            "rows": body["result"][0]["rowcount"],
        }
        report["chart_query_seconds"] = charts
        report["dashboard_load_seconds"], report["browser_first_visit"] = dashboard_loads(
            env, settings.state_dir / "artifacts" / "bench_screenshots"
        )
    finally:
        subprocess.run([str(ROOT / "superset" / "stop.sh")], env=env, check=False)

    # As served after a pipeline run: the data cache on, refreshed by replaying the dashboards' recorded
    # requests (what the dashboards DAG does after each load). start.sh records them on a fresh cache.
    env["SUPERSET_DATA_CACHE"] = "on"
    shutil.rmtree(home / "cache", ignore_errors=True)
    (home / "requests.sha").unlink(missing_ok=True)
    subprocess.run([str(ROOT / "superset" / "start.sh")], env=env, check=True)
    try:
        report["cache_refresh"] = warm_dashboard_cache(
            f"http://127.0.0.1:{PORT}",
            home / "chart_requests.json",
            username="admin",
            password=env["SUPERSET_ADMIN_PASSWORD"],
        )
        (
            report["dashboard_load_seconds_after_cache_refresh"],
            report["browser_first_visit_after_cache_refresh"],
        ) = dashboard_loads(env, settings.state_dir / "artifacts" / "bench_screenshots_cached")
        report["cache_refresh"]["results_from_cache_after"] = cached_share(
            f"http://127.0.0.1:{PORT}",
            home / "chart_requests.json",
            username="admin",
            password=env["SUPERSET_ADMIN_PASSWORD"],
        )
        report["load_average_after"] = load_average()
        report["cpu_count"] = os.cpu_count()
    finally:
        subprocess.run([str(ROOT / "superset" / "stop.sh")], env=env, check=False)
    report["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
