"""Small pre-aggregated serving collections for the Superset dashboards (``dash_*``), rebuilt from the base ones.

Why they exist: Superset reads MongoDB through PyMongoSQL, which runs a dataset's inner SELECT as a plain MongoDB
``find`` and fetches every matching document into an in-memory SQLite table before grouping. The embedded FerretDB
(SQLite handler) pushes no filter but an ``_id`` equality down, so each chart costs a scan of its whole collection.
Every dashboard therefore reads collections of at most a few thousand documents, shaped here once per pipeline run:

* group cubes: rows per group with the literal ``'All'`` for "every tariff / Acorn group"; the datasets push the
  dashboard's tariff/Acorn filter into the ``find`` (``'All'`` when unfiltered), so a chart fetches one level only;
* times as Europe/London wall-clock strings (``'YYYY-MM-DD HH:MM:SS'``), which Superset shows as they are
  (Superset has no display time zone);
* one document per household (``dash_household_days``, ``_id`` = household id) for the drill-down, read with an
  ``_id`` match that FerretDB answers without a scan.

``build_dashboard_views(db, lake_dir=...)`` runs in the ``smartmeter_dashboards`` DAG after every pipeline run
that loaded MongoDB. With ``lake_dir`` the datasets that the load copies from Parquet are read from the lake itself
(the same rows, converted as the loader converts them): FerretDB returns documents at a few tens of thousands per
second, so reading 5,566 households x 730 days back from it took minutes. The rest (households, GX results,
pipeline runs, quarantine summary) comes from MongoDB. Each view is written to a temporary collection and renamed
over the old one, so a dashboard never reads a half-built view. Pure pymongo + pandas + pyarrow; base collections
may gain fields (only the named ones are read) or be missing (empty views).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pymongo.database import Database
from pymongo.errors import OperationFailure

log = logging.getLogger(__name__)

LOCAL_TZ = "Europe/London"
ALL = "All"
UNKNOWN = "Unknown"
RECENT_DAYS = 14  # half-hourly and forecast series kept for the 30-minute charts
BASELINE_MODELS = ("naive", "seasonal_naive", "snaive", "baseline", "climatology", "mean", "last_week")
SEASONS = {
    12: "Winter",
    1: "Winter",
    2: "Winter",
    3: "Spring",
    4: "Spring",
    5: "Spring",
    6: "Summer",
    7: "Summer",
    8: "Summer",
    9: "Autumn",
    10: "Autumn",
    11: "Autumn",
}

# Group cubes are also written split by level (<name>_all, <name>_by_tariff, <name>_by_acorn): FerretDB scans a
# whole collection per query, so an unfiltered chart reads only the small 'All' collection; the full cube is read
# only when the dashboard filters both groups.
CUBES = (
    "dash_consumption_daily",
    "dash_halfhourly_recent",
    "dash_profile_halfhour",
    "dash_forecast_series",
    "dash_tariff_monthly",
    "dash_anomalies_daily",
    "dash_tariff_extremes",
    "dash_anomaly_top",
)
LEVELS = ("_all", "_by_tariff", "_by_acorn")
BASE_VIEWS = (
    "dash_households",
    "dash_group_sizes",
    "dash_consumption_daily",
    "dash_halfhourly_recent",
    "dash_profile_halfhour",
    "dash_forecast_series",
    "dash_forecast_accuracy_daily",
    "dash_forecast_metrics",
    "dash_anomalies_daily",
    "dash_anomaly_top",
    "dash_household_days",
    "dash_segment_profiles",
    "dash_tariff_households",
    "dash_tariff_outcomes",
    "dash_tariff_extremes",
    "dash_tariff_monthly",
    "dash_dq_results",
    "dash_pipeline_runs",
    "dash_freshness",
    "dash_ingest",
    "dash_quarantine",
)
# The drill-down's one-document-per-household collection is split by the last two characters of the household id:
# FerretDB scans even for an _id match (its _id index is not used by its own query), and 5,566 households x
# 730 days in one collection is ~200 MB to scan; a bucket is ~1/100 of that.
HOUSEHOLD_BUCKETS = tuple(f"{i:02d}" for i in range(100)) + ("xx",)
HOUSEHOLD_DAYS = "dash_household_days"
DASH_COLLECTIONS = (
    tuple(v for v in BASE_VIEWS if v != HOUSEHOLD_DAYS)
    + tuple(f"{c}{lvl}" for c in CUBES for lvl in LEVELS)
    + tuple(f"{HOUSEHOLD_DAYS}_{b}" for b in HOUSEHOLD_BUCKETS)
)
TOP_N = 15


# ---------------------------------------------------------------- helpers


BASE_FIELDS = {
    "households": ["household_id", "tariff_group", "acorn", "acorn_group"],
    "segments": ["household_id", "segmentation_version", "segment_id", "segment_label"],
    "household_daily": [
        "household_id",
        "local_date",
        "energy_kwh",
        "readings_present",
        "readings_expected",
        "completeness",
    ],
    "group_halfhourly": [
        "group_kind",
        "group_name",
        "interval_start_utc",
        "halfhour_local",
        "total_energy_kwh",
        "mean_energy_kwh",
        "households_reporting",
        "local_date",
    ],
    "forecasts": [
        "task",
        "series_id",
        "model",
        "model_version",
        "target_time_utc",
        "p10_kwh",
        "p50_kwh",
        "p90_kwh",
        "actual_kwh",
        "local_date",
    ],
    "forecast_metrics": [
        "model",
        "task",
        "fold",
        "fold_end",
        "cutoff",
        "mae",
        "rmse",
        "r2",
        "mase",
        "mape",
        "coverage_p10_p90",
    ],
    "anomalies": ["household_id", "start_utc", "end_utc", "kind", "severity", "detector", "local_date"],
    "segment_profiles": ["segment_id", "segment_label", "halfhour_local", "mean_energy_kwh"],
    "tariff_comparison_monthly": [
        "household_id",
        "month",
        "energy_kwh",
        "flat_cost_pence",
        "dtou_cost_pence",
        "shifted_dtou_cost_pence",
    ],
    "dq_results": [
        "suite",
        "run_id",
        "dag_id",
        "success",
        "expectations_evaluated",
        "expectations_failed",
        "rows_validated",
        "validated_at",
    ],
    "ingest_accounting": ["source_file", "run_id", "rows_read", "rows_clean", "rows_quarantined", "duplicates_dropped"],
    "readings_rejected_summary": ["source_file", "reason", "rows"],
    "pipeline_runs": [
        "dag_id",
        "run_id",
        "data_interval_start",
        "data_interval_end",
        "status",
        "started_at",
        "ended_at",
        "duration_s",
    ],
}
BASE_FIELDS["forecasts_backtest"] = BASE_FIELDS["forecasts"]


class _Base:
    """Base collections as DataFrames of their named fields, read lazily from ``db`` or given as ``frames``."""

    def __init__(self, db: Database | None = None, frames: dict[str, pd.DataFrame] | None = None):
        self.db, self.frames = db, dict(frames or {})

    def __call__(self, name: str) -> pd.DataFrame:
        if name not in self.frames:
            fields = BASE_FIELDS[name]
            docs = list(self.db[name].find({}, dict.fromkeys(fields, 1) | {"_id": 0})) if self.db is not None else []
            self.frames[name] = _unbucketed(name, pd.DataFrame(docs))
        return _with_fields(self.frames[name].copy(), BASE_FIELDS[name])


class LakeBase(_Base):
    """Like ``_Base``, but datasets loaded from Parquet are read from the lake (only the named columns), converted
    to the documents' types by the loader's own ``serving_table``."""

    def __init__(self, db: Database | None, lake_dir: Path | str):
        super().__init__(db)
        self.lake_dir = Path(lake_dir)

    def __call__(self, name: str) -> pd.DataFrame:
        if name not in self.frames:
            frame = self._read_lake(name)
            if frame is not None:
                self.frames[name] = frame
        return super().__call__(name)

    def _read_lake(self, name: str) -> pd.DataFrame | None:
        from plugins.serving.loader import read_dataset, served_rows, serving_table
        from plugins.serving.registry import spec

        try:
            s = spec(name)
        except KeyError:
            return None
        if s.source != "parquet":
            return None  # households, GX results, runs, quarantine summary: MongoDB is their only home
        path = self.lake_dir / name
        if not path.is_dir():
            return pd.DataFrame()
        table = served_rows(read_dataset(path, s, None), s)
        table = table.select([c for c in BASE_FIELDS[name] if c in table.column_names])
        return serving_table(table, s).to_pandas()


def _unbucketed(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Documents of a bucketed serving collection (forecasts) back at the grain of their rows."""
    from plugins.serving.loader import unbucket
    from plugins.serving.registry import REGISTRY

    s = REGISTRY.get(name)
    return unbucket(frame, s) if s is not None and s.bucket else frame


def _with_fields(frame: pd.DataFrame, fields: Iterable[str]) -> pd.DataFrame:
    """Exactly ``fields``, in order; missing ones become all-null columns."""
    fields = list(fields)
    for field in fields:
        if field not in frame.columns:
            frame[field] = None
    return frame[fields]


def _local_str(values: pd.Series) -> pd.Series:
    """UTC instants (naive = UTC, as pymongo returns them) as Europe/London wall-clock strings."""
    ts = pd.to_datetime(values, utc=True, errors="coerce")
    return ts.dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M:%S")


def _day_str(local_date: pd.Series) -> pd.Series:
    """'YYYY-MM-DD' local dates as midnight timestamps, so string range filters include the first day."""
    return pd.to_datetime(local_date, errors="coerce").dt.strftime("%Y-%m-%d 00:00:00")


def _hh_label(halfhour: pd.Series) -> pd.Series:
    h = pd.to_numeric(halfhour, errors="coerce").fillna(0).astype(int)
    return (h // 2).map("{:02d}".format) + ":" + (h % 2 * 30).map("{:02d}".format)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Documents without NaN/NaT (stored as null) and with plain Python scalars."""
    out = []
    for row in frame.to_dict("records"):
        doc = {}
        for key, value in row.items():
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and math.isnan(value) or value is pd.NaT:
                value = None
            doc[key] = value
        out.append(doc)
    return out


def _replace(db: Database, name: str, docs: list[dict]) -> int:
    """Write ``docs`` as collection ``name`` by building a temporary collection and renaming it over the old one."""
    tmp = f"{name}__building"
    db.drop_collection(tmp)
    if not docs:
        db.drop_collection(name)
        db.create_collection(name)
        return 0
    coll = db[tmp]
    for start in range(0, len(docs), 5000):
        coll.insert_many(docs[start : start + 5000], ordered=False)
    try:
        coll.rename(name, dropTarget=True)
    except OperationFailure as exc:
        if exc.code != 238:  # NotImplemented: FerretDB 1.x renames only onto a free name
            raise
        db.drop_collection(name)
        coll.rename(name)
    return len(docs)


def _cube(frame: pd.DataFrame, keys: list[str], dims: tuple[str, ...], agg: dict) -> pd.DataFrame:
    """Group by ``keys`` + every subset of ``dims``, the dims left out set to 'All' (a small OLAP cube)."""
    parts = []
    for mask in range(1 << len(dims)):
        kept = [d for i, d in enumerate(dims) if mask & (1 << i)]
        grouped = frame.groupby(keys + kept, dropna=False).agg(**agg).reset_index()
        for d in dims:
            if d not in kept:
                grouped[d] = ALL
        parts.append(grouped)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def household_bucket(household_id: str) -> str:
    """Bucket of a household's drill-down document; the dataset's Jinja applies the same rule."""
    tail = str(household_id)[-2:]
    return tail if len(tail) == 2 and tail.isdigit() else "xx"


def _levels(name: str, cube: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The cube and its three single-level parts (see CUBES)."""
    if not len(cube):
        return {name: cube, **{f"{name}{lvl}": cube for lvl in LEVELS}}
    t_all, a_all = cube["tariff_group"] == ALL, cube["acorn_group"] == ALL
    return {
        name: cube,
        f"{name}_all": cube[t_all & a_all],
        f"{name}_by_tariff": cube[~t_all & a_all],
        f"{name}_by_acorn": cube[t_all & ~a_all],
    }


def _top_per_level(frame: pd.DataFrame, by: str, n: int, ascending: bool = False) -> pd.DataFrame:
    """The top ``n`` rows by ``by`` for every tariff x Acorn level (each row also counts at the 'All' levels)."""
    parts = []
    for t_level in (True, False):
        for a_level in (True, False):
            part = frame.copy()
            if t_level:
                part["tariff_group"] = ALL
            if a_level:
                part["acorn_group"] = ALL
            part = part.sort_values(by, ascending=ascending).groupby(["tariff_group", "acorn_group"]).head(n)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _is_baseline(model: pd.Series) -> pd.Series:
    lowered = model.fillna("").astype(str).str.lower()
    return lowered.apply(lambda m: any(m == b or m.startswith(b) for b in BASELINE_MODELS)).astype(int)


def _households(base: _Base) -> pd.DataFrame:
    hh = base("households")
    hh = hh.dropna(subset=["household_id"]).drop_duplicates("household_id")
    seg = base("segments")
    if len(seg):
        # the latest segmentation only
        seg = seg.sort_values("segmentation_version", na_position="first").drop_duplicates("household_id", keep="last")
        hh = hh.merge(seg[["household_id", "segment_id", "segment_label"]], on="household_id", how="left")
    else:
        hh["segment_id"] = None
        hh["segment_label"] = None
    hh["tariff_group"] = hh["tariff_group"].fillna(UNKNOWN)
    hh["acorn_group"] = hh["acorn_group"].replace({"": UNKNOWN, "ACORN-": UNKNOWN}).fillna(UNKNOWN)
    hh["segment_label"] = hh["segment_label"].fillna("Unsegmented")
    return hh


def _attach_groups(frame: pd.DataFrame, hh: pd.DataFrame, cols=("tariff_group", "acorn_group", "segment_label")):
    cols = list(cols)
    frame = frame.drop(columns=[c for c in cols if c in frame.columns]).merge(
        hh[["household_id", *cols]], on="household_id", how="left"
    )
    for c in cols:
        frame[c] = frame[c].fillna(UNKNOWN)
    return frame


def _series_groups(series_id: pd.Series) -> pd.DataFrame:
    """Group forecast series ids ('all', 'tariff:Std', 'acorn=Affluent', or a bare group name) as cube columns."""
    tariffs, acorns = [], []
    for raw in series_id.fillna("all").astype(str):
        kind, _, name = raw.replace("=", ":").replace("|", ":").partition(":")
        if not name:
            kind, name = (
                ("all", ALL) if raw.lower() in ("all", "") else (("tariff" if raw in ("Std", "ToU") else "acorn"), raw)
            )
        tariffs.append(name if kind == "tariff" else ALL)
        acorns.append(name if kind == "acorn" else ALL)
    return pd.DataFrame({"tariff_group": tariffs, "acorn_group": acorns}, index=series_id.index)


# ---------------------------------------------------------------- views


def _view_households(hh: pd.DataFrame) -> dict[str, pd.DataFrame]:
    sizes = (
        hh.groupby(["tariff_group", "acorn_group", "segment_label"], dropna=False)
        .size()
        .rename("households")
        .reset_index()
    )
    return {
        "dash_households": hh[["household_id", "tariff_group", "acorn_group", "acorn", "segment_id", "segment_label"]],
        "dash_group_sizes": sizes,
    }


def _view_daily(base: _Base, hh: pd.DataFrame, forecasts: pd.DataFrame, anomalies: pd.DataFrame):
    daily = base("household_daily")
    daily = _attach_groups(daily, hh, ("tariff_group", "acorn_group"))
    daily["day_local"] = _day_str(daily["local_date"])
    daily = daily.dropna(subset=["day_local"])
    for c in ("energy_kwh", "readings_present", "readings_expected"):
        daily[c] = pd.to_numeric(daily[c], errors="coerce")
    daily["reporting"] = (daily["readings_present"].fillna(0) > 0).astype(int)
    cube = _cube(
        daily,
        ["day_local"],
        ("tariff_group", "acorn_group"),
        {
            "households_reporting": ("reporting", "sum"),
            "energy_kwh": ("energy_kwh", "sum"),
            "readings_present": ("readings_present", "sum"),
            "readings_expected": ("readings_expected", "sum"),
        },
    )
    if len(cube):
        cube["completeness"] = cube["readings_present"] / cube["readings_expected"].replace(0, np.nan)
        cube["mean_kwh_per_household"] = cube["energy_kwh"] / cube["households_reporting"].replace(0, np.nan)

    # one document per household for the drill-down, with its daily forecast band and alert counts
    per_day = daily[["household_id", "day_local", "energy_kwh", "completeness", "tariff_group", "acorn_group"]]
    if len(forecasts):
        f = forecasts[forecasts["task"] == "household_daily"].copy()
        f["day_local"] = _day_str(
            f["local_date"].fillna(pd.to_datetime(f["target_time_utc"], errors="coerce").dt.strftime("%Y-%m-%d"))
        )
        f = f.rename(columns={"series_id": "household_id", "p10_kwh": "p10", "p50_kwh": "p50", "p90_kwh": "p90"})
        # the model's band where there is one (backtests carry the baselines' forecasts for the same days)
        f = f.assign(_baseline=_is_baseline(f["model"])).sort_values(["_baseline", "model"])
        f = f.drop_duplicates(["household_id", "day_local"], keep="first")
        per_day = per_day.merge(
            f[["household_id", "day_local", "p10", "p50", "p90"]], on=["household_id", "day_local"], how="left"
        )
    if len(anomalies):
        a = anomalies.groupby(["household_id", "day_local"]).size().rename("alerts").reset_index()
        per_day = per_day.merge(a, on=["household_id", "day_local"], how="left")
    for c in ("p10", "p50", "p90", "alerts"):
        if c not in per_day.columns:
            per_day[c] = None
    per_day = per_day.sort_values(["household_id", "day_local"])
    docs = []
    day_cols = ["day_local", "energy_kwh", "completeness", "p10", "p50", "p90", "alerts"]
    for household_id, rows in per_day.groupby("household_id", sort=False):
        first = rows.iloc[0]
        docs.append(
            {
                "_id": household_id,
                "tariff_group": first["tariff_group"],
                "acorn_group": first["acorn_group"],
                # null fields dropped: 730 days x 5,566 households is most of the store's volume
                "days": [{k: v for k, v in day.items() if v is not None} for day in _records(rows[day_cols])],
            }
        )
    return cube, docs


def _view_halfhourly(base: _Base):
    gh = base("group_halfhourly")
    if not len(gh):
        return pd.DataFrame(), pd.DataFrame()
    gh["group_kind"] = gh["group_kind"].fillna("all")
    gh["tariff_group"] = np.where(gh["group_kind"] == "tariff", gh["group_name"], ALL)
    gh["acorn_group"] = np.where(gh["group_kind"] == "acorn", gh["group_name"], ALL)
    gh["acorn_group"] = gh["acorn_group"].replace({"": UNKNOWN, "ACORN-": UNKNOWN})
    gh["households_reporting"] = pd.to_numeric(gh["households_reporting"], errors="coerce").fillna(0)
    gh["total_energy_kwh"] = pd.to_numeric(gh["total_energy_kwh"], errors="coerce")
    missing_total = gh["total_energy_kwh"].isna()
    gh.loc[missing_total, "total_energy_kwh"] = (
        pd.to_numeric(gh.loc[missing_total, "mean_energy_kwh"], errors="coerce")
        * gh.loc[missing_total, "households_reporting"]
    )
    gh["ts_local"] = _local_str(gh["interval_start_utc"])
    local_day = pd.to_datetime(gh["local_date"].fillna(gh["ts_local"].str[:10]), errors="coerce")
    gh["daytype"] = np.where(local_day.dt.dayofweek >= 5, "Weekend", "Weekday")
    gh["season"] = local_day.dt.month.map(SEASONS)

    last_day = local_day.max()
    recent = gh[local_day > last_day - pd.Timedelta(days=RECENT_DAYS)]
    recent = recent[
        ["ts_local", "tariff_group", "acorn_group", "total_energy_kwh", "mean_energy_kwh", "households_reporting"]
    ]

    profile = (
        gh.groupby(["halfhour_local", "daytype", "season", "tariff_group", "acorn_group"], dropna=False)
        .agg(
            sum_energy_kwh=("total_energy_kwh", "sum"),
            household_halfhours=("households_reporting", "sum"),
            days=("ts_local", "count"),
        )
        .reset_index()
    )
    profile["halfhour_local"] = pd.to_numeric(profile["halfhour_local"], errors="coerce").fillna(0).astype(int)
    profile["hh_label"] = _hh_label(profile["halfhour_local"])
    profile["mean_kwh"] = profile["sum_energy_kwh"] / profile["household_halfhours"].replace(0, np.nan)
    return recent, profile


def _read_forecasts(base: _Base) -> pd.DataFrame:
    """Live day-ahead forecasts and the history's backtests (the only ones with actuals until the actual
    arrives): the accuracy views score whatever has an actual."""
    f = pd.concat([base("forecasts"), base("forecasts_backtest")], ignore_index=True)
    for c in ("p10_kwh", "p50_kwh", "p90_kwh", "actual_kwh"):
        f[c] = pd.to_numeric(f[c], errors="coerce")
    return f


def _view_forecasts(base: _Base, f: pd.DataFrame):
    metrics = base("forecast_metrics")
    if len(metrics):
        metrics["is_baseline"] = _is_baseline(metrics["model"])
        end = metrics["fold_end"].fillna(metrics["cutoff"])
        metrics["fold_end_local"] = (
            pd.to_datetime(end, errors="coerce", utc=True).dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M:%S")
        )
        metrics = metrics.drop(columns=["fold_end", "cutoff"])
    if not len(f):
        return pd.DataFrame(), pd.DataFrame(), metrics

    f = f.copy()
    f["ts_local"] = _local_str(f["target_time_utc"])
    f["local_date"] = f["local_date"].fillna(f["ts_local"].str[:10])
    f["day_local"] = _day_str(f["local_date"])
    scored = f.dropna(subset=["actual_kwh", "p50_kwh"]).copy()
    scored["abs_error"] = (scored["p50_kwh"] - scored["actual_kwh"]).abs()
    scored["covered"] = (
        (scored["actual_kwh"] >= scored["p10_kwh"]) & (scored["actual_kwh"] <= scored["p90_kwh"])
    ).astype(float)
    accuracy = (
        scored.groupby(["model", "task", "day_local"])
        .agg(mae=("abs_error", "mean"), coverage_p10_p90=("covered", "mean"), points=("abs_error", "size"))
        .reset_index()
    )
    accuracy["is_baseline"] = _is_baseline(accuracy["model"])

    # the band chart shows each group series of the model with the lowest error, over the last days
    grp = f[f["task"] == "group_halfhourly"].copy()
    if len(grp):
        by_model = scored[scored["task"] == "group_halfhourly"].groupby("model")["abs_error"].mean()
        candidates = (
            by_model[~_is_baseline(by_model.index.to_series()).astype(bool).values] if len(by_model) else by_model
        )
        best = (candidates if len(candidates) else by_model).idxmin() if len(by_model) else grp["model"].iloc[0]
        grp = grp[grp["model"] == best]
        last = pd.to_datetime(grp["local_date"], errors="coerce").max()
        grp = grp[pd.to_datetime(grp["local_date"], errors="coerce") > last - pd.Timedelta(days=RECENT_DAYS)]
        grp = pd.concat([grp.reset_index(drop=True), _series_groups(grp["series_id"]).reset_index(drop=True)], axis=1)
        series = grp[
            [
                "ts_local",
                "series_id",
                "tariff_group",
                "acorn_group",
                "model",
                "p10_kwh",
                "p50_kwh",
                "p90_kwh",
                "actual_kwh",
            ]
        ]
    else:
        series = pd.DataFrame()
    return series, accuracy, metrics


def _read_anomalies(base: _Base) -> pd.DataFrame:
    a = base("anomalies")
    if len(a):
        a["start_local"] = _local_str(a["start_utc"])
        a["local_date"] = a["local_date"].fillna(a["start_local"].str[:10])
        a["day_local"] = _day_str(a["local_date"])
        a["kind"] = a["kind"].fillna(UNKNOWN)
    return a


def _view_anomalies(a: pd.DataFrame, hh: pd.DataFrame):
    if not len(a):
        return pd.DataFrame(), pd.DataFrame()
    a = _attach_groups(a, hh)
    daily = _cube(a, ["day_local", "kind"], ("tariff_group", "acorn_group"), {"alerts": ("household_id", "size")})
    per_household = (
        a.groupby(["household_id", "tariff_group", "acorn_group", "segment_label"])
        .agg(
            alerts=("kind", "size"),
            kinds=("kind", lambda k: ", ".join(sorted(set(k)))),
            first_alert_local=("start_local", "min"),
            last_alert_local=("start_local", "max"),
        )
        .reset_index()
    )
    top = _top_per_level(per_household, "alerts", TOP_N)
    return daily, top


def _view_segments(base: _Base) -> pd.DataFrame:
    sp = base("segment_profiles")
    if len(sp):
        sp["hh_label"] = _hh_label(sp["halfhour_local"])
        sp["segment_label"] = sp["segment_label"].fillna(sp["segment_id"].astype(str))
    return sp


def _view_tariffs(base: _Base, hh: pd.DataFrame):
    t = base("tariff_comparison_monthly")
    if not len(t):
        return pd.DataFrame(), pd.DataFrame()
    for c in ("energy_kwh", "flat_cost_pence", "dtou_cost_pence", "shifted_dtou_cost_pence"):
        t[c] = pd.to_numeric(t[c], errors="coerce")
    t = _attach_groups(t, hh)
    per_household = (
        t.groupby(["household_id", "tariff_group", "acorn_group", "segment_label"])
        .agg(
            months=("month", "nunique"),
            energy_kwh=("energy_kwh", "sum"),
            flat=("flat_cost_pence", "sum"),
            dtou=("dtou_cost_pence", "sum"),
            shifted=("shifted_dtou_cost_pence", "sum"),
        )
        .reset_index()
    )
    # pounds for people; positive saving = the household pays less on dToU than on the flat tariff
    per_household["flat_cost_gbp"] = per_household.pop("flat") / 100
    per_household["dtou_cost_gbp"] = per_household.pop("dtou") / 100
    per_household["shifted_dtou_cost_gbp"] = per_household.pop("shifted") / 100
    bills = ["flat_cost_gbp", "dtou_cost_gbp", "shifted_dtou_cost_gbp"]
    per_household[bills] = per_household[bills].round(2)
    # savings from the rounded bills, so the table's columns add up to the penny
    per_household["saving_gbp"] = (per_household["flat_cost_gbp"] - per_household["dtou_cost_gbp"]).round(2)
    per_household["shift_saving_gbp"] = (per_household["dtou_cost_gbp"] - per_household["shifted_dtou_cost_gbp"]).round(
        2
    )
    per_household["energy_kwh"] = per_household["energy_kwh"].round(3)
    per_household["outcome"] = np.where(
        per_household["saving_gbp"] >= 0, "Winner (dToU cheaper)", "Loser (flat cheaper)"
    )

    t["saving"] = t["flat_cost_pence"] - t["dtou_cost_pence"]
    t["winner"] = (t["saving"] >= 0).astype(int)
    t["month_local"] = pd.to_datetime(t["month"].astype(str).str[:7] + "-01", errors="coerce").dt.strftime(
        "%Y-%m-%d 00:00:00"
    )
    monthly = _cube(
        t,
        ["month_local"],
        ("tariff_group", "acorn_group"),
        {
            "households": ("household_id", "nunique"),
            "winners": ("winner", "sum"),
            "energy_kwh": ("energy_kwh", "sum"),
            "flat_cost_gbp": ("flat_cost_pence", "sum"),
            "dtou_cost_gbp": ("dtou_cost_pence", "sum"),
            "shifted_dtou_cost_gbp": ("shifted_dtou_cost_pence", "sum"),
        },
    )
    for c in ("flat_cost_gbp", "dtou_cost_gbp", "shifted_dtou_cost_gbp"):
        monthly[c] = monthly[c] / 100
    monthly["losers"] = monthly["households"] - monthly["winners"]
    monthly["saving_gbp"] = monthly["flat_cost_gbp"] - monthly["dtou_cost_gbp"]
    monthly["shift_saving_gbp"] = monthly["dtou_cost_gbp"] - monthly["shifted_dtou_cost_gbp"]
    return per_household, monthly


def _view_operations(base: _Base, daily_cube: pd.DataFrame, now: datetime):
    dq = base("dq_results")
    if len(dq):
        dq["validated_local"] = _local_str(dq.pop("validated_at"))
        dq["success"] = dq["success"].fillna(False).astype(bool).astype(int)
        dq["status"] = np.where(dq["success"] == 1, "passed", "failed")
    runs = base("pipeline_runs")
    if len(runs):
        for src, dst in (
            ("started_at", "started_local"),
            ("ended_at", "ended_local"),
            ("data_interval_start", "interval_start_local"),
            ("data_interval_end", "interval_end_local"),
        ):
            runs[dst] = _local_str(runs.pop(src))
    last_day = None
    if len(daily_cube):
        present = daily_cube[
            (daily_cube["tariff_group"] == ALL)
            & (daily_cube["acorn_group"] == ALL)
            & (daily_cube["readings_present"] > 0)
        ]
        last_day = present["day_local"].max() if len(present) else None
    last_run = runs.sort_values("started_local").iloc[-1] if len(runs) else None
    freshness = pd.DataFrame(
        [
            {
                "last_reading_day": last_day,
                "views_built_local": pd.Timestamp(now).tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
                "days_since_last_reading": (
                    (pd.Timestamp(now).tz_convert(LOCAL_TZ).tz_localize(None) - pd.Timestamp(last_day)).days
                    if last_day
                    else None
                ),
                "last_run_dag": None if last_run is None else last_run["dag_id"],
                "last_run_status": None if last_run is None else last_run["status"],
                "last_run_started_local": None if last_run is None else last_run["started_local"],
            }
        ]
    )
    return dq, runs, freshness


def compute_dashboard_views(base: _Base, now: datetime | None = None) -> dict[str, list[dict]]:
    """Every ``dash_*`` view as documents, from the base collections (a ``_Base`` over a db or frames)."""
    now = now or datetime.now(UTC)
    hh = _households(base)
    forecasts = _read_forecasts(base)
    anomalies = _read_anomalies(base)

    views: dict[str, pd.DataFrame | list[dict]] = dict(_view_households(hh))
    daily_cube, household_docs = _view_daily(base, hh, forecasts, anomalies)
    views |= _levels("dash_consumption_daily", daily_cube)
    for bucket in HOUSEHOLD_BUCKETS:
        views[f"{HOUSEHOLD_DAYS}_{bucket}"] = []
    for doc in household_docs:
        views[f"{HOUSEHOLD_DAYS}_{household_bucket(doc['_id'])}"].append(doc)
    recent, profile = _view_halfhourly(base)
    views |= _levels("dash_halfhourly_recent", recent) | _levels("dash_profile_halfhour", profile)
    series, views["dash_forecast_accuracy_daily"], views["dash_forecast_metrics"] = _view_forecasts(base, forecasts)
    views |= _levels("dash_forecast_series", series)
    anomalies_daily, anomaly_top = _view_anomalies(anomalies, hh)
    views |= _levels("dash_anomalies_daily", anomalies_daily) | _levels("dash_anomaly_top", anomaly_top)
    views["dash_segment_profiles"] = _view_segments(base)
    tariff_households, tariff_monthly = _view_tariffs(base, hh)
    views["dash_tariff_households"] = tariff_households
    views |= _levels("dash_tariff_monthly", tariff_monthly)
    if len(tariff_households):
        views["dash_tariff_outcomes"] = (
            tariff_households.groupby(["tariff_group", "acorn_group", "segment_label", "outcome"])
            .size()
            .rename("households")
            .reset_index()
        )
        cols = ["household_id", "tariff_group", "acorn_group", "saving_gbp", "shift_saving_gbp"]
        winners = _top_per_level(tariff_households[cols], "saving_gbp", TOP_N).assign(rank_side="winner")
        losers = _top_per_level(tariff_households[cols], "saving_gbp", TOP_N, ascending=True).assign(rank_side="loser")
        views |= _levels("dash_tariff_extremes", pd.concat([winners, losers], ignore_index=True))
    else:
        views |= _levels("dash_tariff_extremes", pd.DataFrame())
    views["dash_dq_results"], views["dash_pipeline_runs"], views["dash_freshness"] = _view_operations(
        base, daily_cube, now
    )
    views["dash_ingest"] = base("ingest_accounting")
    # `rows` is a reserved word in PyMongoSQL's SQL dialect
    views["dash_quarantine"] = base("readings_rejected_summary").rename(columns={"rows": "rejected_rows"})
    for name in ("dash_households", "dash_tariff_households"):
        frame = views.get(name)
        if isinstance(frame, pd.DataFrame) and len(frame):
            views[name] = frame.assign(_id=frame["household_id"])
    out = {}
    for name in DASH_COLLECTIONS:
        data = views.get(name)
        out[name] = data if isinstance(data, list) else _records(data) if data is not None else []
    return out


def write_dashboard_views(db: Database, views: dict[str, list[dict]]) -> dict[str, int]:
    return {name: _replace(db, name, docs) for name, docs in views.items()}


def build_dashboard_views(
    db: Database, now: datetime | None = None, lake_dir: Path | str | None = None
) -> dict[str, int]:
    """Rebuild every ``dash_*`` collection of ``db`` from its base collections (the Parquet ones from ``lake_dir``
    when given); returns documents per view."""
    base = _Base(db) if lake_dir is None else LakeBase(db, lake_dir)
    counts = write_dashboard_views(db, compute_dashboard_views(base, now))
    log.info("dashboard views rebuilt: %s", counts)
    return counts
