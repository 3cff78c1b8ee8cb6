"""Schemas of the analytics outputs that the serving layer reads (grain in the dataset name, units in columns).

Times follow spark_jobs.common.schemas: ``*_utc`` instants in UTC, ``end_utc`` is exclusive (the end of the last
half hour of an event), ``local_date`` is the Europe/London day, ``month`` is the first day of a local month.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

ANOMALY_KINDS = ("spike", "sustained_high", "near_zero", "profile_shift")
BASELINE_KIND = "day_outlier"  # the K-means baseline flags days without saying why
DETECTOR_ROBUST = "robust_v1"
DETECTOR_KMEANS = "kmeans_baseline"

ANOMALIES = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("event_id", StringType(), False),  # sha1 of detector|household|kind|start
        StructField("detector", StringType(), False),  # robust_v1 | kmeans_baseline
        StructField("kind", StringType(), False),  # spike | sustained_high | near_zero | profile_shift | day_outlier
        StructField("start_utc", TimestampType(), False),
        StructField("end_utc", TimestampType(), False),  # exclusive
        StructField("duration_halfhours", IntegerType(), False),
        StructField("severity", DoubleType(), False),  # robust score: MAD-scaled distance from the reference
        StructField("severity_level", StringType(), False),  # low | medium | high
        StructField("observed_kwh", DoubleType(), True),  # energy over the event
        StructField("expected_kwh", DoubleType(), True),  # reference energy over the event
        StructField("expected_source", StringType(), False),  # forecast | self_history | kmeans_centroid
        StructField("local_date", DateType(), False),  # local day of start_utc; partition column
    ]
)

ANOMALY_ALERTS_DAILY = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("event_id", StringType(), False),
        StructField("kind", StringType(), False),
        StructField("severity", DoubleType(), False),
        StructField("severity_level", StringType(), False),
        StructField("event_start_utc", TimestampType(), False),
        StructField("event_end_utc", TimestampType(), False),
        StructField("day_rank", IntegerType(), False),  # 1 = most severe alert of the day
        StructField("local_date", DateType(), False),  # every day an event covers; partition column
    ]
)

SEGMENTS = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("status", StringType(), False),  # segmented | not_enough_data
        StructField("segment_id", IntegerType(), True),  # null when not enough data
        StructField("segment_label", StringType(), True),
        StructField("acorn_group", StringType(), False),
        StructField("tariff_group", StringType(), True),
        StructField("complete_days", IntegerType(), False),
        StructField("mean_daily_kwh", DoubleType(), True),
        StructField("peak_halfhour_local", IntegerType(), True),
        StructField("distance_to_centroid", DoubleType(), True),
        StructField("train_from", DateType(), False),
        StructField("train_to", DateType(), False),
        StructField("seed", IntegerType(), False),
        StructField("segmentation_version", StringType(), False),  # partition column
    ]
)

SEGMENT_PROFILES = StructType(
    [
        StructField("segment_id", IntegerType(), False),
        StructField("segment_label", StringType(), False),
        StructField("halfhour_local", IntegerType(), False),
        StructField("mean_kwh", DoubleType(), False),  # mean energy in this local half hour over members' days
        StructField("share_of_day", DoubleType(), False),  # of the typical day's energy, sums to 1 per segment
        StructField("segmentation_version", StringType(), False),  # partition column
    ]
)

SEGMENT_SUMMARY = StructType(
    [
        StructField("segment_id", IntegerType(), False),
        StructField("segment_label", StringType(), False),
        StructField("households", IntegerType(), False),
        StructField("mean_daily_kwh", DoubleType(), False),
        StructField("peak_halfhour_local", IntegerType(), False),
        StructField("share_affluent", DoubleType(), False),
        StructField("share_comfortable", DoubleType(), False),
        StructField("share_adversity", DoubleType(), False),
        StructField("share_other_acorn", DoubleType(), False),  # ACORN-U, empty group, unknown
        StructField("share_tou", DoubleType(), False),
        StructField("k", IntegerType(), False),
        StructField("silhouette", DoubleType(), True),
        StructField("households_not_enough_data", IntegerType(), False),
        StructField("segmentation_version", StringType(), False),  # partition column
    ]
)

TARIFF_COMPARISON_MONTHLY = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("tariff_group", StringType(), True),  # the trial arm: Std | ToU
        StructField("energy_kwh", DoubleType(), False),
        StructField("high_kwh", DoubleType(), False),
        StructField("normal_kwh", DoubleType(), False),
        StructField("low_kwh", DoubleType(), False),
        StructField("flat_cost_pence", DoubleType(), False),
        StructField("dtou_cost_pence", DoubleType(), False),
        StructField("saving_pence", DoubleType(), False),  # flat - dToU: > 0 means dToU is cheaper
        StructField("dtou_outcome", StringType(), False),  # winner | loser | neutral (|saving| < 1 % of flat)
        StructField("shift_share", DoubleType(), False),
        StructField("shifted_dtou_cost_pence", DoubleType(), False),
        StructField("shift_saving_pence", DoubleType(), False),  # dtou - shifted dtou
        StructField("readings_present", IntegerType(), False),
        StructField("readings_expected", IntegerType(), False),
        StructField("completeness", DoubleType(), False),
        StructField("schedule_year", IntegerType(), False),  # always 2013: the only published schedule
        StructField("schedule_mapped", BooleanType(), False),  # true when applied by calendar position to another year
        StructField("month", DateType(), False),  # partition column
    ]
)

NEIGHBOUR_COMPARISON_MONTHLY = StructType(
    [
        StructField("household_id", StringType(), False),
        StructField("status", StringType(), False),  # ok | not_enough_data | no_segment | too_few_peers
        StructField("acorn_group", StringType(), False),
        StructField("segment_id", IntegerType(), True),
        StructField("peer_group", StringType(), True),  # "<acorn_group>|<segment_id>"
        StructField("peer_count", IntegerType(), True),
        StructField("complete_days", IntegerType(), False),
        StructField("energy_kwh", DoubleType(), True),  # metered kWh in the month
        StructField("mean_daily_kwh", DoubleType(), True),  # over complete days
        StructField("month_kwh_normalised", DoubleType(), True),  # mean_daily_kwh x days in month
        StructField("percentile", DoubleType(), True),  # 0 = lowest of the peers, 1 = highest
        StructField("daily_percentile_mean", DoubleType(), True),  # mean of the per-day percentiles
        StructField("peer_median_kwh", DoubleType(), True),  # monthly, normalised
        StructField("efficient_neighbour_kwh", DoubleType(), True),  # 20th percentile of peers, monthly
        StructField("relative_to_peers", DoubleType(), True),  # mean_daily / peers' median daily
        StructField("history_relative_to_peers", DoubleType(), True),  # mean of the previous months' ratio
        StructField("trend_ratio", DoubleType(), True),  # relative_to_peers / history_relative_to_peers
        StructField("high_usage_alert", BooleanType(), False),
        StructField("segmentation_version", StringType(), True),
        StructField("month", DateType(), False),  # partition column
    ]
)
