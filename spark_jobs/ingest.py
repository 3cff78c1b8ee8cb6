"""Ingest original LCL / Kaggle half-hourly CSV files into ``readings_halfhourly`` + ``readings_rejected``.

    spark-submit spark_jobs/ingest.py --input '/landing/LCL-June2015v2_*.csv' [--lake DIR] [--run-id ID]
        [--local-date YYYY-MM-DD | --from-date D --to-date D] [--household-info CSV] [--strict]
        [--households N [--sample-seed S]]
    python -m spark_jobs.ingest --input /work/shared/data/lcl_sample

One read of the input: lines are parsed with built-in functions, classified (quarantine reason or valid),
de-duplicated and cached; the cache feeds the clean write, the accounting aggregate and the quarantine write.
Clean rows land in a staging folder, then each touched ``local_date`` partition is swapped in, rebuilt by
read-merge-rewrite when the lake already has that day (other files' rows are kept). See
spark_jobs/ingestion/transform.py for the timestamp convention, reason codes and the duplicate rule.
Exit code 0 when the run completed (unreadable files are reported in the accounting); with ``--strict``, 3 when
any file was unreadable or had an unknown header.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
import uuid
from datetime import UTC, date, datetime
from functools import reduce
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script: make ``spark_jobs`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark import StorageLevel  # noqa: E402

from spark_jobs.common.settings import get_settings
from spark_jobs.common.spark import get_spark
from spark_jobs.ingestion import lake as lakeops
from spark_jobs.ingestion.accounting import file_accounting, write_accounting
from spark_jobs.ingestion.probe import STATUS_BAD_HEADER, STATUS_OK, STATUS_UNREADABLE, probe_inputs
from spark_jobs.ingestion.transform import (
    block_stats,
    classify,
    clean_rows,
    deduplicate,
    line_offsets,
    mark_not_sampled,
    parse_lines,
    read_household_info,
    read_lines,
    rejected_rows,
    sample_households,
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


PARTITION_TARGET_BYTES = 128 << 20  # CSV bytes per shuffle partition: ~2.5M rows, a sort that fits a 3g heap
GZIP_RATIO = 6  # rough expansion of LCL CSV under gzip, for sizing partitions only


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
    if readable:
        groups: dict[tuple, list] = {}
        for f in readable:
            groups.setdefault(f.layout.key, []).append(f)
        parsed = [
            parse_lines(
                read_lines(spark, [f.path for f in g]),
                g[0].layout,
                [f.header for f in g if f.status == STATUS_OK],
                settings.local_timezone,
            )
            for g in groups.values()
        ]
        info = read_household_info(spark, str(args.household_info))
        classified = classify(reduce(lambda a, b: a.unionByName(b), parsed), info, settings.max_halfhour_kwh)
        if args.households is not None:  # one extra pass over the input, only in sampled runs
            sample = sample_households(classified, args.households, args.sample_seed)
            classified = mark_not_sampled(classified, sample)
            timer.lap("sample_households")
        est = sum(f.size_bytes * (GZIP_RATIO if f.compressed else 1) for f in readable)
        nparts = max(spark.sparkContext.defaultParallelism, math.ceil(est / PARTITION_TARGET_BYTES))
        # DISK_ONLY: the cache is read twice more (small aggregate, rare rejected rows), so keeping it on the heap
        # buys little and was most of the 9 GiB peak RSS; built from the same pass that writes the clean rows.
        staged = deduplicate(classified, nparts, args.from_date, args.to_date).persist(StorageLevel.DISK_ONLY)
        try:
            staged_new = staging / "new"
            # Static overwrite: staging is private to this run, so the dynamic mode's extra staging folder and
            # per-partition renames (the session default) only cost time - about 40% of this step at 2M rows.
            (
                clean_rows(staged)
                .write.mode("overwrite")
                .option("partitionOverwriteMode", "static")
                .partitionBy("local_date")
                .parquet(str(staged_new))
            )
            timer.lap("read_parse_dedup_write_clean")
            stats_rows = [r.asDict() for r in block_stats(staged).collect()]
            timer.lap("stats")
            offsets = line_offsets(stats_rows)
            rejected = rejected_rows(spark, staged, offsets, args.run_id)
            lakeops.replace_rejected(spark, lake / "readings_rejected", rejected, run_files, staging / "rejected")
            timer.lap("write_rejected")
        finally:
            staged.unpersist()
    else:
        staged_new = staging / "new"

    # Days to rebuild: days with new rows, plus days where the lake holds rows of this run's files (in range).
    new_dates = lakeops.partition_dates(staged_new)
    old_dates = lakeops.dates_holding_files(spark, dataset, run_files, args.from_date, args.to_date)
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
    report["json_path"] = str(write_accounting(spark, lake, dataset / "_ingest_runs", report))
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
