"""household_daily and group_halfhourly: sums, DST day lengths, completeness, densified gaps, duplicates, reruns."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from spark_jobs import aggregate
from spark_jobs.common.schemas import READINGS_HALFHOURLY

UTC = dt.UTC


def _day(hh: str, day: dt.date, kwh: float, n: int = 48, tariff: str = "Std") -> list[tuple]:
    """n half hours of one winter (GMT = UTC) day."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [(hh, tariff, start + dt.timedelta(minutes=30 * i), i, kwh, "test.csv", day) for i in range(n)]


def _attributes(spark):
    raw = spark.createDataFrame(
        [("A", "Std", "ACORN-E", "Affluent", "b0"), ("B", "ToU", "ACORN-", "ACORN-", "b0")],
        aggregate.HOUSEHOLD_INFO_SCHEMA,
    )
    return aggregate.household_attributes(raw)


def test_household_daily_sums_completeness_and_gaps(spark):
    d1, d2, d3 = dt.date(2013, 1, 7), dt.date(2013, 1, 8), dt.date(2013, 1, 9)
    rows = _day("A", d1, 0.5) + _day("A", d3, 0.25, n=24) + _day("B", d1, 0.1, tariff="ToU")
    rows.append(rows[0])  # exact duplicate must not double-count
    readings = aggregate.dedupe_readings(spark.createDataFrame(rows, READINGS_HALFHOURLY))
    out = aggregate.build_household_daily(readings, _attributes(spark))
    expected = spark.createDataFrame(
        [
            ("A", "Std", "Affluent", 24.0, 48, 48, 1.0, d1),
            ("A", "Std", "Affluent", None, 0, 48, 0.0, d2),
            ("A", "Std", "Affluent", 6.0, 24, 48, 0.5, d3),
            ("B", "ToU", "unknown", 4.8, 48, 48, 1.0, d1),
        ],
        out.schema,
    )
    assertDataFrameEqual(out, expected, rtol=1e-9)


def test_expected_halfhours_on_clock_change_days(spark):
    df = spark.createDataFrame(
        [(dt.date(2013, 3, 31),), (dt.date(2013, 10, 27),), (dt.date(2013, 6, 1),)], "local_date date"
    )
    got = {
        r.local_date: r.n
        for r in df.select(
            "local_date", aggregate.expected_halfhours("local_date", "Europe/London").alias("n")
        ).collect()
    }
    assert got == {dt.date(2013, 3, 31): 46, dt.date(2013, 10, 27): 50, dt.date(2013, 6, 1): 48}


def test_group_halfhourly_mean_total_reporting(spark):
    d1 = dt.date(2013, 1, 7)
    rows = _day("A", d1, 0.5, n=2) + _day("B", d1, 0.1, n=1, tariff="ToU") + _day("C", d1, 0.3, n=1)
    readings = aggregate.dedupe_readings(spark.createDataFrame(rows, READINGS_HALFHOURLY))
    out = aggregate.build_group_halfhourly(readings, _attributes(spark))
    t0 = dt.datetime(2013, 1, 7, tzinfo=UTC)
    first = out.where("interval_start_utc = timestamp'2013-01-07 00:00:00'").select(
        "group_kind", "group_name", "mean_energy_kwh", "total_energy_kwh", "households_reporting"
    )
    assertDataFrameEqual(
        first,
        [
            Row(
                group_kind="tariff", group_name="Std", mean_energy_kwh=0.4, total_energy_kwh=0.8, households_reporting=2
            ),
            Row(
                group_kind="tariff", group_name="ToU", mean_energy_kwh=0.1, total_energy_kwh=0.1, households_reporting=1
            ),
            Row(
                group_kind="acorn",
                group_name="Affluent",
                mean_energy_kwh=0.5,
                total_energy_kwh=0.5,
                households_reporting=1,
            ),
            Row(
                group_kind="acorn",
                group_name="unknown",
                mean_energy_kwh=0.2,
                total_energy_kwh=0.4,
                households_reporting=2,
            ),
            Row(group_kind="all", group_name="all", mean_energy_kwh=0.3, total_energy_kwh=0.9, households_reporting=3),
        ],
        rtol=1e-9,
    )
    assert out.where(f"interval_start_utc = timestamp'{(t0 + dt.timedelta(minutes=30)).isoformat()}'").count() == 3


def test_main_rerun_of_a_date_range_only_replaces_those_partitions(spark, tmp_path):
    lake = tmp_path / "lake"
    days = [dt.date(2013, 1, 7), dt.date(2013, 1, 8)]
    rows = [r for d in days for r in _day("A", d, 0.5)]
    spark.createDataFrame(rows, READINGS_HALFHOURLY).write.partitionBy("local_date").parquet(
        str(lake / "readings_halfhourly")
    )
    info = tmp_path / "info.csv"
    info.write_text("LCLid,stdorToU,Acorn,Acorn_grouped,file\r\nA,Std,ACORN-E,Affluent,block_0\r\n")
    assert aggregate.main(["--lake", str(lake), "--household-info", str(info)]) == 0
    # Change day 2 only and recompute it alone: day 1 must keep its partition, day 2 must reflect the change.
    changed = [r[:4] + (1.0,) + r[5:] for r in _day("A", days[1], 0.5)]
    spark.createDataFrame(changed, READINGS_HALFHOURLY).write.mode("overwrite").option(
        "partitionOverwriteMode", "dynamic"
    ).partitionBy("local_date").parquet(str(lake / "readings_halfhourly"))
    assert (
        aggregate.main(
            ["--lake", str(lake), "--household-info", str(info), "--from-date", "2013-01-08", "--to-date", "2013-01-08"]
        )
        == 0
    )
    daily = pq.read_table(lake / "household_daily").to_pandas()
    by_day = {str(d)[:10]: e for d, e in zip(daily["local_date"], daily["energy_kwh"], strict=True)}
    assert by_day == {"2013-01-07": 24.0, "2013-01-08": 48.0}
    assert spark.read.parquet(str(lake / "group_halfhourly")).where("group_kind = 'all'").count() == 96
    # The half-hour matrix follows the same rerun: one row per household-day, slots summing to the day's energy.
    halfhours = pq.read_table(lake / "household_daily_halfhours").to_pandas()
    slot_sums = halfhours[[f"e{s:02d}" for s in range(48)]].sum(axis=1)
    by_day = {str(d)[:10]: e for d, e in zip(halfhours["local_date"], slot_sums, strict=True)}
    assert by_day == {"2013-01-07": 24.0, "2013-01-08": 48.0}
    assert halfhours["readings_present"].tolist() == [48, 48]
