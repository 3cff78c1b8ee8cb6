"""household_daily_features: >= 36 features, hand-checked lags/rolls/context, and no use of day D's readings."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import functions as F

from spark_jobs import aggregate, features
from spark_jobs.common.schemas import READINGS_HALFHOURLY
from spark_jobs.forecasting.synthetic import readings_frame


def _features_from_readings(spark, reference_dir, pdf: pd.DataFrame, from_date=None, to_date=None):
    readings = aggregate.dedupe_readings(spark.createDataFrame(pdf, READINGS_HALFHOURLY))
    info = aggregate.read_household_info(spark, reference_dir / "household_information.csv")
    daily = aggregate.build_household_daily(readings, info)
    return features.build_features(
        spark,
        daily,
        features.read_weather(spark, reference_dir / "weather_hourly_darksky.csv"),
        features.read_tariff(spark, reference_dir / "dtou_tariff_2013.csv"),
        from_date,
        to_date,
    )


def test_at_least_36_features_and_hand_checked_values(spark, reference_dir):
    assert len(features.FEATURE_COLUMNS) >= 36
    start = dt.date(2013, 3, 20)
    rows = [("A", "ToU", "Affluent", float(i + 1), 48, 48, 1.0, start + dt.timedelta(days=i)) for i in range(40)]
    rows[10] = rows[10][:3] + (10.3125, 45, 48, 45 / 48, rows[10][7])  # 45 of 48 half hours: scaled up to 11 kWh
    rows[11] = rows[11][:3] + (1.0, 4, 48, 4 / 48, rows[11][7])  # too incomplete: not a value
    daily = spark.createDataFrame(rows, aggregate.HOUSEHOLD_DAILY)
    out = features.build_features(
        spark,
        daily,
        features.read_weather(spark, reference_dir / "weather_hourly_darksky.csv"),
        features.read_tariff(spark, reference_dir / "dtou_tariff_2013.csv"),
    )
    assert out.count() == 40  # second day .. day after the last one
    r = out.where(F.col("local_date") == dt.date(2013, 4, 1)).first().asDict()  # D = day index 12, Easter Monday
    assert r["lag_1d_kwh"] is None and r["lag_2d_kwh"] == 11.0 and r["lag_3d_kwh"] == 10.0
    assert r["roll7_max_kwh"] == 11.0 and r["roll7_min_kwh"] == 6.0
    assert abs(r["roll7_mean_kwh"] - (6 + 7 + 8 + 9 + 10 + 11) / 6) < 1e-9
    assert r["hh_history_days"] == 11 and r["lag_14d_kwh"] is None
    assert r["is_bank_holiday"] == 1 and r["is_bank_holiday_prev_day"] == 0 and r["is_weekend"] == 0
    assert r["is_tou"] == 1 and r["acorn_code"] == 0
    assert r["temperature_min_c"] <= r["temperature_mean_c"] <= r["temperature_max_c"]
    assert r["heating_degree_days_c"] == max(0.0, 15.5 - r["temperature_mean_c"])
    assert 0.0 <= r["tou_low_share"] <= 1.0 and abs(r["dow_sin"]) < 1e-9  # Monday
    last = out.where(F.col("local_date") == start + dt.timedelta(days=40)).first()
    assert last.lag_1d_kwh == 40.0 and last.roll28_valid_days == 28


def test_changing_day_d_readings_does_not_change_day_d_features(spark, reference_dir):
    pdf = readings_frame(n_households=2, start=dt.date(2013, 2, 1), days=40, seed=1)
    target = dt.date(2013, 3, 5)
    changed = pdf.copy()
    on_target = changed["local_date"] == target
    changed.loc[on_target, "energy_kwh"] = changed.loc[on_target, "energy_kwh"] * 7 + 1
    changed = changed[~(on_target & (changed["halfhour_local"] < 5))]  # and drop a few of D's readings

    base = _features_from_readings(spark, reference_dir, pdf).toPandas().set_index(["household_id", "local_date"])
    alt = _features_from_readings(spark, reference_dir, changed).toPandas().set_index(["household_id", "local_date"])
    pd.testing.assert_frame_equal(base.xs(target, level=1), alt.xs(target, level=1))
    pd.testing.assert_frame_equal(
        base.loc[base.index.get_level_values(1) < target], alt.loc[alt.index.get_level_values(1) < target]
    )
    # The change is visible from D+1 on, so the comparison above can fail.
    next_day = target + dt.timedelta(days=1)
    assert not base.xs(next_day, level=1)["lag_1d_kwh"].equals(alt.xs(next_day, level=1)["lag_1d_kwh"])


def test_a_days_features_alone_equal_those_of_the_whole_history(spark, reference_dir):
    """The daily run computes the lags and rolling windows only over the 28 days a target day looks back on;
    each feature of those days must be what the history computation gives (lag_28d and the expanding stats
    reach furthest back)."""
    from pyspark.testing import assertDataFrameEqual

    pdf = readings_frame(n_households=3, start=dt.date(2013, 1, 1), days=70, seed=3)
    first, last = dt.date(2013, 3, 1), dt.date(2013, 3, 3)
    full = _features_from_readings(spark, reference_dir, pdf).where(F.col("local_date").between(first, last))
    alone = _features_from_readings(spark, reference_dir, pdf, first, last)
    assert alone.count() == 3 * 3 and alone.where(F.col("lag_28d_kwh").isNull()).count() == 0
    assertDataFrameEqual(alone, full, rtol=1e-9)
