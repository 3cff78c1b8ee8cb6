"""Speed benchmark of the MongoDB serving load (not a test): Parquet -> FerretDB documents/s.

    .venv/bin/python bench/bench_load.py [--households 2000] [--days 50] [--workers 1 2]

1. Writes a household_daily-shaped Parquet dataset (hive-partitioned by local_date) with pyarrow in a temp folder.
2. Into a fresh database ``smartmeter_test_loader_bench_<random>`` (dropped at the end) it runs, per worker count:
   a first load into the empty collection, a forced reload of every slice (insert the new versions, commit,
   remove the old ones: by compaction where the server's deletes scan, then again by range deletes for
   comparison) and a one-day reload as the daily DAG does it. Last, a first load with every index built, as on
   MongoDB (on FerretDB the query-path indexes are left out: it never reads them).
3. For context, the same documents are inserted with plain ``insert_many`` into a collection with no secondary
   indexes, and the FerretDB process's CPU seconds are sampled, so the server's own ceiling is visible.
Prints the figures and writes bench/results/load.json. Target: >= 50k documents/s into FerretDB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plugins.serving import loader  # noqa: E402
from spark_jobs.common.settings import get_settings  # noqa: E402

TARGET_DOCS_PER_S = 50_000


def make_dataset(lake: Path, households: int, days: int) -> int:
    import numpy as np

    rng = np.random.default_rng(7)
    first = date(2013, 1, 1)
    ids = [f"MAC{i:06d}" for i in range(households)]
    n = households * days
    table = pa.table(
        {
            "household_id": pa.array(ids * days),
            "tariff_group": pa.array((["Std", "ToU"] * households)[:households] * days),
            "acorn_group": pa.array((["Affluent", "Comfortable", "Adversity"] * households)[:households] * days),
            "energy_kwh": pa.array(rng.gamma(2.0, 5.0, n)),
            "readings_present": pa.array(np.full(n, 48, dtype=np.int32)),
            "readings_expected": pa.array(np.full(n, 48, dtype=np.int32)),
            "completeness": pa.array(np.ones(n)),
            "local_date": pa.array([first + timedelta(days=d) for d in range(days) for _ in range(households)]),
        }
    )
    pq.write_to_dataset(table, lake / "household_daily", partition_cols=["local_date"])
    return n


def ferret_process() -> psutil.Process | None:
    for p in psutil.process_iter(["name", "cmdline"]):
        if "ferretdb" in (p.info["name"] or "") or any("ferretdb" in c for c in (p.info["cmdline"] or [])[:1]):
            return p
    return None


def cpu_seconds(p: psutil.Process | None) -> float:
    if p is None:
        return float("nan")
    t = p.cpu_times()
    return t.user + t.system


def timed(fn, proc):
    c0, t0 = cpu_seconds(proc), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, cpu_seconds(proc) - c0


def raw_insert(db, lake: Path, workers: int) -> dict:
    """insert_many of the same documents into a collection with only the _id index: the server's ceiling."""
    import pyarrow.dataset as ds

    table = loader.serving_table(
        ds.dataset(str(lake / "household_daily"), partitioning="hive").to_table(), loader.spec("household_daily")
    )
    now = datetime.now(UTC)
    batches = []
    for rb in table.to_batches(max_chunksize=loader.BATCH_SIZE):
        docs = rb.to_pylist()
        for d in docs:
            d["_load_id"], d["_loaded_at"] = "raw", now
        batches.append(docs)
    coll = db["bench_raw"]
    coll.drop()
    t0 = time.perf_counter()
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda b: coll.insert_many(b, ordered=False), batches))
    else:
        for b in batches:
            coll.insert_many(b, ordered=False)
    el = time.perf_counter() - t0
    n = sum(len(b) for b in batches)
    coll.drop()
    return {"docs": n, "seconds": round(el, 3), "docs_per_s": round(n / el)}


def first_load_every_index(db, lake: Path) -> dict:
    """The first load with the query-path indexes built too, as on MongoDB: what they cost a server that never
    reads them (FerretDB v1, where ensure_collections leaves them out)."""
    s = loader.spec("household_daily")
    for name in ("household_daily", "serving_loads", "serving_manifests"):
        db.drop_collection(name)
    loader.ensure_collections(db, names=["household_daily"])
    for ix in s.all_indexes():
        loader._ensure_index(db, "household_daily", ix)
    t0 = time.perf_counter()
    res = loader.load_dataset("household_daily", run_id="bench_every_index", lake_dir=lake, db=db)
    el = time.perf_counter() - t0
    indexes = sorted(db["household_daily"].index_information())
    return {
        "docs": res["inserted"],
        "seconds": round(el, 3),
        "docs_per_s": round(res["inserted"] / el),
        "indexes": indexes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--days", type=int, default=50)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--mongo-uri", default=None)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "load.json")
    args = ap.parse_args(argv)

    settings = get_settings()
    uri = args.mongo_uri or settings.mongo_uri
    lake = Path(tempfile.mkdtemp(prefix="bench_load_"))
    client = loader.get_client(uri)
    db = client[f"smartmeter_test_loader_bench_{uuid.uuid4().hex[:6]}"]
    proc = ferret_process()
    runs = []
    try:
        n = make_dataset(lake, args.households, args.days)
        loader.ensure_collections(db)
        last_day = (date(2013, 1, 1) + timedelta(days=args.days - 1)).isoformat()
        for workers in args.workers:
            db.drop_collection("household_daily")
            db["serving_loads"].delete_many({"collection": "household_daily"})
            db["serving_manifests"].drop()
            loader.ensure_collections(db, names=["household_daily"])
            for kind, kwargs in (
                ("first_load", {}),
                ("reload_all_slices", {"skip_unchanged": False}),  # compacts where deletes scan (FerretDB)
                ("reload_all_slices_range_deletes", {"skip_unchanged": False, "compact": False}),
                ("reload_one_day", {"skip_unchanged": False, "local_dates": [last_day]}),
                ("rerun_unchanged", {}),
            ):
                res, wall, cpu = timed(
                    lambda kw=kwargs, w=workers, k=kind: loader.load_dataset(
                        "household_daily", run_id=f"bench_{k}", lake_dir=lake, db=db, workers=w, **kw
                    ),
                    proc,
                )
                row = {
                    "kind": kind,
                    "workers": workers,
                    "docs_read": res["read"],
                    "docs_inserted": res["inserted"],
                    "docs_replaced": res["replaced_docs"],
                    "compacted": res["compacted"],
                    "seconds": round(wall, 3),
                    "docs_per_s": round(res["read"] / wall),
                    "insert_docs_per_s": res["insert_docs_per_s"],
                    "ferretdb_cpu_s": round(cpu, 2),
                    # what one dedicated core would give FerretDB: the host is shared, wall time understates it
                    "docs_per_ferretdb_cpu_s": round(res["inserted"] / cpu) if cpu and res["inserted"] else None,
                }
                runs.append(row)
                print(json.dumps(row), flush=True)
            assert db["household_daily"].count_documents({}) == n
        indexes = sorted(db["household_daily"].index_information())
        raw = [dict(raw_insert(db, lake, w), workers=w) for w in args.workers]
        for r in raw:
            print("raw insert_many, _id index only:", json.dumps(r), flush=True)
        every_index = first_load_every_index(db, lake)
        print("first load with every index:", json.dumps(every_index), flush=True)
    finally:
        client.drop_database(db.name)
        shutil.rmtree(lake, ignore_errors=True)

    first = max((r for r in runs if r["kind"] == "first_load"), key=lambda r: r["docs_per_s"])
    result = {
        "benchmark": "MongoDB serving load, household_daily-shaped documents (10 fields + _id)",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": loader.server_features(db)["server"] if db is not None else None,
        "mongo_uri": uri,
        "docs": n,
        "households": args.households,
        "days": args.days,
        "batch_size": loader.BATCH_SIZE,
        "host": {
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        },
        "indexes": indexes,
        "runs": runs,
        "raw_insert_many": raw,
        "first_load_every_index": every_index,
        "best_first_load_docs_per_s": first["docs_per_s"],
        "target_docs_per_s": TARGET_DOCS_PER_S,
        "target_met": first["docs_per_s"] >= TARGET_DOCS_PER_S,
        "notes": (
            "FerretDB v1 (SQLite) inserts are CPU-bound in the FerretDB process (BSON -> JSON per document, one "
            "INSERT per row); docs_per_ferretdb_cpu_s is the ceiling with a dedicated core. Every delete is a "
            "collection scan there, so removing old versions by range costs one scan per 30k documents; a "
            "reload of most of a collection compacts it instead (one copy, two renames)."
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"best first load: {first['docs_per_s']:,} docs/s (workers={first['workers']}); target {TARGET_DOCS_PER_S:,} "
        f"-> {'met' if result['target_met'] else 'NOT met'}; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
