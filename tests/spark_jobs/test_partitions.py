"""The shared partitioned writers: one file per partition value, only the run's slice replaced."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from spark_jobs.common.partitions import overwrite_partitions, replace_partitions

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(5)]


def _frame(spark, days, value: float):
    """20 rows per day spread over 4 input partitions, so an unshuffled write would give up to 4 files a day."""
    rows = [(f"H{i:02d}", d, value) for d in days for i in range(20)]
    return spark.createDataFrame(rows, "household_id string, local_date date, energy_kwh double").repartition(4)


def _files_per_folder(path):
    return {p.name: len(list(p.glob("*.parquet"))) for p in path.iterdir() if p.is_dir()}


def test_overwrite_partitions_writes_one_file_per_day_and_keeps_other_days(spark, tmp_path):
    out = tmp_path / "household_daily"
    overwrite_partitions(_frame(spark, DAYS, 1.0), out)
    assert _files_per_folder(out) == {f"local_date={d}": 1 for d in DAYS}

    overwrite_partitions(_frame(spark, DAYS[1:2], 2.0), out)  # rerun of one day replaces only that day
    got = spark.read.parquet(str(out)).groupBy("local_date").agg(F.sum("energy_kwh").alias("kwh"))
    expected = spark.createDataFrame([(d, 40.0 if d == DAYS[1] else 20.0) for d in DAYS], "local_date date, kwh double")
    assertDataFrameEqual(got, expected)
    assert _files_per_folder(out)[f"local_date={DAYS[1]}"] == 1


def test_replace_partitions_drops_a_slice_that_now_has_no_rows(spark, tmp_path):
    out = tmp_path / "anomalies"
    replace_partitions(_frame(spark, DAYS, 1.0), out, "local_date")
    # The run owns days 0-2 but produced rows for day 0 only: days 1 and 2 must not keep their old rows.
    replace_partitions(_frame(spark, DAYS[:1], 3.0), out, "local_date", [str(d) for d in DAYS[:3]])
    got = spark.read.parquet(str(out)).groupBy("local_date").agg(F.sum("energy_kwh").alias("kwh"))
    expected = spark.createDataFrame([(DAYS[0], 60.0), (DAYS[3], 20.0), (DAYS[4], 20.0)], "local_date date, kwh double")
    assertDataFrameEqual(got, expected)
    assert set(_files_per_folder(out).values()) == {1}
