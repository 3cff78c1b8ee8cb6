"""Pure Spark transforms of the ingestion job: raw lines -> parsed, classified, de-duplicated rows.

Every input line stays in the frame with a ``status`` (header, blank, rejected, clean, duplicate_exact,
duplicate_conflict, out_of_range) so one pass feeds the clean table, the quarantine and the accounting, and the
accounting equation ``rows_read = clean + quarantined + duplicates`` holds by construction.

Conventions (README text):
- The LCL ``DateTime`` / Kaggle ``tstp`` is on the GMT clock all year, i.e. UTC, and is read as the START of the
  half hour it labels (``interval_start_utc``), as schemas.py states. ``local_date``/``halfhour_local`` are the
  Europe/London wall-clock day and slot of that start: a spring-forward day has 46 slots (2 and 3 absent), a
  fall-back day 50 (slots 2 and 3 twice).
- A timestamp is on the grid when minute is 0 or 30, second 0 and any fraction all zeros (``.0000000``).
- Reason codes, first failing check wins, in this order: bad_header, bad_column_count, bad_encoding,
  unknown_household, unparseable_time, off_grid_time, null_reading, unparseable_reading, negative_reading,
  implausible_reading (kWh > settings.max_halfhour_kwh per half hour).
- Sampling (``--households N``): the sample is the N households, among those with at least one valid row in
  the input, with the smallest ``xxhash64(seed, household_id)`` (ties by id): the same input and seed give the
  same sample, and a larger N keeps every household of a smaller one. Valid rows of other households get the
  status not_sampled (counted as rows_not_sampled, before duplicates are resolved); quarantine checks still run
  on every row, so a sampled run reports the same file problems as a full one.
- Duplicates (same household and interval_start_utc among rows that passed every check): the row from the LAST
  line in input order is kept (input order = source_file name, then line). Dropped rows with the same kWh as the
  kept one count as duplicate_exact, others as duplicate_conflict.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from spark_jobs.ingestion.probe import Layout

REASONS = (
    "bad_header",
    "bad_column_count",
    "bad_encoding",
    "unknown_household",
    "unparseable_time",
    "off_grid_time",
    "null_reading",
    "unparseable_reading",
    "negative_reading",
    "implausible_reading",
)
STATUSES = (
    "header",
    "blank",
    "rejected",
    "clean",
    "duplicate_exact",
    "duplicate_conflict",
    "out_of_range",
    "not_sampled",
)

TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?$"
BOM = "\ufeff"


def read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Lines of the files with their file name, split start and a per-partition sequence number.

    ``row_id`` is taken straight after the scan, so within one split it is consecutive in line order; the line
    number of a row is then ``lines in earlier splits + row_id - first row_id of its split + 1`` (see
    ``line_offsets``), which costs one aggregate on the cached result instead of a zipWithIndex pass.
    """
    return spark.read.text(paths).select(
        F.col("value"),
        F.col("_metadata.file_name").alias("source_file"),
        F.col("_metadata.file_block_start").alias("block_start"),
        F.monotonically_increasing_id().alias("row_id"),
    )


def parse_lines(lines: DataFrame, layout: Layout, headers: Iterable[str], tz: str) -> DataFrame:
    """Split lines of one layout into fields and derived time columns (no checks yet).

    Built in steps of small selects so that expensive expressions (split, trim, the time parse) are computed
    once per row: Spark does not collapse projections that would duplicate non-trivial expressions.
    """
    headers = sorted(set(headers))
    value = F.col("value")
    df = lines.select(
        "source_file",
        "block_start",
        "row_id",
        value.alias("raw_line"),
        F.when(value.startswith(BOM), F.expr("substring(value, 2)")).otherwise(value).alias("text"),
    )
    df = df.select(
        "source_file",
        "block_start",
        "row_id",
        "raw_line",
        F.when(F.col("text").isin(headers) if headers else F.lit(False), F.lit("header"))
        .when(F.trim("text") == "", F.lit("blank"))
        .otherwise(F.lit("row"))
        .alias("line_kind"),
        (~F.is_valid_utf8("raw_line")).alias("bad_encoding"),
        F.split("text", ",", -1).alias("fields"),
    )

    def field(i: int | None) -> Column:
        return F.trim(F.get("fields", i)) if i is not None and i >= 0 else F.lit(None).cast("string")

    df = df.select(
        "source_file",
        "block_start",
        "row_id",
        "raw_line",
        "line_kind",
        "bad_encoding",
        F.lit(layout.name == "bad_header").alias("bad_header"),
        (F.size("fields") != F.lit(layout.ncols)).alias("bad_column_count"),
        field(layout.household).alias("household_id"),
        field(layout.tariff).alias("file_tariff"),
        field(layout.time).alias("t"),
        field(layout.kwh).alias("kwh_text"),
    )
    t = F.col("t")
    # The pattern guarantees zero-padded fields, so Spark's own string -> timestamp cast (a hand-written parser,
    # several times cheaper than make_timestamp over six substrings) reads the first 19 characters; the "Z" pins
    # them to UTC whatever the session time zone. Impossible dates (Feb 30) cast to null -> unparseable_time.
    ts = F.concat(F.substring(t, 1, 19), F.lit("Z")).try_cast("timestamp")
    on_grid = (
        F.substring(t, 15, 2).isin("00", "30")
        & (F.substring(t, 18, 2) == "00")
        & (F.btrim(F.substring(t, 20, 100), F.lit(".0")) == "")  # fraction, if any, is all zeros
    )
    df = df.select(
        *[c for c in df.columns if c != "t"],
        F.when(t.rlike(TIME_PATTERN), ts).alias("interval_start_utc"),
        on_grid.alias("on_grid"),
    )
    df = df.withColumn("_local", F.from_utc_timestamp(F.col("interval_start_utc"), tz))
    return df.select(
        *[c for c in df.columns if c != "_local"],
        F.to_date("_local").alias("local_date"),
        (F.hour("_local") * 2 + F.when(F.minute("_local") >= 30, 1).otherwise(0)).cast("int").alias("halfhour_local"),
    )


def read_household_info(spark: SparkSession, path: str) -> DataFrame:
    """household_id -> tariff_group from household_information.csv.

    ~5.6k rows: read on the driver with the csv module (no Spark job, no shuffle) and broadcast in the join.
    """
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = {}
        for rec in csv.DictReader(fh):
            hh = (rec.get("LCLid") or "").strip()
            if hh and hh not in rows:
                rows[hh] = ((rec.get("stdorToU") or "").strip() or None, True)
    return spark.createDataFrame(
        [(hh, tariff, known) for hh, (tariff, known) in sorted(rows.items())],
        "household_id string, info_tariff string, known boolean",
    )


def classify(parsed: DataFrame, info: DataFrame, max_kwh: float) -> DataFrame:
    """Join household information (broadcast) and give each line a status and, if rejected, a reason."""
    df = parsed.join(F.broadcast(info), on="household_id", how="left")
    df = df.withColumn("kwh", F.col("kwh_text").try_cast("double"))
    kwh_text = F.col("kwh_text")
    kwh = F.col("kwh")
    finite = kwh.isNotNull() & ~F.isnan(kwh) & (F.abs(kwh) != F.lit(float("inf")))
    reason = (
        F.when(F.col("bad_header"), "bad_header")
        .when(F.col("bad_column_count"), "bad_column_count")
        .when(F.col("bad_encoding"), "bad_encoding")
        .when(F.col("known").isNull(), "unknown_household")
        .when(F.col("interval_start_utc").isNull(), "unparseable_time")
        .when(~F.col("on_grid"), "off_grid_time")
        .when((kwh_text == "") | (F.lower(kwh_text) == "null") | kwh_text.isNull(), "null_reading")
        .when(~finite, "unparseable_reading")
        .when(kwh < 0, "negative_reading")
        .when(kwh > F.lit(max_kwh), "implausible_reading")
    )
    is_row = F.col("line_kind") == "row"
    df = df.withColumn("reason", F.when(is_row, reason))
    reason = F.col("reason")
    tariff = F.coalesce(F.when(F.col("file_tariff") != "", F.col("file_tariff")), F.col("info_tariff"))
    return df.select(
        "source_file",
        "block_start",
        "row_id",
        F.when(is_row & reason.isNotNull(), F.make_valid_utf8("raw_line")).alias("raw_line"),
        "household_id",
        tariff.alias("tariff_group"),
        "interval_start_utc",
        "halfhour_local",
        F.when(reason.isNull(), kwh).alias("energy_kwh"),
        "local_date",
        "reason",
        F.when(~is_row, F.col("line_kind")).when(reason.isNotNull(), "rejected").otherwise("valid").alias("status"),
    )


def sample_households(classified: DataFrame, n: int, seed: int) -> list[str]:
    """The deterministic household sample of ``--households N`` (rule in the module docstring)."""
    rows = (
        classified.filter(F.col("status") == "valid")
        .select("household_id")
        .distinct()
        .orderBy(F.xxhash64(F.lit(seed), F.col("household_id")), "household_id")
        .limit(n)
        .collect()
    )
    return [r["household_id"] for r in rows]


def mark_not_sampled(classified: DataFrame, households: list[str]) -> DataFrame:
    """Valid rows of households outside the sample become not_sampled (still counted, never written)."""
    out = (F.col("status") == "valid") & ~F.col("household_id").isin(households)
    return classified.withColumn("status", F.when(out, F.lit("not_sampled")).otherwise(F.col("status")))


def deduplicate(classified: DataFrame, num_partitions: int, from_date=None, to_date=None) -> DataFrame:
    """Resolve duplicates of valid rows and mark rows outside the date range.

    The frame is hash-partitioned by ``local_date`` once: that shuffle serves the duplicate window (its keys
    include local_date) and leaves each day in one task, already sorted, so the partitioned write needs no
    further sort and writes one file per day.
    """
    valid = F.col("status") == "valid"
    order = [F.col("source_file").desc(), F.col("block_start").desc(), F.col("row_id").desc()]
    w = Window.partitionBy("local_date", "household_id", "interval_start_utc", "status").orderBy(*order)
    rn = F.row_number().over(w)
    kept_kwh = F.first("energy_kwh").over(w)
    in_range = F.lit(True)
    if from_date is not None:
        in_range = in_range & (F.col("local_date") >= F.lit(from_date))
    if to_date is not None:
        in_range = in_range & (F.col("local_date") <= F.lit(to_date))
    status = (
        F.when(~valid, F.col("status"))
        .when(rn > 1, F.when(F.col("energy_kwh") == kept_kwh, "duplicate_exact").otherwise("duplicate_conflict"))
        .when(in_range, "clean")
        .otherwise("out_of_range")
    )
    return classified.repartition(num_partitions, "local_date").withColumn("status", status)


def block_stats(staged: DataFrame) -> DataFrame:
    """Counts per split, status and reason (small): feeds line numbers and the accounting."""
    return staged.groupBy("source_file", "block_start", "status", "reason").agg(
        F.count(F.lit(1)).alias("n"), F.min("row_id").alias("min_row_id")
    )


def line_offsets(stats_rows: list) -> dict[tuple[str, int], int]:
    """(source_file, block_start) -> value to add to row_id to get the 1-based line number in the file."""
    blocks: dict[tuple[str, int], list[int]] = {}
    for r in stats_rows:
        key = (r["source_file"], r["block_start"])
        n, lo = blocks.get(key, [0, r["min_row_id"]])
        blocks[key] = [n + r["n"], min(lo, r["min_row_id"])]
    offsets: dict[tuple[str, int], int] = {}
    before: dict[str, int] = {}
    for (source_file, block_start), (n, lo) in sorted(blocks.items()):
        done = before.get(source_file, 0)
        offsets[(source_file, block_start)] = done + 1 - lo
        before[source_file] = done + n
    return offsets


def rejected_rows(spark: SparkSession, staged: DataFrame, offsets: dict[tuple[str, int], int], run_id: str):
    """Quarantine rows in the READINGS_REJECTED layout, with their line number in the file."""
    off = spark.createDataFrame(
        [(f, b, o) for (f, b), o in offsets.items()], "source_file string, block_start long, offset long"
    )
    return (
        staged.filter(F.col("status") == "rejected")
        .join(F.broadcast(off), on=["source_file", "block_start"], how="left")
        .select(
            "source_file",
            (F.col("row_id") + F.col("offset")).alias("line_number"),
            "reason",
            "raw_line",
            F.make_valid_utf8("household_id").alias("household_id"),
            F.lit(run_id).alias("run_id"),
        )
    )


def clean_rows(staged: DataFrame) -> DataFrame:
    """Rows of readings_halfhourly, in the contract's column order."""
    return staged.filter(F.col("status") == "clean").select(
        "household_id",
        "tariff_group",
        "interval_start_utc",
        "halfhour_local",
        "energy_kwh",
        "source_file",
        "local_date",
    )
