"""Forecasting core: no input after the training end, honest rolling calibration, metrics, folds, artifacts."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from spark_jobs import forecast
from spark_jobs.common.schemas import FORECASTS
from spark_jobs.features import FEATURE_COLUMNS
from spark_jobs.forecasting import model as qm
from spark_jobs.forecasting import tasks as T
from spark_jobs.forecasting.metrics import mase_scale, point_metrics
from spark_jobs.forecasting.synthetic import readings_frame

POISON = 1e6


def _cube(readings: pd.DataFrame, first: dt.date, last: dt.date) -> T.Cube:
    wide = readings.pivot_table(index=["household_id", "local_date"], columns="halfhour_local", values="energy_kwh")
    wide.columns = [f"hh_{h}" for h in wide.columns]
    wide = wide.reset_index().rename(columns={"household_id": "series_id"})
    return T.cube_from_wide(wide, "series_id", None, {"SYN000002"}, first, last)


def _hh_task(readings: pd.DataFrame, first: dt.date, last: dt.date) -> forecast.HalfHourlyTask:
    cube = _cube(readings, first, last)
    ctx = pd.DataFrame({"local_date": cube.days})
    for c in T.HH_CONTEXT_COLUMNS:
        ctx[c] = 0.0
    ctx["dow_sin"] = np.sin(2 * np.pi * pd.DatetimeIndex(cube.days).dayofweek / 7)
    band = np.zeros((len(cube.days), 48), np.float32)
    return forecast.HalfHourlyTask(cube, ctx, band, "household_halfhourly", with_mape=False)


def _daily_features(n_households: int, first: dt.date, days: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = np.arange(np.datetime64(first), np.datetime64(first) + days)
    idx = pd.MultiIndex.from_product(
        [[f"H{i}" for i in range(n_households)], dates], names=["household_id", "local_date"]
    )
    f = pd.DataFrame(rng.uniform(5, 15, size=(len(idx), len(FEATURE_COLUMNS))), index=idx, columns=FEATURE_COLUMNS)
    f["roll28_valid_days"] = 28
    f = f.reset_index()
    f["local_date"] = f["local_date"].values.astype("datetime64[D]")
    labels = f[["household_id", "local_date"]].copy()
    labels["energy_kwh"] = f["lag_7d_kwh"] * 0.5 + f["roll7_mean_kwh"] * 0.5 + rng.normal(0, 1, len(f))
    labels["completeness"] = 1.0
    return f, labels


def test_training_on_data_ending_at_t_uses_no_input_after_t(tmp_path):
    """Every model input (feature rows, targets, calibration) is dated <= T; poisoning everything after T
    changes nothing in the fitted model, while poisoning a day before T does (so the check can fail)."""
    T_end = dt.date(2013, 3, 31)
    readings = readings_frame(n_households=4, start=dt.date(2013, 1, 1), days=110, seed=2)
    poisoned = readings.copy()
    after = pd.to_datetime(poisoned["interval_start_utc"]) >= pd.Timestamp("2013-04-01", tz="UTC")
    poisoned.loc[after, "energy_kwh"] = POISON
    truncated = readings[~after]
    probe = _hh_task(readings, dt.date(2013, 1, 1), dt.date(2013, 4, 19)).design(
        dt.date(2013, 4, 1), dt.date(2013, 4, 19)
    )

    fitted = {}
    for label, data in (("poisoned", poisoned), ("truncated", truncated)):
        task = _hh_task(data, dt.date(2013, 1, 1), dt.date(2013, 4, 19))
        model, fit = forecast.fit_calibrated(task, T_end, dt.date(2013, 1, 1), cal_days=14)
        assert fit.days.max() <= np.datetime64(T_end)
        assert np.nanmax(np.abs(fit.X)) < 1e3 and np.nanmax(fit.y_kwh) < 1e3
        assert np.datetime64(model.meta["max_input_date"]) <= np.datetime64(T_end)
        assert max(model.meta["calibration_scores"]["days"]) <= np.datetime64(T_end)
        assert max(abs(s) for s in model.meta["calibration_scores"]["scores"]) < 1e3
        fitted[label] = model.predict_raw(probe.X)
    np.testing.assert_array_equal(fitted["poisoned"], fitted["truncated"])

    before = readings.copy()
    before.loc[pd.to_datetime(before["local_date"]) == pd.Timestamp("2013-03-01"), "energy_kwh"] *= 5
    model_b, _ = forecast.fit_calibrated(
        _hh_task(before, dt.date(2013, 1, 1), dt.date(2013, 4, 19)), T_end, dt.date(2013, 1, 1), 14
    )
    assert not np.array_equal(model_b.predict_raw(probe.X), fitted["truncated"])

    # Daily task: rows after T (poisoned features and labels) never reach the fit.
    feats, labels = _daily_features(5, dt.date(2013, 1, 1), 120)
    late = feats["local_date"] > np.datetime64(T_end)
    bad_feats, bad_labels = feats.copy(), labels.copy()
    bad_feats.loc[late, FEATURE_COLUMNS] = POISON
    bad_labels.loc[late, "energy_kwh"] = POISON
    m1, fit1 = forecast.fit_calibrated(forecast.DailyTask(bad_feats, bad_labels), T_end, None, 28)
    m2, _ = forecast.fit_calibrated(forecast.DailyTask(feats[~late], labels[~late]), T_end, None, 28)
    assert fit1.days.max() <= np.datetime64(T_end) and np.nanmax(np.abs(fit1.X[:, :-1])) < 1e3
    X_probe = T.daily_design(feats[late], labels[late]).X
    np.testing.assert_array_equal(m1.predict_raw(X_probe), m2.predict_raw(X_probe))


def test_rolling_calibration_uses_only_earlier_days_and_hits_80_percent():
    rng = np.random.default_rng(0)
    days = np.repeat(np.arange(np.datetime64("2013-01-01"), np.datetime64("2013-03-01")), 200)
    scores = rng.normal(size=days.size)
    adj = qm.rolling_adjustment(days, scores, np.array(["2013-02-10"], "datetime64[D]"), 28)
    changed = scores.copy()
    changed[days >= np.datetime64("2013-02-10")] += 100  # the target day and later must not matter
    assert qm.rolling_adjustment(days, changed, np.array(["2013-02-10"], "datetime64[D]"), 28) == adj
    changed[days == np.datetime64("2013-02-09")] += 100  # the day before does
    assert qm.rolling_adjustment(days, changed, np.array(["2013-02-10"], "datetime64[D]"), 28) != adj

    # Raw quantiles far too narrow; calibration on past scores restores ~80 % coverage on new data.
    y = rng.normal(10, 2, 20000)
    q = np.column_stack([np.full_like(y, 9.5), np.full_like(y, 10), np.full_like(y, 10.5)])
    a = qm.rolling_adjustment(
        np.full(10000, np.datetime64("2013-01-01")),
        qm.conformity_scores(q[:10000], y[:10000]),
        np.array(["2013-01-02"], "datetime64[D]"),
        28,
    )
    p = qm.calibrated_interval(q[10000:], np.full(10000, a[np.datetime64("2013-01-02")]))
    cover = np.mean((y[10000:] >= p[:, 0]) & (y[10000:] <= p[:, 2]))
    assert 0.78 <= cover <= 0.82
    assert (p[:, 0] <= p[:, 1]).all() and (p[:, 1] <= p[:, 2]).all() and (p >= 0).all()


def test_metrics_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    m = point_metrics(
        y, np.array([1.0, 2.0, 3.0, 6.0]), mase_scale_kwh=1.0, p10=y - 1, p90=np.array([2, 3, 4, 4.5]), with_mape=True
    )
    assert m["mae_kwh"] == 0.5 and m["rmse_kwh"] == 1.0 and m["mase"] == 0.5
    assert m["r2"] == pytest.approx(1 - 4 / 5) and m["mape_pct"] == pytest.approx(12.5)
    assert m["coverage_p10_p90"] == 1.0
    assert mase_scale(np.array([2.0, 4.0, np.nan]), np.array([1.0, 1.0, 1.0])) == 2.0


def test_folds_expand_and_tile_the_test_period():
    folds = forecast.make_folds(dt.date(2013, 9, 30), dt.date(2013, 12, 31), 3)
    assert folds[0] == (dt.date(2013, 9, 30), dt.date(2013, 10, 1), dt.date(2013, 10, 31))
    assert folds[-1][2] == dt.date(2013, 12, 31)
    for (o1, _, e1), (o2, s2, _) in zip(folds, folds[1:], strict=False):
        assert o2 == e1 and s2 == e1 + dt.timedelta(days=1) and o2 > o1


def test_backtest_writes_versioned_models_and_reports_short_history(tmp_path):
    readings = readings_frame(n_households=3, start=dt.date(2013, 1, 1), days=100, seed=4)
    late_joiner = readings_frame(n_households=1, start=dt.date(2013, 3, 25), days=16, seed=5)
    late_joiner["household_id"] = "LATE01"
    task = _hh_task(pd.concat([readings, late_joiner]), dt.date(2013, 1, 1), dt.date(2013, 4, 10))
    fc, rows, report = forecast.backtest(
        {"household_halfhourly": task}, dt.date(2013, 3, 20), dt.date(2013, 4, 9), 2, tmp_path, "Europe/London", "t"
    )
    assert (tmp_path / "household_halfhourly" / "train_2013-03-20" / "model.joblib").exists()
    meta = json.loads((tmp_path / "household_halfhourly" / "train_2013-03-30" / "meta.json").read_text())
    saved, _ = qm.load_model(tmp_path, "household_halfhourly", "train_2013-03-30")
    assert meta["calibration_scores"]["count"] == len(saved.meta["calibration_scores"]["scores"]) > 0
    assert meta["calibration_scores"]["last_day"] == "2013-03-30"
    bad = report["tasks"]["household_halfhourly"]["bad_input"]["insufficient_history"]
    assert bad["households_never_forecast_ids"] == ["LATE01"] and bad["households_never_forecast"] == 1
    assert set(fc["model"]) == set(forecast.MODELS) and "LATE01" not in set(fc["series_id"])
    assert {r["fold"] for r in rows} == {"1", "2", "overall"}
    hgb = fc[fc["model"] == T.MODEL_NAME]
    assert (hgb["p10_kwh"] <= hgb["p50_kwh"]).all() and (hgb["p50_kwh"] <= hgb["p90_kwh"]).all()
    assert hgb["target_time_utc"].min() >= pd.Timestamp("2013-03-21", tz="UTC")


def test_predict_recomputes_only_the_scores_the_model_does_not_hold():
    """A forecast's calibration needs scores of the last ``calibration_days``; those up to the model's training end
    are in its meta, so only later observed days are read and scored (none for a backfill before that end)."""
    meta = {"calibration_days": 28, "train_end": "2013-02-28"}
    assert forecast.past_first_day(meta, dt.date(2013, 3, 2)) == dt.date(2013, 3, 1)
    assert forecast.past_first_day(meta, dt.date(2013, 3, 1)) == dt.date(2013, 3, 1)
    assert forecast.past_first_day(meta, dt.date(2013, 6, 1)) == dt.date(2013, 5, 4)
    assert forecast.past_first_day(meta, dt.date(2013, 1, 5)) == dt.date(2013, 1, 5)


def test_write_forecasts_overwrites_only_the_days_written(spark, tmp_path):
    """A rerun of one day replaces that day's rows (no duplicates) and keeps the other days, in the layout Spark
    reads with the table's schema (one file per day and write)."""

    def rows(days: list[str], model: str) -> pd.DataFrame:
        d = np.array(days * 3, dtype="datetime64[D]")
        return pd.DataFrame(
            {
                "task": "household_daily",
                "series_id": np.repeat(["A", "B", "C"], len(days)),
                "model": model,
                "model_version": "v",
                "target_time_utc": pd.DatetimeIndex(d.astype("datetime64[ns]")).tz_localize("UTC").array,
                "p10_kwh": 1.0,
                "p50_kwh": 2.0,
                "p90_kwh": 3.0,
                "actual_kwh": np.nan,
                "local_date": d,
            }
        )

    path = tmp_path / "forecasts"
    forecast.write_forecasts(rows(["2013-03-02", "2013-03-01"], "first"), path)
    stale = path / "local_date=2013-03-02" / ".part-left-by-a-crash.snappy.parquet"
    stale.write_bytes(b"half a file")
    forecast.write_forecasts(rows(["2013-03-02"], "second"), path)
    forecast.write_forecasts(rows([], "none"), path)  # no forecast rows: no day replaced
    out = spark.read.schema(FORECASTS).parquet(str(path)).toPandas()
    by_day = out.groupby(out["local_date"].astype(str))["model"].agg(lambda m: sorted(set(m)))
    assert by_day.to_dict() == {"2013-03-01": ["first"], "2013-03-02": ["second"]}
    assert len(out) == 6
    files = sorted(p.relative_to(path).parts for p in path.glob("*/*"))
    assert [day for day, _ in files] == ["local_date=2013-03-01", "local_date=2013-03-02"]
    assert all(name.startswith("part-") and name.endswith(".parquet") for _, name in files)
    assert "local_date" not in pq.read_schema(path / "/".join(files[0])).names  # the folder says the day
    assert out["target_time_utc"].min() == pd.Timestamp("2013-03-01")  # midnight UTC, read back in the session's UTC


def test_read_lake_gives_what_spark_reads_for_the_day_range(spark, tmp_path):
    """The driver's pyarrow read of a table Spark wrote (day folders, explicit schema, nulls) equals Spark's own
    read of the same days, values and dtypes."""
    from spark_jobs.common.partitions import overwrite_partitions
    from spark_jobs.common.schemas import HOUSEHOLD_DAILY

    rows = [
        ("H1", "Std", "Affluent", 10.0 + i, 48, 48, 1.0, dt.date(2013, 3, 1) + dt.timedelta(days=i)) for i in range(4)
    ] + [("H2", "ToU", None, None, 0, 48, 0.0, dt.date(2013, 3, 2))]
    path = tmp_path / "household_daily"
    overwrite_partitions(spark.createDataFrame(rows, HOUSEHOLD_DAILY), path)
    first, last = dt.date(2013, 3, 2), dt.date(2013, 3, 3)
    cols = ["household_id", "local_date", "energy_kwh", "readings_present", "acorn_group"]
    got = forecast.read_lake(path, HOUSEHOLD_DAILY, first, last, cols)
    spark_read = spark.read.schema(HOUSEHOLD_DAILY).parquet(str(path))
    want = forecast._to_pandas(spark_read.where(F.col("local_date").between(first, last)))
    key = ["household_id", "local_date"]
    got, want = got.sort_values(key, ignore_index=True), want[cols].sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
    assert got["local_date"].astype(str).tolist() == ["2013-03-02", "2013-03-03", "2013-03-02"]
    assert np.isnan(got["energy_kwh"].iloc[2]) and got["acorn_group"].iloc[2] is None


def test_quantile_fits_in_worker_processes_equal_fits_in_process(monkeypatch):
    """The three quantile regressors fitted side by side in worker processes are the same models."""
    from spark_jobs.common.settings import get_settings

    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 4)).astype("float32")
    y = X[:, 0] + rng.gamma(2.0, 0.3, size=3000)
    fitted = {}
    for processes in ("1", "2"):
        monkeypatch.setenv("SMARTMETER_FORECAST_FIT_PROCESSES", processes)
        get_settings.cache_clear()
        fitted[processes] = qm.QuantileModel(["a", "b", "c", "d"]).fit(X, y).predict_raw(X)
    get_settings.cache_clear()
    np.testing.assert_array_equal(fitted["1"], fitted["2"])
    assert (fitted["1"][:, 0] < fitted["1"][:, 2]).mean() > 0.95  # P10 below P90: three different quantiles


def test_tou_band_array_maps_the_schedules_utc_times_to_local_slots(tmp_path):
    csv = tmp_path / "tariff.csv"
    csv.write_text(
        "TariffDateTime,Tariff\n"
        "2013-01-01 23:30:00,Low\n"  # GMT: local 23:30, slot 47
        "2013-03-31 00:30:00,Low\n"  # before the clocks go forward at 01:00 UTC: local 00:30, slot 1
        "2013-03-31 01:00:00,High\n"  # BST from here: local 02:00, slot 4
        "2013-06-01 16:00:00, High \n"  # padded as in the original files; local 17:00, slot 34
        "2013-06-02 10:00:00,Normal\n"
        "2014-01-01 00:00:00,High\n"  # outside the days asked for
    )
    days = np.arange(np.datetime64("2013-01-01"), np.datetime64("2013-06-03"))
    band = forecast.tou_band_array(csv, days, "Europe/London")
    at = {(str(days[d]), s): band[d, s] for d, s in zip(*np.nonzero(band), strict=True)}
    assert at == {("2013-01-01", 47): -1, ("2013-03-31", 1): -1, ("2013-03-31", 4): 1, ("2013-06-01", 34): 1}
    csv.write_text("TariffDateTime,Tariff\n2013-01-01T00:00,High\n")
    with pytest.raises(ValueError, match=r"tariff\.csv: TariffDateTime"):
        forecast.tou_band_array(csv, days, "Europe/London")


def test_group_cube_reads_the_tariff_groups_of_group_halfhourly(spark, tmp_path):
    """Only tariff groups, one series each; the fall-back day's repeated slot averaged; a missing mean is NaN."""
    from spark_jobs.common.partitions import overwrite_partitions
    from spark_jobs.common.schemas import GROUP_HALFHOURLY

    fall_back, t = dt.date(2013, 10, 27), dt.datetime(2013, 10, 27)
    rows = [
        ("tariff", "Std", t, 2, 1.0, 10.0, 10, fall_back),
        ("tariff", "Std", t + dt.timedelta(hours=1), 2, 3.0, 30.0, 10, fall_back),  # the repeated hour
        ("tariff", "ToU", t, 0, None, None, 0, fall_back),
        ("tariff", "ToU", t, 47, 0.5, 5.0, 10, fall_back - dt.timedelta(days=1)),
        ("acorn", "Affluent", t, 2, 9.0, 90.0, 10, fall_back),
        ("tariff", "Std", t, 2, 7.0, 70.0, 10, fall_back + dt.timedelta(days=1)),  # after the range
    ]
    overwrite_partitions(spark.createDataFrame(rows, GROUP_HALFHOURLY), tmp_path / "group_halfhourly")
    cube = forecast.read_group_cube(tmp_path, fall_back - dt.timedelta(days=1), fall_back)
    assert list(cube.series) == ["tariff:Std", "tariff:ToU"] and list(cube.is_tou) == [False, True]
    assert cube.values.shape == (2, 2, 48)
    assert cube.values[0, 1, 2] == 2.0 and np.isnan(cube.values[1, 1, 0]) and cube.values[1, 0, 47] == 0.5
    assert np.isfinite(cube.values).sum() == 2
