"""Partition-safe replacement of data in the lake: staging folders, read-merge-rewrite, directory renames.

A source file holds some households for many days, so dynamic overwrite of the local_date partitions it touches
would erase the other files' households on those days. Instead each touched day is rebuilt in a staging folder
from (existing rows of that day not from this run's files) + (this run's rows), then swapped in by renaming
directories. The lake is a POSIX folder seen by driver and executors; one ingest run at a time per lake.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.common.schemas import READINGS_HALFHOURLY

KEY = ["household_id", "interval_start_utc"]


def partition_dates(folder: Path) -> set[date]:
    """local_date values of the partition folders under ``folder`` (empty if it does not exist)."""
    if not folder.is_dir():
        return set()
    out = set()
    for p in folder.iterdir():
        if p.is_dir() and p.name.startswith("local_date="):
            out.add(date.fromisoformat(p.name.split("=", 1)[1]))
    return out


def part_dir(folder: Path, d: date) -> Path:
    return folder / f"local_date={d.isoformat()}"


def read_readings(spark: SparkSession, folder: Path, dates: set[date]) -> DataFrame:
    paths = [str(part_dir(folder, d)) for d in sorted(dates) if part_dir(folder, d).is_dir()]
    if not paths:
        return spark.createDataFrame([], READINGS_HALFHOURLY)
    return spark.read.schema(READINGS_HALFHOURLY).option("basePath", str(folder)).parquet(*paths)


def dates_holding_files(spark: SparkSession, dataset: Path, files: list[str], from_date=None, to_date=None) -> set:
    """Days of the lake that hold rows of ``files`` (within the range if given): those rows must be replaced."""
    if not partition_dates(dataset) or not files:
        return set()
    df = spark.read.schema(READINGS_HALFHOURLY).parquet(str(dataset)).filter(F.col("source_file").isin(files))
    if from_date is not None:
        df = df.filter(F.col("local_date") >= F.lit(from_date))
    if to_date is not None:
        df = df.filter(F.col("local_date") <= F.lit(to_date))
    return {r["local_date"] for r in df.select("local_date").distinct().collect()}


def merge_partitions(
    spark: SparkSession, dataset: Path, staged_new: Path, merged: Path, dates: set[date], files: list[str]
) -> None:
    """Rebuild ``dates`` into ``merged``: existing rows not from ``files`` and not superseded by a new row with
    the same household and time (the new run wins), plus the new rows."""
    existing = read_readings(spark, dataset, dates).filter(~F.col("source_file").isin(files))
    new = read_readings(spark, staged_new, dates)
    kept = existing.join(new.select(*KEY, "local_date"), on=[*KEY, "local_date"], how="left_anti")
    out = kept.unionByName(new).select(*READINGS_HALFHOURLY.fieldNames())
    (
        out.repartition(max(1, min(len(dates), 64)), "local_date")
        .sortWithinPartitions("local_date", *KEY)
        .write.mode("overwrite")
        .partitionBy("local_date")
        .parquet(str(merged))
    )


def swap_partitions(dataset: Path, sources: dict[date, Path | None], trash: Path) -> None:
    """Put each staged day folder in place of the lake's one (None: the day has no rows left -> remove it)."""
    dataset.mkdir(parents=True, exist_ok=True)
    trash.mkdir(parents=True, exist_ok=True)
    for d, src in sorted(sources.items()):
        target = part_dir(dataset, d)
        if target.exists():
            target.rename(trash / target.name)
        if src is not None and src.is_dir():
            src.rename(target)
    shutil.rmtree(trash, ignore_errors=True)


REJECTED_ARROW = pa.schema(
    [
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("reason", pa.string()),
        ("raw_line", pa.string()),
        ("household_id", pa.string()),
        ("run_id", pa.string()),
    ]
)


def replace_rejected(dataset: Path, new_parts: Iterable[pa.Table], files: list[str], staging: Path) -> int:
    """Quarantine of this run's files replaces their previous quarantine; other files' rows are kept.

    Streamed with Arrow into one file in staging (the old rows of other files, then ``new_parts``), then swapped
    in by renaming the folder: bounded memory however many lines a bad file had. Returns the rows written.
    """
    staging.mkdir(parents=True, exist_ok=True)
    written = 0
    with pq.ParquetWriter(staging / "part-00000.parquet", REJECTED_ARROW) as out:
        if dataset.is_dir() and any(dataset.glob("*.parquet")):
            old = pds.dataset(dataset, schema=REJECTED_ARROW, format="parquet")
            for batch in old.to_batches(filter=~pc.field("source_file").isin(files)):
                out.write_batch(batch)
                written += batch.num_rows
        for part in new_parts:
            out.write_table(part.select(REJECTED_ARROW.names).cast(REJECTED_ARROW))
            written += part.num_rows
    trash = staging.with_name(staging.name + ".old")
    if dataset.exists():
        dataset.rename(trash)
    dataset.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(dataset)
    shutil.rmtree(trash, ignore_errors=True)
    return written
