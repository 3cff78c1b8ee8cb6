"""Ingest original LCL / Kaggle half-hourly CSV files into ``readings_halfhourly`` + ``readings_rejected``.

    spark-submit spark_jobs/ingest.py --input '/landing/LCL-June2015v2_*.csv' [--lake DIR] [--run-id ID]
        [--local-date YYYY-MM-DD | --from-date D --to-date D] [--household-info CSV] [--strict]
        [--households N [--sample-seed S]]
    python -m spark_jobs.ingest --input /work/shared/data/lcl_sample

Two Spark stages over the cluster, each task doing its rows' work with Arrow in the executor's Python worker:
1. one task per chunk of input (~64 MB of CSV, or a whole gzip file) reads and classifies its lines
   (spark_jobs/ingestion/parse.py: timestamp convention, reason codes), writes its quarantined lines, and hashes
   its valid rows by ``local_date`` into bucket files;
2. one task per bucket resolves duplicates and writes one Parquet file per day into a staging folder
   (spark_jobs/ingestion/dedup.py: sampling, duplicate and date-range rules).
The tasks return their counts, which make the accounting. Each touched ``local_date`` partition is then swapped
in, rebuilt by read-merge-rewrite when the lake already has that day (other files' rows are kept).
Exit code 0 when the run completed (unreadable files are reported in the accounting); with ``--strict``, 3 when
any file was unreadable or had an unknown header.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import shutil
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script: make ``spark_jobs`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from spark_jobs.common.settings import get_settings  # noqa: E402
from spark_jobs.common.spark import get_spark  # noqa: E402
from spark_jobs.ingestion import lake as lakeops  # noqa: E402
from spark_jobs.ingestion.accounting import file_accounting, write_accounting  # noqa: E402
from spark_jobs.ingestion.dedup import (  # noqa: E402
    OUTCOMES,
    BucketWriter,
    clean_table,
    outcome_counts,
    read_bucket,
    resolve,
    write_days,
)
from spark_jobs.ingestion.parse import REASONS, Chunk, Reference, parse_chunk, plan_chunks  # noqa: E402
from spark_jobs.ingestion.probe import (  # noqa: E402
    STATUS_BAD_HEADER,
    STATUS_OK,
    STATUS_UNREADABLE,
    probe_inputs,
)

log = logging.getLogger("ingest")


class _Timer:
    """Wall time per step, logged and kept in the report (the benchmark reads it)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.steps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = round(now - self.t0, 3)
        log.info("ingest: %s done in %.1fs", step, now - self.t0)
        self.t0 = now


CHUNK_BYTES = 64 << 20  # CSV bytes per chunk: ~1.3M lines, blocks read one after the other
TASK_BYTES = 128 << 20  # CSV bytes per parse task (one or more chunks): ~1 s of work; each task costs 40-80 ms
BUCKET_TARGET_BYTES = 64 << 20  # CSV bytes per duplicate-resolution task: ~1.3M rows, ~0.25 GB of Arrow at peak
# (50M rows: 38 buckets of 64 MB took 8.9-11.3 CPU-s, 19 of 128 MB 11.3-13.2, 10 of 256 MB 18.2-18.5)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    settings = get_settings()
    p = argparse.ArgumentParser(prog="ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--input", action="append", required=True, help="folder, glob or file; repeatable")
    p.add_argument("--lake", type=Path, default=settings.lake_dir)
    p.add_argument("--run-id", default=None)
    p.add_argument("--local-date", type=date.fromisoformat, default=None)
    p.add_argument("--from-date", type=date.fromisoformat, default=None)
    p.add_argument("--to-date", type=date.fromisoformat, default=None)
    p.add_argument("--household-info", type=Path, default=settings.household_information_csv)
    p.add_argument(
        "--households",
        type=int,
        default=None,
        help="keep a deterministic sample of N households (smallest xxhash64(seed, id)); others -> rows_not_sampled;"
        " 0 means all (the history DAG's form passes 0 for 'all households')",
    )
    p.add_argument("--sample-seed", type=int, default=1, help="seed of the --households sample")
    p.add_argument("--strict", action="store_true", help="exit 3 if any file was unreadable or had a bad header")
    args = p.parse_args(argv)
    if args.local_date and (args.from_date or args.to_date):
        p.error("--local-date excludes --from-date/--to-date")
    if args.local_date:
        args.from_date = args.to_date = args.local_date
    if args.from_date and args.to_date and args.from_date > args.to_date:
        p.error("--from-date is after --to-date")
    if args.households == 0:
        args.households = None
    if args.households is not None and args.households < 0:
        p.error("--households must be 0 (all) or a positive sample size")
    if args.run_id is None:
        args.run_id = f"ingest-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    return args


def read_household_info(path: Path, max_kwh: float, tz: str) -> Reference:
    """household_id -> tariff_group from household_information.csv (~5.6k rows, read on the driver)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows: dict[str, str | None] = {}
        for rec in csv.DictReader(fh):
            hh = (rec.get("LCLid") or "").strip()
            if hh and hh not in rows:
                rows[hh] = (rec.get("stdorToU") or "").strip() or None
    ids = sorted(rows)
    return Reference(pa.array(ids, pa.string()), pa.array([rows[h] for h in ids], pa.string()), max_kwh, tz)


# ARROW_POOL_NOTE: the tasks use glibc's allocator, not pyarrow's default mimalloc: parsing a 1M-line chunk takes
# 1.05 s with it against 1.3-1.5 s with mimalloc on this machine (blocks of tens of MB allocated and freed).


def parse_all(
    spark, chunks: list[Chunk], text_bytes: int, ref: Reference, staging: Path, buckets: int, sampled: bool
) -> list[dict]:
    """Stage 1: chunks parsed in tasks of about TASK_BYTES of CSV text (``text_bytes`` in all, gzip files counted
    decompressed); each chunk returns its counts, line count and, in a ``sampled`` run, the households with valid
    rows."""
    bucket_dir, rejected_dir = staging / "buckets", staging / "rejected"

    def task(chunk: Chunk) -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        pa.set_memory_pool(pa.system_memory_pool())  # see ARROW_POOL_NOTE
        writer = BucketWriter(bucket_dir, chunk.chunk_id, buckets)
        try:
            rejected, counts, households = parse_chunk(chunk, ref, writer.write, households=sampled)
        finally:
            writer.close()
        if rejected.num_rows:
            rejected_dir.mkdir(parents=True, exist_ok=True)
            tmp = rejected_dir / f"c{chunk.chunk_id:06d}.tmp"
            pq.write_table(rejected, tmp)
            tmp.rename(tmp.with_suffix(".parquet"))
        return {
            "chunk_id": chunk.chunk_id,
            "counts": counts,
            "households": households,
            "seconds": (time.perf_counter() - t0, time.process_time() - c0),
        }

    # Several small chunks (the LCL files are ~50 MB each) share a task: each task costs the cluster 40-80 ms.
    tasks = min(len(chunks), max(spark.sparkContext.defaultParallelism, math.ceil(text_bytes / TASK_BYTES)))
    out = spark.sparkContext.parallelize(chunks, tasks).map(task).collect()
    log_tasks("parse", [p["seconds"] for p in out])
    return sorted(out, key=lambda p: p["chunk_id"])


def log_tasks(stage: str, seconds: list[tuple[float, float]]) -> None:
    """Sum and longest of the tasks' wall and CPU seconds: the stage's time beyond them is Spark's and Python's."""
    log.info(
        "ingest: %s: %d tasks, %.1f s of task time (%.1f CPU-s), longest %.1f s",
        stage,
        len(seconds),
        sum(w for w, _ in seconds),
        sum(c for _, c in seconds),
        max((w for w, _ in seconds), default=0.0),
    )


def resolve_all(spark, chunks, ref: Reference, staging: Path, buckets: int, sample, from_date, to_date, out: Path):
    """Stage 2: one task per bucket resolves duplicates and writes its days; returns per-outcome chunk counts."""
    bucket_dir = staging / "buckets"
    chunk_files = [c.source_file for c in chunks]
    ids = ref.household_ids
    sample_idx = None if sample is None else pc.index_in(pa.array(sample, pa.string()), value_set=ids).to_numpy()

    def task(bucket: int) -> tuple[dict, tuple[float, float]]:
        t0, c0 = time.perf_counter(), time.process_time()
        pa.set_memory_pool(pa.system_memory_pool())
        rows = read_bucket(bucket_dir / f"b{bucket:05d}")
        outcome, clean = resolve(rows, len(ids), sample_idx, from_date, to_date)
        write_days(clean_table(rows, clean, ids, chunk_files), out, f"part-{bucket:05d}")
        return outcome_counts(rows, outcome, len(chunks)), (time.perf_counter() - t0, time.process_time() - c0)

    results = spark.sparkContext.parallelize(range(buckets), buckets).map(task).collect()
    log_tasks("dedup", [s for _, s in results])
    return [counts for counts, _ in results]


def chunk_stats(chunks: list[Chunk], parsed: list[dict], outcomes: list[dict]) -> list[dict]:
    """(source_file, status, reason, n) rows for the accounting; checks that every valid row got an outcome."""
    rows = []
    for c, p in zip(chunks, parsed, strict=True):
        counts = p["counts"]
        resolved = {name: sum(o[name][c.chunk_id] for o in outcomes) for name in OUTCOMES}
        settled = sum(resolved.values())
        if settled != counts["valid"]:
            raise RuntimeError(
                f"ingest: {c.source_file} bytes {c.start}-{c.end}: {counts['valid']} valid rows parsed but "
                f"{settled} resolved; a bucket file is missing"
            )
        rows += [
            {"source_file": c.source_file, "status": s, "reason": None, "n": counts[s]} for s in ("header", "blank")
        ]
        rows += [{"source_file": c.source_file, "status": "rejected", "reason": r, "n": counts[r]} for r in REASONS]
        rows += [{"source_file": c.source_file, "status": s, "reason": None, "n": n} for s, n in resolved.items()]
    return [r for r in rows if r["n"]]


def rejected_parts(chunks: list[Chunk], parsed: list[dict], folder: Path, run_id: str):
    """Quarantined lines of each chunk in the readings_rejected layout, with their line number in the file.

    A chunk numbers its lines from 1; the lines of the same file's earlier chunks are added here.
    """
    before: dict[str, int] = {}
    for c, p in zip(chunks, parsed, strict=True):
        offset = before.get(c.source_file, 0)
        before[c.source_file] = offset + p["counts"]["lines"]
        path = folder / f"c{c.chunk_id:06d}.parquet"
        if not path.is_file():
            continue
        t = pq.read_table(path)
        n = t.num_rows
        yield pa.table(
            {
                "source_file": pa.array([c.source_file] * n, pa.string()),
                "line_number": pc.add(t["line"], offset),
                "reason": t["reason"],
                "raw_line": t["raw_line"],
                "household_id": t["household_id"],
                "run_id": pa.array([run_id] * n, pa.string()),
            }
        )


def sample_households(spark, households: list[str], n: int, seed: int) -> list[str]:
    """The ``--households N`` sample: the N households with valid rows with the smallest xxhash64(seed, id).

    The same input and seed give the same sample, and a larger N keeps every household of a smaller one.
    """
    if not households:
        return []
    df = spark.createDataFrame([(h,) for h in households], "household_id string")
    rows = df.orderBy(F.xxhash64(F.lit(seed), F.col("household_id")), "household_id").limit(n).collect()
    return [r["household_id"] for r in rows]


def run(spark, args: argparse.Namespace) -> dict:
    """The whole job on an existing session; returns the run report (also written as JSON)."""
    settings = get_settings()
    started = datetime.now(UTC).isoformat()
    lake: Path = args.lake
    dataset = lake / "readings_halfhourly"
    staging = lake / "_staging" / args.run_id
    timer = _Timer()
    files = probe_inputs(args.input)
    timer.lap("probe")
    if not files:
        raise SystemExit(f"ingest: no input files matched {args.input}")
    for f in files:
        if f.status not in (STATUS_OK,) and f.error:
            log.error("ingest: %s", f.error)
    readable = [f for f in files if f.status in (STATUS_OK, STATUS_BAD_HEADER)]
    if not args.household_info.is_file():
        raise SystemExit(f"ingest: household information file not found: {args.household_info}")

    stats_rows: list = []
    sample: list[str] | None = None
    run_files = [f.source_file for f in files]
    staged_new = staging / "new"
    shutil.rmtree(staging, ignore_errors=True)  # a crashed run with the same id must not leave bucket files behind
    if readable:
        chunks = plan_chunks(readable, CHUNK_BYTES)
        text_bytes = sum(f.text_bytes for f in readable)  # gzip files at their decompressed size
        buckets = max(spark.sparkContext.defaultParallelism, math.ceil(text_bytes / BUCKET_TARGET_BYTES))
        ref = read_household_info(args.household_info, settings.max_halfhour_kwh, settings.local_timezone)
        parsed = parse_all(spark, chunks, text_bytes, ref, staging, buckets, sampled=args.households is not None)
        timer.lap("read_parse_classify")
        if args.households is not None:
            households = sorted({h for p in parsed for h in p["households"]})
            sample = sample_households(spark, households, args.households, args.sample_seed)
            timer.lap("sample_households")
        outcomes = resolve_all(spark, chunks, ref, staging, buckets, sample, args.from_date, args.to_date, staged_new)
        timer.lap("dedup_write_clean")
        stats_rows = chunk_stats(chunks, parsed, outcomes)
        rejected = rejected_parts(chunks, parsed, staging / "rejected", args.run_id)
        lakeops.replace_rejected(lake / "readings_rejected", rejected, run_files, staging / "rejected_table")
        timer.lap("write_rejected")

    # Days to rebuild: days with new rows, plus days where the lake holds rows of this run's files (in range).
    new_dates = lakeops.partition_dates(staged_new)
    old_dates = lakeops.dates_holding_files(dataset, run_files, args.from_date, args.to_date)
    touched = new_dates | old_dates
    timer.lap("find_touched_days")
    merge_dates = touched & lakeops.partition_dates(dataset)
    merged = staging / "merged"
    if merge_dates:
        lakeops.merge_partitions(spark, dataset, staged_new, merged, merge_dates, run_files)
    sources = {d: lakeops.part_dir(merged if d in merge_dates else staged_new, d) for d in touched}
    lakeops.swap_partitions(dataset, sources, staging / "trash")
    timer.lap("merge_and_swap")

    records = file_accounting(files, stats_rows, args.run_id)
    report = {
        "run_id": args.run_id,
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(),
        "inputs": args.input,
        "lake": str(lake),
        "from_date": args.from_date,
        "to_date": args.to_date,
        "max_halfhour_kwh": settings.max_halfhour_kwh,
        "timestamp_convention": "interval_start_utc = start of the half hour, GMT/UTC clock",
        "partitions_written": len(touched),
        "households_sample": None
        if sample is None
        else {"requested": args.households, "seed": args.sample_seed, "selected": len(sample)},
        "files": records,
        "totals": {k: sum(r[k] for r in records) for k in records[0] if k.startswith(("rows_", "dup", "rejected_"))},
        "all_balanced": all(r["balanced"] for r in records),
        "files_failed": [r["source_file"] for r in records if r["status"] in (STATUS_UNREADABLE, STATUS_BAD_HEADER)],
    }
    report["step_seconds"] = timer.steps
    report["json_path"] = str(write_accounting(lake, dataset / "_ingest_runs", report))
    shutil.rmtree(staging, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    spark = get_spark("ingest")
    report = run(spark, args)
    print(
        json.dumps(
            {k: report[k] for k in ("run_id", "totals", "all_balanced", "files_failed", "json_path")}, default=str
        )
    )
    if not report["all_balanced"]:
        log.error("ingest: accounting does not balance; see %s", report["json_path"])
        return 4
    if args.strict and report["files_failed"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
