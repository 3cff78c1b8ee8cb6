"""Forecast job: day-ahead forecasts issued at midnight for three tasks, with train / predict / backtest modes.

Tasks: ``household_daily`` (kWh per household-day, one global model), ``group_halfhourly`` (mean kWh per
half hour of the tariff groups), ``household_halfhourly`` (kWh per half hour of each household with enough
history). Models: ``hgb_quantile`` (scikit-learn HistGradientBoosting, P10/P50/P90, conformally calibrated) and
three baselines: ``baseline_yesterday``, ``baseline_last_week`` (same day last week), ``baseline_mean_7d``.

Modes:
- ``train --train-end T``: fit on data up to T (the last ``cal_days`` of it held out for calibration) and save
  ``<models_dir>/<task>/train_<T>/`` plus the ``LATEST`` pointer.
- ``predict --date D``: load the LATEST model, forecast day D from data up to D-1, write ``forecasts``.
- ``backtest --train-end T --test-end E [--folds 3]``: rolling origin with an expanding window: the test period
  (T, E] is cut into folds; fold k is forecast by a model trained on everything up to its origin. Writes
  ``forecasts_backtest`` (FORECASTS schema), ``forecast_metrics`` (FORECAST_METRICS) and a JSON report.

scikit-learn fits on the driver (inputs are per-day, a few hundred thousand rows at most; half-hourly training
rows are sampled), so the driver also reads its input tables and writes its forecast rows, with pyarrow (see
``read_lake`` and ``write_forecasts``); Spark pivots the group series and writes the metrics.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from spark_jobs import features as feature_job
from spark_jobs.common.schemas import (
    FORECAST_METRICS,
    FORECASTS,
    GROUP_HALFHOURLY,
    HOUSEHOLD_DAILY,
    HOUSEHOLD_DAILY_FEATURES,
    HOUSEHOLD_DAILY_HALFHOURS,
    SLOT_COLUMNS,
)
from spark_jobs.common.settings import get_settings
from spark_jobs.common.spark import get_spark
from spark_jobs.forecasting import model as qm
from spark_jobs.forecasting import tasks as T
from spark_jobs.forecasting.metrics import mase_scale, point_metrics
from spark_jobs.ingestion.lake import part_dir

log = logging.getLogger(__name__)

TASKS = ("household_daily", "group_halfhourly", "household_halfhourly")
MODELS = (T.MODEL_NAME, *T.BASELINES)
MAX_TRAIN_ROWS = {"household_daily": 150_000, "group_halfhourly": 200_000, "household_halfhourly": 200_000}
HH_TRAIN_DAYS = 182  # half-hourly models learn from the last half year before the origin (sampled)
MASE_DAYS = 365  # MASE denominator: same-day-last-week MAE over the last year of the training window
MASE_SAMPLE_PAIRS = 20_000
MIN_CAL_POINTS = 600


def cal_days_for(points_per_day: float) -> int:
    """Calibration window: the days that give ``MIN_CAL_POINTS`` scores, at least 14 and at most 112 (a single
    household's daily series: ~3 months).

    Why 14 and not 28: the scores drift with the season (autumn into winter), and a two-week window follows
    them; with 28 days the two tariff-group series under-covered in the 1,000-household backtest (77.6 %,
    falling from 78.5 % in October to 76.7 % in December; 79.4 % with 14 days, household tasks unchanged)."""
    return int(np.clip(np.ceil(MIN_CAL_POINTS / max(points_per_day, 1.0)), 14, 112))


def _d(x) -> np.datetime64:
    """A day; ``None`` (no lower bound) becomes a day before any data."""
    return np.datetime64("1900-01-01", "D") if x is None else np.datetime64(x, "D")


# ---------------------------------------------------------------------------------------------------------------
# Reading the lake (Spark) into the task inputs (pandas / numpy)
# ---------------------------------------------------------------------------------------------------------------
_ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int32(),
    "long": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "double": pa.float64(),
    "date": pa.date32(),
}


def arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow twin of a lake table's Spark schema (the files Spark writes hold these types)."""
    return pa.schema([pa.field(f.name, _ARROW_TYPES[f.dataType.typeName()], f.nullable) for f in schema.fields])


def read_lake(path: Path, schema: StructType, first: dt.date | None, last: dt.date | None, columns: list[str]):
    """``columns`` of a day-partitioned lake table for local days [first, last], read by the driver with pyarrow.

    The models run in the driver, so the rows end up here either way. Through Spark (read + ``toPandas``) the
    JVM decoded the Parquet, re-encoded it as Arrow and sent it over a socket: 17 s for 1,000 households x 2
    years of ``household_daily_features`` here, against ~1 s for pyarrow reading the same files. Same explicit
    schema as the Spark jobs; ``local_date`` comes from the ``local_date=YYYY-MM-DD`` folders, and only the
    folders in the range are opened. (The lake is the driver's filesystem too: forecasts are written the same way.)
    """
    part = pa_ds.partitioning(pa.schema([pa.field("local_date", pa.date32())]), flavor="hive")
    data = pa_ds.dataset(str(path), schema=arrow_schema(schema), format="parquet", partitioning=part)
    cond = None
    for op, day in ((pc.greater_equal, first), (pc.less_equal, last)):
        if day is not None:
            term = op(pc.field("local_date"), pa.scalar(day, pa.date32()))
            cond = term if cond is None else cond & term
    pdf = data.to_table(columns=columns, filter=cond).to_pandas(date_as_object=False)
    if "local_date" in pdf:
        pdf["local_date"] = pdf["local_date"].values.astype("datetime64[D]")
    return pdf


def _to_pandas(df: DataFrame) -> pd.DataFrame:
    df.sparkSession.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    pdf = df.toPandas()
    if "local_date" in pdf:
        pdf["local_date"] = pd.to_datetime(pdf["local_date"]).values.astype("datetime64[D]")
    return pdf


def read_daily(lake: Path, first: dt.date | None, last: dt.date | None):
    """Features and labels of the daily task, in (household, day) order so row sampling does not depend on how
    the files were listed."""
    key = ["household_id", "local_date"]
    feats = read_lake(
        lake / "household_daily_features", HOUSEHOLD_DAILY_FEATURES, first, last, HOUSEHOLD_DAILY_FEATURES.names
    )
    labels = read_lake(
        lake / "household_daily", HOUSEHOLD_DAILY, first, last, [*key, "energy_kwh", "completeness", "tariff_group"]
    )
    return feats.sort_values(key, ignore_index=True), labels.sort_values(key, ignore_index=True)


def tou_band_array(tariff_csv: Path, days: np.ndarray, tz: str) -> np.ndarray:
    """(days, 48): +1 High, -1 Low, 0 Normal (or outside the 2013 dToU schedule). The schedule's times are UTC
    (as the feature job reads them); read with pandas: 17.5k rows, where a Spark query cost ~4 s a call."""
    raw = pd.read_csv(tariff_csv, dtype=str)
    try:
        utc = pd.to_datetime(raw["TariffDateTime"], format="%Y-%m-%d %H:%M:%S").dt.tz_localize("UTC")
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{tariff_csv}: TariffDateTime not 'YYYY-MM-DD HH:MM:SS' ({exc})") from exc
    local = utc.dt.tz_convert(tz)
    day = local.dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    slot = (local.dt.hour * 2 + (local.dt.minute >= 30)).to_numpy()
    kind = raw["Tariff"].str.strip()
    band = np.select([kind == "High", kind == "Low"], [1, -1], 0)
    out = np.zeros((len(days), 48), dtype=np.float32)
    di = (day - days[0]).astype(int)
    ok = (di >= 0) & (di < len(days))
    out[di[ok], slot[ok]] = band[ok]
    return out


def read_household_cube(lake: Path, labels: pd.DataFrame, first: dt.date, last: dt.date) -> T.Cube:
    """Household x day x 48 local half hours from ``household_daily_halfhours`` (the aggregate's pivot of the
    readings; on the fall-back day the repeated hour's two readings are summed into their slots). Completeness and
    tariff group come from ``labels``, the ``household_daily`` rows ``read_daily`` already read (covering the days)."""
    wide = read_lake(
        lake / "household_daily_halfhours",
        HOUSEHOLD_DAILY_HALFHOURS,
        first,
        last,
        ["household_id", "local_date"] + list(SLOT_COLUMNS),
    )
    wide = wide.rename(columns={"household_id": "series_id"} | {c: f"hh_{h}" for h, c in enumerate(SLOT_COLUMNS)})
    comp = labels[(labels["local_date"] >= _d(first)) & (labels["local_date"] <= _d(last))]
    comp = comp.rename(columns={"household_id": "series_id"}).assign(complete=lambda d: d["completeness"] >= 1.0)
    tou = set(comp.loc[comp["tariff_group"] == "ToU", "series_id"])
    return T.cube_from_wide(
        wide, "series_id", comp[["series_id", "local_date", "complete", "tariff_group"]], tou, first, last
    )


def read_group_cube(lake: Path, first: dt.date, last: dt.date) -> T.Cube:
    """Tariff group x day x 48 local half hours of ``group_halfhourly`` (mean kWh per household), read with
    pyarrow like the household cube; the fall-back day's repeated slots are averaged."""
    groups = read_lake(
        lake / "group_halfhourly",
        GROUP_HALFHOURLY,
        first,
        last,
        ["group_kind", "group_name", "halfhour_local", "mean_energy_kwh", "local_date"],
    )
    groups = groups[groups["group_kind"] == "tariff"].assign(series_id=lambda g: "tariff:" + g["group_name"])
    wide = (
        groups.groupby(["series_id", "local_date", "halfhour_local"])["mean_energy_kwh"]
        .mean()
        .unstack("halfhour_local")
        .reindex(columns=range(48))
    )
    wide.columns = [f"hh_{h}" for h in range(48)]
    return T.cube_from_wide(wide.reset_index(), "series_id", None, {"tariff:ToU"}, first, last)


def group_context(spark: SparkSession, days: np.ndarray) -> pd.DataFrame:
    """Day context (calendar, holidays, weather) for the group series, via the feature job's own functions."""
    s = get_settings()
    dates = spark.createDataFrame([(pd.Timestamp(d).date(),) for d in days], "local_date date")
    ctx = feature_job.day_context(
        spark,
        dates,
        feature_job.weather_daily(feature_job.read_weather(spark, s.weather_csv), s.local_timezone),
        feature_job.tariff_daily(feature_job.read_tariff(spark, s.tariff_csv), s.local_timezone),
    )
    return _to_pandas(ctx)


# ---------------------------------------------------------------------------------------------------------------
# Tasks as data sources of Design rows
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class DailyTask:
    features: pd.DataFrame
    labels: pd.DataFrame
    name: str = "household_daily"
    with_mape: bool = False
    points_per_day: float = 1.0

    def __post_init__(self):
        self.points_per_day = max(1.0, float(self.features["household_id"].nunique()))

    def design(self, first, last, max_rows: int | None = None, seed: int = 0) -> T.Design:
        f = self.features[(self.features["local_date"] >= _d(first)) & (self.features["local_date"] <= _d(last))]
        if max_rows is not None and len(f) > max_rows:
            f = f.sample(max_rows, random_state=seed)
        return T.daily_design(f, self.labels)

    def history_report(self, first, last) -> dict:
        return T.daily_history_report(self.features, self.labels, _d(first), _d(last))


@dataclass
class HalfHourlyTask:
    cube: T.Cube
    context: pd.DataFrame  # by (series_id, local_date) for households, by local_date for groups
    tou_band: np.ndarray
    name: str
    with_mape: bool
    require_history: bool = True
    points_per_day: float = 48.0

    def __post_init__(self):
        self.points_per_day = 48.0 * max(1, len(self.cube.series))
        self._by_series = "series_id" in self.context.columns

    def _context(self, s: np.ndarray, d: np.ndarray) -> pd.DataFrame:
        keys = pd.DataFrame({"local_date": self.cube.days[d]})
        if self._by_series:
            keys["series_id"] = self.cube.series[s]
            out = keys.merge(self.context, on=["series_id", "local_date"], how="left")
        else:
            out = keys.merge(self.context, on="local_date", how="left")
            out["is_tou"] = self.cube.is_tou[s].astype(float)
            out["acorn_code"] = -1.0
        return out.reindex(columns=T.HH_CONTEXT_COLUMNS)

    def design(self, first, last, max_rows: int | None = None, seed: int = 0) -> T.Design:
        s, d = T.candidate_pairs(self.cube, _d(first), _d(last), self.require_history)
        if max_rows is not None and len(s) * 48 > max_rows:
            pick = np.random.default_rng(seed).choice(len(s), max_rows // 48, replace=False)
            s, d = s[np.sort(pick)], d[np.sort(pick)]
        return T.halfhourly_design(self.cube, s, d, self._context(s, d), self.tou_band)

    def history_report(self, first, last) -> dict:
        if not self.require_history:
            return {"rule": "group series are always forecast when 28 days of history exist"}
        return T.halfhourly_history_report(self.cube, _d(first), _d(last))


# ---------------------------------------------------------------------------------------------------------------
# Fitting, calibration, prediction (pure: Design in, arrays out)
# ---------------------------------------------------------------------------------------------------------------
def fit_calibrated(task, origin: dt.date, train_first: dt.date | None, cal_days: int, seed: int = 0):
    """Fit on [train_first, origin - cal_days], score the held-out [origin - cal_days + 1, origin]."""
    cal_start = origin - dt.timedelta(days=cal_days - 1)
    fit = task.design(train_first, cal_start - dt.timedelta(days=1), max_rows=MAX_TRAIN_ROWS[task.name] * 2, seed=seed)
    fit = fit.subset(fit.scored & np.isfinite(fit.y_kwh))
    if len(fit.y_kwh) > MAX_TRAIN_ROWS[task.name]:
        pick = np.random.default_rng(seed).choice(len(fit.y_kwh), MAX_TRAIN_ROWS[task.name], replace=False)
        fit = fit.subset(np.sort(pick))
    if len(fit.y_kwh) < 50:
        raise ValueError(f"{task.name}: only {len(fit.y_kwh)} complete training rows before {cal_start}")
    features = T.DAILY_MODEL_FEATURES if task.name == "household_daily" else T.HH_MODEL_FEATURES
    model = qm.QuantileModel(list(features)).fit(fit.X, fit.y_kwh / fit.scale)
    cal = task.design(cal_start, origin, max_rows=MAX_TRAIN_ROWS[task.name], seed=seed + 1)
    cal = cal.subset(cal.scored)
    q = model.predict_raw(cal.X) * cal.scale[:, None]
    model.meta = {
        "task": task.name,
        "train_first": str(train_first) if train_first else None,
        "train_end": str(origin),
        "fit_end": str(cal_start - dt.timedelta(days=1)),
        "calibration_days": cal_days,
        "fit_rows": len(fit.y_kwh),
        "calibration_rows": len(cal.y_kwh),
        "max_input_date": str(max(fit.days.max(), cal.days.max()) if len(cal.y_kwh) else fit.days.max()),
        "features": list(features),
        "params": model.params,
    }
    model.meta["calibration_scores"] = {"days": cal.days, "scores": qm.conformity_scores(q, cal.y_kwh)}
    return model, fit


def predict_with_rolling_calibration(model, test: T.Design, cal_days: int, past: T.Design | None = None):
    """Calibrated P10/P50/P90 for ``test``; each day's adjustment uses scores of earlier days only:
    the model's calibration slice, ``past`` (already-observed days before the test period) and earlier test days."""
    q = model.predict_raw(test.X) * test.scale[:, None]
    score_days = [np.array(model.meta["calibration_scores"]["days"], dtype="datetime64[D]")]
    scores = [np.array(model.meta["calibration_scores"]["scores"], dtype=float)]
    if past is not None and len(past.y_kwh):
        past = past.subset(past.scored)
        qp = model.predict_raw(past.X) * past.scale[:, None]
        score_days.append(past.days)
        scores.append(qm.conformity_scores(qp, past.y_kwh))
    ok = test.scored
    score_days.append(test.days[ok])
    scores.append(qm.conformity_scores(q[ok], test.y_kwh[ok]))
    adj_by_day = qm.rolling_adjustment(np.concatenate(score_days), np.concatenate(scores), test.days, cal_days)
    adj = np.array([adj_by_day[d] for d in test.days]) if len(test.days) else np.zeros(0)
    return qm.calibrated_interval(q, adj)


def target_times_utc(keys: pd.DataFrame, tz: str) -> pd.Series:
    """UTC start of the target: local midnight (daily) or the local half-hour slot (NaT where it does not exist)."""
    local = pd.to_datetime(keys["local_date"])
    if "slot" in keys:
        local = local + pd.to_timedelta(keys["slot"].to_numpy() * 30, unit="min")
    aware = pd.DatetimeIndex(local).tz_localize(tz, ambiguous=np.ones(len(local), bool), nonexistent="NaT")
    return pd.Series(aware.tz_convert("UTC"), index=keys.index)


def forecast_rows(task: str, model_name: str, version: str, design: T.Design, pred: np.ndarray, tz: str):
    p10 = pred[:, 0] if pred.ndim == 2 else np.full(len(design.y_kwh), np.nan)
    p50 = pred[:, 1] if pred.ndim == 2 else pred
    p90 = pred[:, 2] if pred.ndim == 2 else np.full(len(design.y_kwh), np.nan)
    out = pd.DataFrame(
        {
            "task": task,
            "series_id": design.keys["series_id"].astype(str).to_numpy(),
            "model": model_name,
            "model_version": version,
            # Vectorised columns only: tz-aware .to_numpy() and .dt.date build one Python object per row
            # (~40 s of a 1,000-household backtest's 6M forecast rows).
            "target_time_utc": target_times_utc(design.keys, tz).array,
            "p10_kwh": p10,
            "p50_kwh": p50,
            "p90_kwh": p90,
            "actual_kwh": design.y_kwh,
            "local_date": pd.to_datetime(design.keys["local_date"]).to_numpy().astype("datetime64[D]"),
        }
    )
    return out[out["target_time_utc"].notna()]


def make_folds(train_end: dt.date, test_end: dt.date, n_folds: int) -> list[tuple[dt.date, dt.date, dt.date]]:
    """(origin, first test day, last test day): consecutive blocks of (train_end, test_end], expanding origins."""
    days = (test_end - train_end).days
    if days < n_folds:
        raise ValueError("test period shorter than the number of folds")
    edges = [train_end + dt.timedelta(days=round(days * k / n_folds)) for k in range(n_folds + 1)]
    return [(edges[k], edges[k] + dt.timedelta(days=1), edges[k + 1]) for k in range(n_folds)]


# ---------------------------------------------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------------------------------------------
def load_tasks(
    spark, lake: Path, first: dt.date, last: dt.date, which: tuple[str, ...], daily_first: dt.date | None = None
) -> dict:
    """Inputs of the tasks: half-hourly cubes cover [first, last]; the daily table [daily_first, last] (default:
    all history, so the daily model's training window really expands)."""
    s = get_settings()
    out = {}
    feats, labels = read_daily(lake, daily_first, last)
    if "household_daily" in which:
        out["household_daily"] = DailyTask(feats, labels)
    if "household_halfhourly" in which:
        cube = read_household_cube(lake, labels, first, last)
        ctx = feats.rename(columns={"household_id": "series_id"})[["series_id", "local_date", *T.HH_CONTEXT_COLUMNS]]
        band = tou_band_array(s.tariff_csv, cube.days, s.local_timezone)
        out["household_halfhourly"] = HalfHourlyTask(cube, ctx, band, "household_halfhourly", with_mape=False)
    if "group_halfhourly" in which:
        cube = read_group_cube(lake, first, last)
        band = tou_band_array(s.tariff_csv, cube.days, s.local_timezone)
        out["group_halfhourly"] = HalfHourlyTask(
            cube, group_context(spark, cube.days), band, "group_halfhourly", with_mape=True, require_history=False
        )
    return out


def train_first_for(task: str, origin: dt.date) -> dt.date | None:
    return origin - dt.timedelta(days=HH_TRAIN_DAYS) if task != "household_daily" else None


def backtest(tasks: dict, train_end: dt.date, test_end: dt.date, n_folds: int, models_dir: Path, tz: str, run_id: str):
    """Rolling-origin backtest; returns (forecast rows, metric rows, report dict)."""
    folds = make_folds(train_end, test_end, n_folds)
    forecasts, metric_rows, report = [], [], {"folds": [], "tasks": {}}
    for origin, first, last in folds:
        report["folds"].append({"train_end": str(origin), "test_start": str(first), "test_end": str(last)})
    for name, task in tasks.items():
        t0 = time.time()
        cal_days = cal_days_for(task.points_per_day)
        hist = task.design(train_end - dt.timedelta(days=MASE_DAYS - 1), train_end, max_rows=MASE_SAMPLE_PAIRS * 48)
        ok = hist.scored
        scale = mase_scale(hist.y_kwh[ok], hist.baselines["baseline_last_week"][ok])
        pooled = {m: {"y": [], "p": []} for m in MODELS}
        fold_metrics = {m: [] for m in MODELS}
        for k, (origin, first, last) in enumerate(folds, start=1):
            model, _ = fit_calibrated(task, origin, train_first_for(name, origin), cal_days, seed=k)
            version = qm.version_for(origin)
            qm.save_model(model, models_dir, name, version, make_latest=False)
            test = task.design(first, last)
            pred = predict_with_rolling_calibration(model, test, cal_days)
            log.info(
                "backtest %s fold %d: fit %d rows, test %d rows, %.0fs",
                name,
                k,
                model.meta["fit_rows"],
                len(test.y_kwh),
                time.time() - t0,
            )
            preds = {T.MODEL_NAME: pred, **test.baselines}
            for m, p in preds.items():
                forecasts.append(forecast_rows(name, m, version if m == T.MODEL_NAME else "rule", test, p, tz))
                sc = test.scored
                p2 = (
                    p[sc]
                    if p.ndim == 2
                    else np.column_stack([np.full(sc.sum(), np.nan), p[sc], np.full(sc.sum(), np.nan)])
                )
                pooled[m]["y"].append(test.y_kwh[sc])
                pooled[m]["p"].append(p2)
                met = _metrics(test.y_kwh[sc], p2, scale, task.with_mape, m == T.MODEL_NAME)
                fold_metrics[m].append(
                    {"fold": k, "train_end": str(origin), "test_start": str(first), "test_end": str(last)} | met
                )
                metric_rows.append(_metric_row(m, name, str(k), origin, first, last, met, run_id))
        models_report = {}
        for m in MODELS:
            y = np.concatenate(pooled[m]["y"])
            p = np.concatenate(pooled[m]["p"])
            overall = _metrics(y, p, scale, task.with_mape, m == T.MODEL_NAME)
            metric_rows.append(_metric_row(m, name, "overall", train_end, folds[0][1], test_end, overall, run_id))
            models_report[m] = {"overall": overall, "folds": fold_metrics[m]}
        all_test = task.design(folds[0][1], test_end) if name != "group_halfhourly" else None
        report["tasks"][name] = {
            "mase_scale_kwh": scale,
            "calibration_days": cal_days,
            "models": models_report,
            "bad_input": {
                "insufficient_history": task.history_report(folds[0][1], test_end),
                "incomplete_target_points_excluded": int((~all_test.scored).sum()) if all_test is not None else None,
                "scoring_rule": "score only target days whose expected half hours are all present (completeness 1.0)",
            },
            "seconds": round(time.time() - t0, 1),
        }
    return pd.concat(forecasts, ignore_index=True), metric_rows, report


def _metrics(y, p, scale, with_mape: bool, is_model: bool) -> dict:
    return point_metrics(
        y,
        p[:, 1],
        scale,
        p10=p[:, 0] if is_model else None,
        p90=p[:, 2] if is_model else None,
        with_mape=with_mape,
    )


def _metric_row(model, task, fold, train_end, first, last, met, run_id) -> dict:
    return {
        "model": model,
        "task": task,
        "fold": fold,
        "train_end": train_end,
        "test_start": first,
        "test_end": last,
        "n_points": met["n_points"],
        "mae_kwh": met.get("mae_kwh"),
        "rmse_kwh": met.get("rmse_kwh"),
        "r2": met.get("r2"),
        "mase": met.get("mase"),
        "mape_pct": met.get("mape_pct"),
        "coverage_p10_p90": met.get("coverage_p10_p90"),
        "run_id": run_id,
    }


def train(tasks: dict, train_end: dt.date, models_dir: Path) -> dict:
    out = {}
    for name, task in tasks.items():
        cal_days = cal_days_for(task.points_per_day)
        model, _ = fit_calibrated(task, train_end, train_first_for(name, train_end), cal_days)
        folder = qm.save_model(model, models_dir, name, qm.version_for(train_end), make_latest=True)
        out[name] = str(folder)
    return out


def past_first_day(meta: dict, day: dt.date) -> dt.date:
    """First observed day whose scores a forecast for ``day`` must compute: the calibration window reaches back
    ``calibration_days``, and the model's meta already holds the scores of its window up to its ``train_end``
    (``day`` itself, i.e. none, when a backfill forecasts a day before a newer model's ``train_end``)."""
    window_first = day - dt.timedelta(days=int(meta["calibration_days"]))
    return min(day, max(window_first, dt.date.fromisoformat(meta["train_end"]) + dt.timedelta(days=1)))


def predict(tasks: dict, day: dt.date, models_dir: Path, tz: str) -> pd.DataFrame:
    """Day-ahead forecasts for ``day`` from the LATEST models; days observed since the model's training window
    refresh the calibration."""
    rows = []
    for name, task in tasks.items():
        model, version = qm.load_model(models_dir, name)
        cal_days = int(model.meta["calibration_days"])
        test = task.design(day, day)
        test.y_kwh[:] = np.nan  # issued at midnight: the target day's actuals are not known
        test.scored[:] = False
        first = past_first_day(model.meta, day)
        past = task.design(first, day - dt.timedelta(days=1), max_rows=200_000) if first < day else None
        pred = predict_with_rolling_calibration(model, test, cal_days, past)
        rows.append(forecast_rows(name, T.MODEL_NAME, version, test, pred, tz))
        for b, p in test.baselines.items():
            rows.append(forecast_rows(name, b, "rule", test, p, tz))
    return pd.concat(rows, ignore_index=True)


FORECASTS_ARROW = arrow_schema(FORECASTS)


def write_forecasts(pdf: pd.DataFrame, path: Path) -> None:
    """Dynamic overwrite of the forecast days, written by the driver with Arrow: the rows are made here (the
    models run in the driver), and sending a backtest's 18M rows through the JVM only to write them cost ~40-60 s
    (the same rows with pyarrow: ~16 s). Same layout as Spark's partitioned write (``local_date=YYYY-MM-DD``
    folders without the column, snappy Parquet, microsecond UTC timestamps); only the days written are replaced.
    The lake is the driver's too (the compose file mounts it in Airflow and the workers).

    Day by day with ``pq.write_table``, which is synchronous. ``pyarrow.dataset.write_dataset`` ran the write as
    an Arrow plan whose threads could still be releasing the pandas-backed buffers when the driver exited right
    after: the interpreter aborted ("terminate called without an active exception", exit 134; Arrow issue 36389),
    the task failed after its work was done, and the retry cost a daily run a minute. Rare (1 of 186 runs of the
    write alone here, bench/bench_forecast_exit.py), but a daily DAG runs it every day."""
    pdf = pdf.sort_values("local_date", kind="stable", ignore_index=True)
    table = pa.Table.from_pandas(pdf[FORECASTS_ARROW.names], schema=FORECASTS_ARROW, preserve_index=False)
    days = pdf["local_date"].to_numpy().astype("datetime64[D]")
    if len(days) == 0:
        return
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    rows = table.drop_columns(["local_date"])
    for begin, stop in zip(starts, np.r_[starts[1:], len(days)], strict=True):
        replace_day(part_dir(path, days[begin].item()), rows.slice(begin, stop - begin))


def replace_day(folder: Path, rows: pa.Table) -> None:
    """The day's folder holds ``rows`` alone afterwards. The new file is written hidden (readers skip names
    starting with a dot) and renamed in after the old files are gone, so a crash leaves the old day or no day,
    never both; a hidden file a crash left behind goes with the next write."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.snappy.parquet"
    hidden = folder / f".{name}"
    pq.write_table(rows, hidden, compression="snappy")
    for old in folder.iterdir():
        if old != hidden:
            old.unlink()
    hidden.rename(folder / name)


def write_metrics(spark: SparkSession, rows: list[dict], path: Path) -> None:
    pdf = pd.DataFrame(rows, columns=[f.name for f in FORECAST_METRICS.fields])
    pdf["n_points"] = pdf["n_points"].astype("int64")
    spark.createDataFrame(pdf, FORECAST_METRICS).coalesce(1).write.mode("overwrite").parquet(str(path))


def history_start(first_needed: dt.date) -> dt.date:
    return first_needed - dt.timedelta(days=35)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="spark_jobs.forecast", description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["train", "predict", "backtest"])
    p.add_argument("--lake", type=Path, default=None)
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--train-end", type=dt.date.fromisoformat, help="last day of training data (train, backtest)")
    p.add_argument("--test-end", type=dt.date.fromisoformat, help="last test day (backtest)")
    p.add_argument("--date", type=dt.date.fromisoformat, help="target day D (predict)")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset of " + ",".join(TASKS))
    p.add_argument("--report", type=Path, default=None, help="write the backtest JSON report here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    settings = get_settings()
    lake = args.lake or settings.lake_dir
    models_dir = args.models_dir or settings.models_dir
    which = tuple(t for t in args.tasks.split(",") if t)
    spark = get_spark(f"forecast-{args.mode}")
    t0 = time.time()
    if args.mode != "predict":
        qm.start_fit_workers()  # their start-up overlaps the reads below
    if args.mode == "train":
        first = history_start(args.train_end - dt.timedelta(days=max(HH_TRAIN_DAYS, MASE_DAYS)))
        tasks = load_tasks(spark, lake, first, args.train_end, which)
        log.info("trained: %s", train(tasks, args.train_end, models_dir))
    elif args.mode == "predict":
        # Read only what the forecast needs: the days since the models' training windows (at most their calibration
        # windows) plus the features' 35-day look-back (a two-year lake holds ~10x more half-hourly readings).
        first = history_start(min(past_first_day(qm.latest_meta(models_dir, t), args.date) for t in which))
        tasks = load_tasks(spark, lake, first, args.date, which, daily_first=first)
        write_forecasts(predict(tasks, args.date, models_dir, settings.local_timezone), lake / "forecasts")
    else:
        run_id = f"backtest_{args.train_end}_{args.test_end}_{uuid.uuid4().hex[:8]}"
        first = history_start(args.train_end - dt.timedelta(days=max(HH_TRAIN_DAYS, MASE_DAYS)))
        tasks = load_tasks(spark, lake, first, args.test_end, which)
        t_load = time.time() - t0
        fc, metric_rows, report = backtest(
            tasks, args.train_end, args.test_end, args.folds, models_dir, settings.local_timezone, run_id
        )
        t_fit = time.time() - t0 - t_load
        write_forecasts(fc, lake / "forecasts_backtest")
        write_metrics(spark, metric_rows, lake / "forecast_metrics")
        report |= {
            "run_id": run_id,
            "train_end": str(args.train_end),
            "test_end": str(args.test_end),
            "seconds": {"load": round(t_load, 1), "fit_backtest": round(t_fit, 1), "total": round(time.time() - t0, 1)},
        }
        if args.report:
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(json.dumps(report, indent=2, default=str))
        log.info("backtest %s done in %.1fs", run_id, time.time() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
