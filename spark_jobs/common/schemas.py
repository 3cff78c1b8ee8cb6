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

SLOTS_PER_DAY = 48
SLOT_COLUMNS = [f"e{s:02d}" for s in range(SLOTS_PER_DAY)]  # kWh of local half hour 00:00 .. 23:30

# One row per household and local day with its 48 local half hours as columns (kWh, null where no reading; the
# fall-back day's repeated hour is summed into its two slots, the spring-forward day's missing hour stays null).
# Written by the aggregate job once, so the later stages (forecast, anomalies, tariffs, segments) read 1 row per
# household-day instead of re-reading and pivoting 48 readings each.
HOUSEHOLD_DAILY_HALFHOURS = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("tariff_group", StringType(), True),
        StructField("readings_present", IntegerType(), False),
        *[StructField(c, DoubleType(), True) for c in SLOT_COLUMNS],
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

# One row per household and target day D; every history feature uses data up to the end of D-1 only (weather:
# day D's observed values stand in for a day-ahead forecast). ``*_kwh`` history values are full-day kWh.
_DAILY_HISTORY_KWH = [
    "lag_1d_kwh",
    "lag_2d_kwh",
    "lag_3d_kwh",
    "lag_4d_kwh",
    "lag_5d_kwh",
    "lag_6d_kwh",
    "lag_7d_kwh",
    "lag_14d_kwh",
    "lag_21d_kwh",
    "lag_28d_kwh",
    "roll7_mean_kwh",
    "roll7_std_kwh",
    "roll7_min_kwh",
    "roll7_max_kwh",
    "roll28_mean_kwh",
    "roll28_std_kwh",
    "roll28_min_kwh",
    "roll28_max_kwh",
    "same_dow_mean_4w_kwh",
    "hh_mean_kwh",  # expanding household statistics over days < D
    "hh_std_kwh",
    "hh_dow_mean_kwh",
]
HOUSEHOLD_DAILY_FEATURES = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("tariff_group", StringType(), True),
        StructField("acorn_group", StringType(), True),
        *[StructField(c, DoubleType(), True) for c in _DAILY_HISTORY_KWH],
        StructField("roll28_valid_days", IntegerType(), True),
        StructField("hh_history_days", IntegerType(), True),
        StructField("dow_sin", DoubleType(), True),
        StructField("dow_cos", DoubleType(), True),
        StructField("doy_sin", DoubleType(), True),
        StructField("doy_cos", DoubleType(), True),
        StructField("is_weekend", IntegerType(), True),
        StructField("is_bank_holiday", IntegerType(), True),  # England & Wales, from the holidays library
        StructField("is_bank_holiday_prev_day", IntegerType(), True),
        StructField("temperature_mean_c", DoubleType(), True),
        StructField("temperature_min_c", DoubleType(), True),
        StructField("temperature_max_c", DoubleType(), True),
        StructField("heating_degree_days_c", DoubleType(), True),  # base 15.5 C
        StructField("humidity_mean", DoubleType(), True),  # 0..1
        StructField("temperature_mean_c_prev_day", DoubleType(), True),
        StructField("tou_high_share", DoubleType(), True),  # share of day's half hours priced High (ToU only)
        StructField("tou_low_share", DoubleType(), True),
        StructField("is_tou", IntegerType(), True),
        StructField("acorn_code", IntegerType(), True),  # Affluent 0, Comfortable 1, Adversity 2, ACORN-U 3, else -1
        StructField("local_date", DateType(), False),  # the target day D
    ]
)

FORECAST_METRICS = StructType(
    [
        StructField("model", StringType(), False),
        StructField("task", StringType(), False),
        StructField("fold", StringType(), False),  # "1", "2", ... or "overall"
        StructField("train_end", DateType(), True),  # last day of the fold's training window
        StructField("test_start", DateType(), True),
        StructField("test_end", DateType(), True),
        StructField("n_points", LongType(), False),
        StructField("mae_kwh", DoubleType(), True),
        StructField("rmse_kwh", DoubleType(), True),
        StructField("r2", DoubleType(), True),
        StructField("mase", DoubleType(), True),  # scaled by training MAE of same-day-last-week, pooled
        StructField("mape_pct", DoubleType(), True),  # group series only
        StructField("coverage_p10_p90", DoubleType(), True),  # quantile models only
        StructField("run_id", StringType(), False),
    ]
)
