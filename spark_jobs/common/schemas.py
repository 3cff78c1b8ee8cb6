"""Schemas of the datasets that stages exchange (the contracts between jobs).

Conventions (also in the README):
- ``interval_start_utc`` is the START of a half-hour interval, in UTC. The LCL files are on the GMT clock all
  year, so their ``DateTime`` is already UTC; it is read as the start of the half hour it labels.
- ``local_date`` is the Europe/London calendar day that contains ``interval_start_utc`` (46 half hours on the
  spring-forward day, 50 on the fall-back day, 48 otherwise).
- ``halfhour_local`` is the local wall-clock half hour, 0 (00:00-00:30) .. 47 (23:30-24:00).
- Every Parquet dataset that grows with time is partitioned by ``local_date`` so one day (or a month of days)
  can be overwritten alone with dynamic partition overwrite.
"""

from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

READINGS_HALFHOURLY = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("tariff_group", StringType(), True),  # "Std" | "ToU"
        StructField("interval_start_utc", TimestampType(), False),
        StructField("halfhour_local", IntegerType(), False),
        StructField("energy_kwh", DoubleType(), False),
        StructField("source_file", StringType(), False),
        StructField("local_date", DateType(), False),  # partition column, kept last as Spark writes it
    ]
)

READINGS_REJECTED = StructType(
    [
        StructField("source_file", StringType(), False),
        StructField("line_number", LongType(), True),
        StructField("reason", StringType(), False),
        StructField("raw_line", StringType(), True),
        StructField("household_id", StringType(), True),
        StructField("run_id", StringType(), True),
    ]
)

HOUSEHOLD_DAILY = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("tariff_group", StringType(), True),
        StructField("acorn_group", StringType(), True),  # Affluent | Comfortable | Adversity | ACORN-U | unknown
        StructField("energy_kwh", DoubleType(), True),
        StructField("readings_present", IntegerType(), False),
        StructField("readings_expected", IntegerType(), False),  # 46, 48 or 50 on DST days
        StructField("completeness", DoubleType(), False),  # readings_present / readings_expected
        StructField("local_date", DateType(), False),
    ]
)

GROUP_HALFHOURLY = StructType(
    [
        StructField("group_kind", StringType(), False),  # "tariff" | "acorn" | "all"
        StructField("group_name", StringType(), False),
        StructField("interval_start_utc", TimestampType(), False),
        StructField("halfhour_local", IntegerType(), False),
        StructField("mean_energy_kwh", DoubleType(), True),
        StructField("total_energy_kwh", DoubleType(), True),
        StructField("households_reporting", IntegerType(), False),
        StructField("local_date", DateType(), False),
    ]
)

FORECASTS = StructType(
    [
        StructField("task", StringType(), False),  # household_daily | group_halfhourly | household_halfhourly
        StructField("series_id", StringType(), False),  # household_id, or "<group_kind>:<group_name>"
        StructField("model", StringType(), False),  # e.g. hgb_quantile, baseline_yesterday
        StructField("model_version", StringType(), False),  # training window, e.g. "train_2013-09-30"
        StructField("target_time_utc", TimestampType(), False),  # day start (daily tasks) or half-hour start
        StructField("p10_kwh", DoubleType(), True),
        StructField("p50_kwh", DoubleType(), False),
        StructField("p90_kwh", DoubleType(), True),
        StructField("actual_kwh", DoubleType(), True),  # filled when the actual is known (backtests)
        StructField("local_date", DateType(), False),  # the target day
    ]
)
