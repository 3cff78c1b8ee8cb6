"""Design matrices for the three day-ahead tasks, built from data strictly before the target day.

All three share one trick that makes a single global model work across households of very different size:
every kWh input and the target are divided by the series' recent level (``scale``: the mean of the previous 28
days), and ``log(scale)`` is a feature. Forecasts are multiplied back by ``scale``.

- ``household_daily``: rows of ``household_daily_features`` (one per household-day, built by the Spark job).
- ``group_halfhourly`` / ``household_halfhourly``: a cube ``values[series, day, slot]`` of half-hourly kWh (slot =
  local half hour 0..47); the features of (s, d, h) only index days d-1, d-2, ... of the cube.

Enough history (both household tasks): at least 21 usable days among the 28 before D (usable = at least 80 % of
the day's half hours present). Scoring: a target day is scored only when all of its expected half hours are
present (completeness 1.0); other days are forecast but flagged and left out of the metrics.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spark_jobs.features import FEATURE_COLUMNS

MIN_USABLE_DAYS_28 = 21
BASELINES = ("baseline_yesterday", "baseline_last_week", "baseline_mean_7d")
MODEL_NAME = "hgb_quantile"


@dataclass
class Design:
    """Rows of one task: keys, features, normalising scale, actuals and baseline forecasts (kWh)."""

    keys: pd.DataFrame  # series_id, local_date (datetime64[D]) [, slot]
    X: np.ndarray
    scale: np.ndarray
    y_kwh: np.ndarray  # NaN when unknown (future) or missing
    scored: np.ndarray  # bool: actual known and the target day complete
    baselines: dict[str, np.ndarray]

    def subset(self, mask: np.ndarray) -> Design:
        """Rows by boolean mask or integer positions."""
        mask = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return Design(
            self.keys.iloc[mask].reset_index(drop=True),
            self.X[mask],
            self.scale[mask],
            self.y_kwh[mask],
            self.scored[mask],
            {k: v[mask] for k, v in self.baselines.items()},
        )

    @property
    def days(self) -> np.ndarray:
        return self.keys["local_date"].to_numpy().astype("datetime64[D]")


def _fallback(*arrays: np.ndarray) -> np.ndarray:
    out = np.array(arrays[0], dtype=float, copy=True)
    for a in arrays[1:]:
        out = np.where(np.isfinite(out), out, a)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Task 1: household daily kWh
# ---------------------------------------------------------------------------------------------------------------
DAILY_KWH_COLUMNS = [c for c in FEATURE_COLUMNS if c.endswith("_kwh")]
DAILY_MODEL_FEATURES = [c for c in FEATURE_COLUMNS if c not in ("hh_history_days",)] + ["log_scale_kwh"]


def daily_design(features: pd.DataFrame, labels: pd.DataFrame | None) -> Design:
    """``features``: household_daily_features rows; ``labels``: household_daily (energy_kwh, completeness)."""
    f = features.copy()
    f["local_date"] = pd.to_datetime(f["local_date"]).values.astype("datetime64[D]")
    if labels is not None and len(labels):
        lab = labels[["household_id", "local_date", "energy_kwh", "completeness"]].copy()
        lab["local_date"] = pd.to_datetime(lab["local_date"]).values.astype("datetime64[D]")
        f = f.merge(lab, on=["household_id", "local_date"], how="left")
    else:
        f["energy_kwh"] = np.nan
        f["completeness"] = np.nan
    scale = _fallback(f["roll28_mean_kwh"].to_numpy(float), f["hh_mean_kwh"].to_numpy(float))
    enough = f["roll28_valid_days"].fillna(0).to_numpy() >= MIN_USABLE_DAYS_28
    keep = enough & np.isfinite(scale) & (scale > 0)
    f, scale = f[keep].reset_index(drop=True), scale[keep]
    X = f[[c for c in DAILY_MODEL_FEATURES if c != "log_scale_kwh"]].astype(float).copy()
    for c in DAILY_KWH_COLUMNS:
        X[c] = X[c] / scale
    X["log_scale_kwh"] = np.log(scale)
    y = f["energy_kwh"].to_numpy(float)
    scored = np.isfinite(y) & (f["completeness"].fillna(0).to_numpy() >= 1.0)
    roll7 = f["roll7_mean_kwh"].to_numpy(float)
    baselines = {
        "baseline_yesterday": _fallback(f["lag_1d_kwh"].to_numpy(float), roll7, scale),
        "baseline_last_week": _fallback(
            f["lag_7d_kwh"].to_numpy(float), f["same_dow_mean_4w_kwh"].to_numpy(float), roll7, scale
        ),
        "baseline_mean_7d": _fallback(roll7, scale),
    }
    keys = pd.DataFrame({"series_id": f["household_id"].to_numpy(), "local_date": f["local_date"].to_numpy()})
    return Design(keys, X[DAILY_MODEL_FEATURES].to_numpy(np.float32), scale, y, scored, baselines)


def daily_history_report(features: pd.DataFrame, labels: pd.DataFrame, day_from, day_to) -> dict:
    """Households with actual days in [day_from, day_to] that the history rule kept out of the forecasts."""
    f = features[(features["local_date"] >= day_from) & (features["local_date"] <= day_to)]
    short = f[f["roll28_valid_days"].fillna(0) < MIN_USABLE_DAYS_28]
    lab = labels[(labels["local_date"] >= day_from) & (labels["local_date"] <= day_to) & labels["energy_kwh"].notna()]
    with_actuals = set(lab["household_id"])
    short = short[short["household_id"].isin(with_actuals)]
    ok = set(f.loc[f["roll28_valid_days"].fillna(0) >= MIN_USABLE_DAYS_28, "household_id"])
    never = sorted(with_actuals - ok)
    return {
        "rule": f"forecast day D only with >= {MIN_USABLE_DAYS_28} usable days among D-28..D-1",
        "households_never_forecast": len(never),
        "households_never_forecast_ids": never,
        "households_partly_skipped": int(short["household_id"].nunique()),
        "household_days_skipped": len(short),
    }


# ---------------------------------------------------------------------------------------------------------------
# Tasks 2 and 3: half-hourly cubes
# ---------------------------------------------------------------------------------------------------------------
HH_CONTEXT_COLUMNS = [
    "dow_sin",
    "dow_cos",
    "doy_sin",
    "doy_cos",
    "is_weekend",
    "is_bank_holiday",
    "is_bank_holiday_prev_day",
    "temperature_mean_c",
    "temperature_min_c",
    "heating_degree_days_c",
    "is_tou",
    "acorn_code",
]
HH_OWN_FEATURES = [
    "slot",
    "slot_sin",
    "slot_cos",
    "tou_band",
    "log_scale_kwh",
    "lag_1d",
    "lag_2d",
    "lag_7d",
    "lag_14d",
    "lag_1d_neighbours",
    "lag_1d_last_slot",
    "mean_7d",
    "std_7d",
    "min_7d",
    "max_7d",
    "mean_28d",
    "same_dow_mean_4w",
    "day_mean_1d",
    "day_mean_7d",
]
HH_MODEL_FEATURES = HH_OWN_FEATURES + HH_CONTEXT_COLUMNS


@dataclass
class Cube:
    """Half-hourly kWh per series, local day and local half-hour slot (NaN = missing)."""

    series: np.ndarray  # (S,) str
    days: np.ndarray  # (D,) datetime64[D], consecutive
    values: np.ndarray  # (S, D, 48) float32
    complete: np.ndarray  # (S, D) bool: every expected half hour present
    is_tou: np.ndarray  # (S,) bool

    def day_index(self, day) -> int:
        return int((np.datetime64(day, "D") - self.days[0]).astype(int))


def cube_from_wide(
    wide: pd.DataFrame, series_col: str, complete: pd.DataFrame | None, tou_series: set, first_day, last_day
) -> Cube:
    """``wide``: series_col, local_date, hh_0..hh_47. ``complete``: series_col, local_date, complete (bool)."""
    days = np.arange(np.datetime64(first_day, "D"), np.datetime64(last_day, "D") + 1)
    series = np.array(sorted(wide[series_col].unique()), dtype=object)
    values = np.full((len(series), len(days), 48), np.nan, dtype=np.float32)
    comp = np.zeros((len(series), len(days)), dtype=bool)
    s_pos = {s: i for i, s in enumerate(series)}
    if len(wide):
        d = pd.to_datetime(wide["local_date"]).values.astype("datetime64[D]")
        ok = (d >= days[0]) & (d <= days[-1])
        si = wide[series_col].map(s_pos).to_numpy()[ok]
        di = (d[ok] - days[0]).astype(int)
        values[si, di, :] = wide[[f"hh_{h}" for h in range(48)]].to_numpy(np.float32)[ok]
        if complete is None:
            comp[si, di] = np.isfinite(values[si, di, :]).sum(axis=1) >= 46
    if complete is not None and len(complete):
        c = complete[complete[series_col].isin(s_pos)]
        d = pd.to_datetime(c["local_date"]).values.astype("datetime64[D]")
        ok = (d >= days[0]) & (d <= days[-1]) & c["complete"].to_numpy(bool)
        comp[c[series_col].map(s_pos).to_numpy()[ok], (d[ok] - days[0]).astype(int)] = True
    is_tou = np.array([s in tou_series for s in series], dtype=bool)
    return Cube(series, days, values, comp, is_tou)


def usable_days_28(cube: Cube) -> np.ndarray:
    """(S, D) count of usable days (>= 80 % of slots present) among d-28..d-1."""
    usable = (np.isfinite(cube.values).sum(axis=2) >= 0.8 * 48).astype(np.int32)
    csum = np.concatenate([np.zeros((usable.shape[0], 1), np.int32), np.cumsum(usable, axis=1)], axis=1)
    d = np.arange(usable.shape[1])
    return csum[:, d] - csum[:, np.maximum(d - 28, 0)]


def candidate_pairs(cube: Cube, day_from, day_to, require_history: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(series index, day index) pairs with d in [day_from, day_to] and 28 days of cube before d."""
    lo = max(cube.day_index(day_from), 28)
    hi = min(cube.day_index(day_to), len(cube.days) - 1)
    if hi < lo:
        return np.zeros(0, int), np.zeros(0, int)
    s, d = np.meshgrid(np.arange(len(cube.series)), np.arange(lo, hi + 1), indexing="ij")
    s, d = s.ravel(), d.ravel()
    if require_history:
        ok = usable_days_28(cube)[s, d] >= MIN_USABLE_DAYS_28
        s, d = s[ok], d[ok]
    return s, d


def _nanstat(fn, a: np.ndarray, axis: int) -> np.ndarray:
    """nan-aware reduction without the all-NaN-slice warnings (an all-missing window is simply NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(a, axis=axis)


def halfhourly_design(
    cube: Cube,
    s_idx: np.ndarray,
    d_idx: np.ndarray,
    context: pd.DataFrame,
    tou_band: np.ndarray | None,
    chunk: int = 20000,
) -> Design:
    """Rows (s, d, slot) for every pair, 48 per pair. ``context`` is aligned with the pairs (HH_CONTEXT_COLUMNS);
    ``tou_band`` is (D, 48) for the cube's days: +1 High, -1 Low, 0 Normal / outside the dToU year."""
    n = len(s_idx)
    parts = []
    for start in range(0, n, chunk):
        s = s_idx[start : start + chunk]
        d = d_idx[start : start + chunk]
        hist = cube.values[s[:, None], d[:, None] - np.arange(1, 29)[None, :], :]  # (m, 28, 48), day d-1 first
        scale = _nanstat(np.nanmean, hist.reshape(len(s), -1), axis=1)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)
        sc = scale[:, None]
        h7 = hist[:, :7, :]
        lag1 = hist[:, 0, :]
        padded = np.concatenate([lag1[:, :1], lag1, lag1[:, -1:]], axis=1)
        neighbours = _nanstat(np.nanmean, np.stack([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]]), axis=0)
        own = {
            "lag_1d": lag1 / sc,
            "lag_2d": hist[:, 1, :] / sc,
            "lag_7d": hist[:, 6, :] / sc,
            "lag_14d": hist[:, 13, :] / sc,
            "lag_1d_neighbours": neighbours / sc,
            "lag_1d_last_slot": np.repeat(hist[:, 0, 47:48], 48, axis=1) / sc,
            "mean_7d": _nanstat(np.nanmean, h7, axis=1) / sc,
            "std_7d": _nanstat(np.nanstd, h7, axis=1) / sc,
            "min_7d": _nanstat(np.nanmin, h7, axis=1) / sc,
            "max_7d": _nanstat(np.nanmax, h7, axis=1) / sc,
            "mean_28d": _nanstat(np.nanmean, hist, axis=1) / sc,
            "same_dow_mean_4w": _nanstat(np.nanmean, hist[:, [6, 13, 20, 27], :], axis=1) / sc,
            "day_mean_1d": np.repeat(_nanstat(np.nanmean, lag1, axis=1)[:, None], 48, axis=1) / sc,
            "day_mean_7d": np.repeat(_nanstat(np.nanmean, h7.reshape(len(s), -1), axis=1)[:, None], 48, axis=1) / sc,
        }
        slot = np.tile(np.arange(48), (len(s), 1))
        own["slot"] = slot
        own["slot_sin"] = np.sin(2 * np.pi * slot / 48)
        own["slot_cos"] = np.cos(2 * np.pi * slot / 48)
        band = tou_band[d] if tou_band is not None else np.zeros((len(s), 48))
        own["tou_band"] = np.where(cube.is_tou[s][:, None], band, 0)
        own["log_scale_kwh"] = np.repeat(np.log(scale)[:, None], 48, axis=1)
        ctx = context.iloc[start : start + chunk][HH_CONTEXT_COLUMNS].to_numpy(float)
        X = np.empty((len(s), 48, len(HH_MODEL_FEATURES)), dtype=np.float32)
        for j, name in enumerate(HH_OWN_FEATURES):
            X[:, :, j] = own[name]
        X[:, :, len(HH_OWN_FEATURES) :] = ctx[:, None, :]
        y = cube.values[s, d, :]
        mean7 = _fallback(
            _nanstat(np.nanmean, h7, axis=1).ravel(), _nanstat(np.nanmean, hist, axis=1).ravel(), np.repeat(scale, 48)
        )
        parts.append(
            {
                "X": X.reshape(-1, len(HH_MODEL_FEATURES)),
                "scale": np.repeat(scale, 48),
                "y": y.reshape(-1).astype(float),
                "scored": (np.isfinite(y) & cube.complete[s, d][:, None]).reshape(-1),
                "baseline_yesterday": _fallback(lag1.ravel(), mean7),
                "baseline_last_week": _fallback(hist[:, 6, :].ravel(), mean7),
                "baseline_mean_7d": mean7,
                "s": np.repeat(s, 48),
                "d": np.repeat(d, 48),
                "slot": slot.ravel(),
            }
        )
    if not parts:
        empty = np.zeros(0)
        return Design(
            pd.DataFrame({"series_id": [], "local_date": np.array([], "datetime64[D]"), "slot": []}),
            np.zeros((0, len(HH_MODEL_FEATURES)), np.float32),
            empty,
            empty,
            np.zeros(0, bool),
            {b: empty for b in BASELINES},
        )
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = np.isfinite(cat["scale"])
    cat = {k: v[keep] for k, v in cat.items()}
    keys = pd.DataFrame(
        {"series_id": cube.series[cat["s"]], "local_date": cube.days[cat["d"]], "slot": cat["slot"].astype(np.int32)}
    )
    return Design(keys, cat["X"], cat["scale"], cat["y"], cat["scored"], {b: cat[b] for b in BASELINES})


def halfhourly_history_report(cube: Cube, day_from, day_to) -> dict:
    lo, hi = max(cube.day_index(day_from), 0), min(cube.day_index(day_to), len(cube.days) - 1)
    if hi < lo:
        return {"households_never_forecast": 0, "households_never_forecast_ids": [], "household_days_skipped": 0}
    enough = usable_days_28(cube)[:, lo : hi + 1] >= MIN_USABLE_DAYS_28
    has_actual = np.isfinite(cube.values[:, lo : hi + 1, :]).any(axis=2)
    skipped = has_actual & ~enough
    never = has_actual.any(axis=1) & ~(enough & has_actual).any(axis=1)
    return {
        "rule": f"forecast day D only with >= {MIN_USABLE_DAYS_28} usable days among D-28..D-1",
        "households_never_forecast": int(never.sum()),
        "households_never_forecast_ids": sorted(cube.series[never].tolist()),
        "households_partly_skipped": int(skipped.any(axis=1).sum()),
        "household_days_skipped": int(skipped.sum()),
    }
