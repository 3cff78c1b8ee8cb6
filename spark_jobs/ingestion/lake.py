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
import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from pyspark.sql.pandas.types import to_arrow_schema

from spark_jobs.common.schemas import READINGS_HALFHOURLY, READINGS_REJECTED

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


def write_day(table: pa.Table, folder: Path, d: date, name: str) -> None:
    """``table`` as ``folder/local_date=d/<name>.parquet``, with INT96 timestamps as Spark itself writes them
    (spark.sql.parquet.outputTimestampType's default), so the dataset reads the same whichever engine wrote a day."""
    out = part_dir(folder, d)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / f"{name}.parquet", compression="snappy", use_deprecated_int96_timestamps=True)


def _day_tables(folder: Path, dates: set[date], columns: list[str]):
    """(day, table of ``columns``) for each of ``dates`` that has a partition folder under ``folder``."""
    for d in sorted(dates):
        path = part_dir(folder, d)
        if path.is_dir():
            yield d, pq.read_table(path, columns=columns, coerce_int96_timestamp_unit="us")


def dates_holding_files(dataset: Path, files: list[str], from_date=None, to_date=None) -> set[date]:
    """Days of the lake (within the range if given) that hold rows of ``files``: those rows must be replaced.

    Reads only the ``source_file`` column of the days in range, with Arrow on the driver.
    """
    if not files:
        return set()
    days = {
        d
        for d in partition_dates(dataset)
        if (from_date is None or d >= from_date) and (to_date is None or d <= to_date)
    }
    wanted = pa.array(files, pa.string())
    return {
        d
        for d, t in _day_tables(dataset, days, ["source_file"])
        if pc.any(pc.is_in(t["source_file"], value_set=wanted)).as_py()
    }


def merge_day(dataset: Path, staged_new: Path, merged: Path, d: date, files: list[str]) -> None:
    """Rebuild day ``d`` into ``merged``: the lake's rows not from ``files`` and not superseded by a new row with
    the same household and time (the new run wins), plus the new rows; sorted by household and time."""
    names = [n for n in READINGS_HALFHOURLY.fieldNames() if n != "local_date"]
    ((_, old),) = _day_tables(dataset, {d}, names)
    new = next((t for _, t in _day_tables(staged_new, {d}, names)), None)
    old = old.filter(pc.invert(pc.is_in(old["source_file"], value_set=pa.array(files, pa.string()))))
    if new is not None:
        old = old.join(new.select(KEY), keys=KEY, join_type="left anti")
        old = pa.concat_tables([old.select(names), new.select(names).cast(old.select(names).schema)])
    write_day(old.sort_by([(k, "ascending") for k in KEY]), merged, d, "part-00000")


def merge_partitions(
    spark: SparkSession, dataset: Path, staged_new: Path, merged: Path, dates: set[date], files: list[str]
) -> None:
    """``merge_day`` for each of ``dates``, one Spark task per day (a re-ingested history touches hundreds)."""
    days = sorted(dates)
    spark.sparkContext.parallelize(days, len(days)).foreach(lambda d: merge_day(dataset, staged_new, merged, d, files))


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


REJECTED_ARROW = to_arrow_schema(READINGS_REJECTED)  # the contract's schema, as Arrow


def replace_rejected(dataset: Path, new_parts: Iterable[pa.Table], files: list[str], staging: Path) -> int:
    """Quarantine of this run's files replaces their previous quarantine; other files' rows are kept.

    Streamed with Arrow into one file in staging (the old rows of other files, then ``new_parts``), then swapped
    in by renaming the folder: bounded memory however many lines a bad file had. Returns the rows written.
    """
    import pyarrow.dataset as pds  # here, not at the top: it imports pandas (~1 s), and every task imports lake

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
