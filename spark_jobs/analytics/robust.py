"""The robust anomaly detector: one household at a time, NumPy only, so Spark can run it with ``applyInPandas``.

Why this shape: every kind of anomaly is a departure from the household's OWN recent behaviour, so each day is
scored against a trailing reference of that household (medians and P10/P50/P90 of the previous 28 days, or the
P10-P90 band of a forecast when one is given), never against other homes. Medians and MADs keep one bad week
from moving the reference, and days already flagged are taken out of the reference and the scoring repeated,
so a two-week vacancy does not become "normal" half-way through or make the week after it look odd.

Kinds (a day gets at most one day kind; spikes are half hours and are only looked for on otherwise normal days):
- near_zero: the day's energy is below ``near_zero_ratio`` x the reference median (vacancy, meter fault).
- sustained_high: the load ADDED to the QUIET half of a half day's half hours (lowest reference) is far above the
  household's usual (``high_z`` MADs, and ``high_min_kwh``): an appliance left on adds the same kWh to every half
  hour, while a busy day multiplies the load. So the half day is read as x = a x reference + b through the medians
  of its quiet half hours and of its ``high_busy_slots`` busiest ones (a >= 1): b is the added load, a the busy-day
  factor. b is first corrected for the household's own response to heating degree days, so electric heating in a
  cold snap is not an anomaly.
- profile_shift: the 2-hour shape of the day, averaged over a centred week, is far (L1) from the reference shape
  (``shift_z`` robust z-scores of the household's own shape distance) for ``min_shift_days`` days or more. The
  flag-exclude-rescore loop runs up to ``iterations`` times: each pass keeps more of a long shift out of the
  reference, so a month on night shifts is not half-learnt as normal and its end not mistaken for a new shift.
- spike: one half hour (or two in a row) far beyond the household's OWN largest normal bursts: the residual is at
  least (1 + ``spike_z``) x the ``spike_q_hi`` quantile of its normal half hours' residuals (both in a row at
  (1 + ``spike_pair_z``) x). A ratio because bursts scale with the home (kettle in a flat vs shower and dryer in a
  family house). Severity of a spike is that ratio minus 1; of the other kinds the largest robust z of the event.
Consecutive days of one kind (gaps up to ``max_gap_days``) form one event.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from spark_jobs.analytics.io import MIN_SLOTS_COMPLETE, SLOT_COLS, SLOTS
from spark_jobs.analytics.schemas import DETECTOR_ROBUST

MAD_TO_SIGMA = 1.4826
P10_P90_TO_SIGMA = 2.5631  # width of the central 80 % of a normal distribution in sigmas

EVENT_COLUMNS = [
    "household_id",
    "detector",
    "kind",
    "start_utc",
    "end_utc",
    "duration_halfhours",
    "severity",
    "observed_kwh",
    "expected_kwh",
    "expected_source",
    "local_date",
]


@dataclass(frozen=True)
class RobustParams:
    ref_days: int = 28
    min_ref_days: int = 7
    ref_step: int = 7  # the per-slot reference is refreshed weekly: 7x cheaper, staleness <= 6 days
    iterations: int = 5  # until the flagged days stop changing; a long shift is found a week further per pass
    near_zero_ratio: float = 0.2
    high_z: float = 16.0  # quiet-half-day median residual, in MADs of the household's own such medians
    high_min_kwh: float = 0.3  # ... and at least this much per half hour above the reference
    high_busy_slots: int = 6  # busiest half hours of a half day that measure a busy day's multiplier (0: none)
    spike_q_hi: float = 0.9995  # a spike lies beyond this quantile of the household's normal residuals ...
    spike_z: float = 0.5  # ... by this share of it (residual >= 1.5 x the quantile)
    spike_pair_z: float = 0.3  # ... or two consecutive half hours both this far out
    spike_min_kwh: float = 1.0
    shift_window_days: int = 7  # shape compared as a centred 7-day mean (shifts last a week or more)
    shift_z: float = 4.5
    shift_min_l1: float = 0.15
    min_shift_days: int = 3
    max_gap_days: int = 1
    timezone: str = "Europe/London"


DEFAULT_PARAMS = RobustParams()


def trailing_quantiles(values: np.ndarray, qs: tuple[float, ...], window: int, step: int, min_count: int) -> np.ndarray:
    """NaN-aware quantiles of the previous ``window`` rows (the current row excluded), shape (len(qs), D, C).

    Computed at every ``step``-th row and held for the next ``step - 1`` rows. Rows without ``min_count`` values
    in their window take the last earlier reference, and the first rows the first reference there is.
    """
    d, c = values.shape
    padded = np.vstack([np.full((window, c), np.nan), values])
    windows = sliding_window_view(padded, window, axis=0)[np.arange(0, d, step)]  # (A, C, window)
    ordered = np.sort(windows, axis=2)  # NaN sorts last
    count = np.sum(~np.isnan(windows), axis=2)
    out = np.empty((len(qs), windows.shape[0], c))
    for i, q in enumerate(qs):
        pos = q * np.maximum(count - 1, 0)
        lo = np.floor(pos).astype(int)
        hi = np.ceil(pos).astype(int)
        v_lo = np.take_along_axis(ordered, lo[..., None], axis=2)[..., 0]
        v_hi = np.take_along_axis(ordered, hi[..., None], axis=2)[..., 0]
        val = v_lo + (v_hi - v_lo) * (pos - lo)
        val[count < min_count] = np.nan
        out[i] = val
    flat = _fill_down_up(out.transpose(1, 0, 2).reshape(windows.shape[0], -1))
    held = flat.reshape(windows.shape[0], len(qs), c).transpose(1, 0, 2)
    return held[:, np.arange(d) // step, :]


def _fill_down_up(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaN rows per column, then back-fill the leading ones (pandas ffill().bfill() without pandas)."""
    n = a.shape[0]
    ok = ~np.isnan(a)
    idx = np.where(ok, np.arange(n)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    down = np.take_along_axis(a, idx, axis=0)
    first = np.where(ok.any(axis=0), ok.argmax(axis=0), 0)
    lead = np.arange(n)[:, None] < first[None, :]
    return np.where(lead, a[first, np.arange(a.shape[1])][None, :], down)


def _nanmedian_last(a: np.ndarray, min_count: int) -> np.ndarray:
    """Median over the last axis ignoring NaN (sort puts NaN last); NaN with fewer than ``min_count`` values."""
    s = np.sort(a, axis=-1)
    n = np.sum(~np.isnan(a), axis=-1)
    lo = np.maximum((n - 1) // 2, 0)
    hi = np.maximum(n // 2, 0)
    v = 0.5 * (np.take_along_axis(s, lo[..., None], -1)[..., 0] + np.take_along_axis(s, hi[..., None], -1)[..., 0])
    return np.where(n >= max(min_count, 1), v, np.nan)


def _centred_nanmean(a: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Centred rolling mean over rows ignoring NaN rows (cumulative sums instead of pandas rolling)."""
    ok = ~np.isnan(a)
    csum = np.vstack([np.zeros((1, a.shape[1])), np.cumsum(np.where(ok, a, 0.0), axis=0)])
    ccnt = np.vstack([np.zeros((1, a.shape[1])), np.cumsum(ok, axis=0)])
    n = a.shape[0]
    half = window // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + (window - half), 0, n)
    total = csum[hi] - csum[lo]
    count = ccnt[hi] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= min_count, total / count, np.nan)


def _robust_z(x: np.ndarray, fit_mask: np.ndarray, floor: float) -> np.ndarray:
    """(x - median) / (1.4826 MAD) with median and MAD from the rows in ``fit_mask``."""
    ref = x[fit_mask & ~np.isnan(x)]
    if ref.size < 3:
        return np.full_like(x, np.nan)
    med = np.median(ref)
    mad = max(MAD_TO_SIGMA * np.median(np.abs(ref - med)), floor)
    return (x - med) / mad


def _spike_score(resid: np.ndarray, fit: np.ndarray, q_hi: float) -> np.ndarray:
    """How far each residual lies beyond the household's own largest normal bursts: resid / Q - 1, with Q the
    ``q_hi`` quantile of the normal half hours' residuals (at 0.9995, the 17th largest of two years); NaN without
    two weeks of them. A ratio, because appliance bursts scale with the home: a 3 kWh half hour is a fault in a
    flat with a 1 kWh kettle and a Tuesday evening in a house with an electric shower and a tumble dryer."""
    if fit.sum() < 48 * 14:
        return np.full_like(resid, np.nan)
    top = max(float(np.quantile(resid[fit], q_hi)), 0.05)
    return resid / top - 1.0


def _heating_slope(blk: np.ndarray, heat: np.ndarray, fit: np.ndarray) -> float:
    """kWh per half hour per degree-day colder than the reference window (>= 0), from the household's normal
    half days, with one pass of outlier clipping: electric heating follows the weather, not a fault."""
    x = np.repeat(heat[:, None], 2, axis=1)[fit]
    y = blk[fit]
    ok = ~np.isnan(y)
    x, y = x[ok], y[ok]
    if x.size < 20 or np.sum(x * x) <= 0:
        return 0.0
    slope = np.sum(x * y) / np.sum(x * x)
    r = y - slope * x
    keep = np.abs(r - np.median(r)) <= 5 * MAD_TO_SIGMA * np.median(np.abs(r - np.median(r))) + 1e-9
    if keep.sum() >= 20 and np.sum(x[keep] ** 2) > 0:
        slope = np.sum(x[keep] * y[keep]) / np.sum(x[keep] ** 2)
    return max(float(slope), 0.0)


def _runs(index: np.ndarray, max_gap: int) -> list[np.ndarray]:
    """Split sorted indices into runs whose neighbours are at most ``max_gap`` missing positions apart."""
    if index.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(index) > max_gap + 1) + 1
    return np.split(index, breaks)


def _to_utc(local_naive: pd.Series | list, tz: str) -> np.ndarray:
    """Local wall-clock times to naive UTC; the repeated autumn hour resolves to its first (BST) occurrence."""
    idx = pd.DatetimeIndex(local_naive)
    if len(idx) == 0:
        return idx.to_numpy()
    aware = idx.tz_localize(tz, ambiguous=np.ones(len(idx), dtype=bool), nonexistent="shift_forward")
    return aware.tz_convert("UTC").tz_localize(None).to_numpy()


def detect_household(*args, **kwargs) -> pd.DataFrame:
    """Events of one household (see ``_detect``); NumPy's all-NaN warnings on gap days are expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _detect(*args, **kwargs)


def _detect(
    household_id: str,
    dates: np.ndarray,
    energy: np.ndarray,
    band: np.ndarray | None = None,
    params: RobustParams = DEFAULT_PARAMS,
    hdd: np.ndarray | None = None,
) -> pd.DataFrame:
    """Events of one household. ``dates``: local dates (datetime64[D]) of the rows of ``energy`` (n x 48 kWh,
    NaN when missing); ``band``: optional n x 3 forecast P10/P50/P90 of the day's kWh (NaN where none);
    ``hdd``: optional heating degree days per row, so electric heating in a cold snap is not "sustained high"."""
    p = params
    if len(dates) == 0:
        return pd.DataFrame({c: pd.Series(dtype=_DTYPES[c]) for c in EVENT_COLUMNS})
    order = np.argsort(dates)
    dates = np.asarray(dates, dtype="datetime64[D]")[order]
    day0 = dates[0]
    pos = (dates - day0).astype(int)
    n_days = int(pos[-1]) + 1
    x = np.full((n_days, SLOTS), np.nan)
    x[pos] = np.asarray(energy, dtype=float)[order]
    fc = np.full((n_days, 3), np.nan)
    if band is not None:
        fc[pos] = np.asarray(band, dtype=float)[order]

    heat = np.full(n_days, np.nan)
    if hdd is not None:
        heat[pos] = np.asarray(hdd, dtype=float)[order]
    heat = np.nan_to_num(heat - trailing_quantiles(heat[:, None], (0.5,), p.ref_days, 1, 1)[0][:, 0], nan=0.0)

    present = np.sum(~np.isnan(x), axis=1)
    valid = present >= MIN_SLOTS_COMPLETE
    total = np.where(valid, np.nanmean(np.where(valid[:, None], x, 0.0), axis=1) * SLOTS, np.nan)

    excluded = np.zeros(n_days, dtype=bool)
    spike = np.zeros_like(x, dtype=bool)
    use_fc = ~np.isnan(fc[:, 1])
    for _ in range(p.iterations):
        t_in = np.where(valid & ~excluded, total, np.nan)[:, None]
        q10, q50, q90 = (a[:, 0] for a in trailing_quantiles(t_in, (0.1, 0.5, 0.9), p.ref_days, 1, p.min_ref_days))
        q10 = np.where(use_fc & ~np.isnan(fc[:, 0]), fc[:, 0], q10)
        q90 = np.where(use_fc & ~np.isnan(fc[:, 2]), fc[:, 2], q90)
        q50 = np.where(use_fc, fc[:, 1], q50)
        scale = np.maximum.reduce([(q90 - q10) / P10_P90_TO_SIGMA, 0.05 * q50, np.full(n_days, 0.1)])
        x_in = np.where((valid & ~excluded)[:, None] & ~spike, x, np.nan)
        ref = trailing_quantiles(x_in, (0.5,), p.ref_days, p.ref_step, p.min_ref_days)[0]
        resid = x - ref
        with np.errstate(invalid="ignore"):
            near_zero = valid & (total <= p.near_zero_ratio * q50)
        normal = valid & ~excluded & ~near_zero

        # Added load of each half day: x = a x ref + b through the medians of its quiet half (lowest reference) and
        # of its busiest half hours. An appliance left on ADDS the same kWh to every half hour (b), a busy day
        # MULTIPLIES the load (a >= 1), so a day at three times the usual load is not an appliance left on.
        half = SLOTS // 2
        ref_h = ref.reshape(n_days, 2, half)
        order = np.argsort(np.nan_to_num(ref_h, nan=np.inf), axis=2)
        quiet, busy = order[:, :, : half // 2], order[:, :, half - p.high_busy_slots :]
        x_h = x.reshape(n_days, 2, half)
        with np.errstate(all="ignore"):
            xq = _nanmedian_last(np.take_along_axis(x_h, quiet, axis=2), min_count=SLOTS // 8)
            rq = _nanmedian_last(np.take_along_axis(ref_h, quiet, axis=2), min_count=SLOTS // 8)
            if p.high_busy_slots:
                xb = _nanmedian_last(np.take_along_axis(x_h, busy, axis=2), min_count=2)
                rb = _nanmedian_last(np.take_along_axis(ref_h, busy, axis=2), min_count=2)
                # x = a ref + b through the quiet and the busy medians: b is the added load, a the busy-day factor
                a = np.clip((xb - xq) / np.maximum(rb - rq, 0.05), 1.0, None)
                blk = xq - a * rq
            else:
                blk = xq - rq
        blk = blk - _heating_slope(blk, heat, normal) * heat[:, None]
        z_blk = _robust_z(blk, np.repeat(normal[:, None], 2, axis=1), 0.02)
        with np.errstate(invalid="ignore"):
            blk_high = (z_blk >= p.high_z) & (blk >= p.high_min_kwh)
        high = valid & ~near_zero & blk_high.any(axis=1)
        z_high = np.nanmax(np.where(blk_high, z_blk, -np.inf), axis=1)

        # Spikes: half hours far beyond the household's own largest normal bursts (see ``_spike_score``).
        fit = (normal & ~high)[:, None] & ~spike & ~np.isnan(resid)
        z_cell = _spike_score(resid, fit, p.spike_q_hi)
        zc = np.where(np.isnan(z_cell), -np.inf, z_cell).ravel()
        pair = np.maximum(np.minimum(zc, np.r_[zc[1:], -np.inf]), np.minimum(zc, np.r_[-np.inf, zc[:-1]]))
        cand = (zc >= p.spike_z) | (pair >= p.spike_pair_z)
        with np.errstate(invalid="ignore"):
            spike = (valid & ~near_zero & ~high)[:, None] & cand.reshape(n_days, SLOTS) & (resid >= p.spike_min_kwh)

        # Profile shift: 2-hour shape of the (spike-free) day, averaged over a centred week, against the reference.
        clean = np.where(spike, ref, x)
        bins = np.nansum(clean.reshape(n_days, 12, 4), axis=2)
        ref_bins = np.nansum(ref.reshape(n_days, 12, 4), axis=2)
        with np.errstate(all="ignore"):
            shape = bins / bins.sum(axis=1, keepdims=True)
            ref_shape = ref_bins / ref_bins.sum(axis=1, keepdims=True)
        shape[~(valid & ~near_zero & ~high)] = np.nan
        week = _centred_nanmean(shape, p.shift_window_days, min_count=3)
        l1 = 0.5 * np.sum(np.abs(week - ref_shape), axis=1)
        z_shape = _robust_z(l1, valid & ~excluded, 0.01)
        with np.errstate(invalid="ignore"):
            shift = valid & ~near_zero & ~high & (z_shape >= p.shift_z) & (l1 >= p.shift_min_l1)
        new_excluded = near_zero | high | shift
        if np.array_equal(new_excluded, excluded):
            break
        excluded = new_excluded

    source = np.where(use_fc, "forecast", "self_history")
    rows: list[dict] = []
    day_kinds = (
        ("near_zero", near_zero, 1, (q50 - total) / scale),
        ("sustained_high", high, 1, z_high),
        ("profile_shift", shift, p.min_shift_days, z_shape),
    )
    for kind, flags, min_days, score in day_kinds:
        for run in _runs(np.flatnonzero(flags), p.max_gap_days):
            if run.size < min_days:
                continue
            span = np.arange(run[0], run[-1] + 1)
            rows.append(
                {
                    "kind": kind,
                    "start_local": day0 + run[0],
                    "end_local": day0 + run[-1] + 1,
                    "severity": float(np.nanmax(score[run])),
                    "observed_kwh": float(np.nansum(total[span])),
                    "expected_kwh": float(np.nansum(q50[span])),
                    "expected_source": "forecast" if (source[run] == "forecast").any() else "self_history",
                    "start_day": day0 + run[0],
                }
            )
    flat = np.flatnonzero(spike.ravel())
    for run in _runs(flat, 0):
        d0, s0 = divmod(int(run[0]), SLOTS)
        d1, s1 = divmod(int(run[-1]), SLOTS)
        cells = np.unravel_index(run, spike.shape)
        rows.append(
            {
                "kind": "spike",
                "start_local": (day0 + d0).astype("datetime64[m]") + np.timedelta64(30 * s0, "m"),
                "end_local": (day0 + d1).astype("datetime64[m]") + np.timedelta64(30 * (s1 + 1), "m"),
                "severity": float(np.max(z_cell[cells])),
                "observed_kwh": float(np.sum(x[cells])),
                "expected_kwh": float(np.sum(ref[cells])),
                "expected_source": "self_history",
                "start_day": day0 + d0,
            }
        )
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=_DTYPES[c]) for c in EVENT_COLUMNS})
    ev = pd.DataFrame(rows)
    start = _to_utc(ev["start_local"].astype("datetime64[ns]"), p.timezone)
    end = _to_utc(ev["end_local"].astype("datetime64[ns]"), p.timezone)
    out = pd.DataFrame(
        {
            "household_id": household_id,
            "detector": DETECTOR_ROBUST,
            "kind": ev["kind"],
            "start_utc": start,
            "end_utc": end,
            "duration_halfhours": ((end - start) // np.timedelta64(30, "m")).astype("int32"),
            "severity": ev["severity"].astype(float),
            "observed_kwh": ev["observed_kwh"].astype(float),
            "expected_kwh": ev["expected_kwh"].astype(float),
            "expected_source": ev["expected_source"],
            "local_date": pd.to_datetime(ev["start_day"].astype("datetime64[ns]")).dt.date,
        }
    )
    return out.sort_values(["start_utc", "kind"]).reset_index(drop=True)


_DTYPES = {
    "household_id": "object",
    "detector": "object",
    "kind": "object",
    "start_utc": "datetime64[ns]",
    "end_utc": "datetime64[ns]",
    "duration_halfhours": "int32",
    "severity": "float64",
    "observed_kwh": "float64",
    "expected_kwh": "float64",
    "expected_source": "object",
    "local_date": "object",
}


def daily_hdd(weather_csv, timezone: str = "Europe/London", base_c: float = 15.5) -> pd.Series:
    """Heating degree days per local date from the hourly weather file (UTC clock, unsorted, gaps)."""
    w = pd.read_csv(weather_csv, usecols=["time", "temperature"])
    t = pd.to_datetime(w["time"], utc=True).dt.tz_convert(timezone)
    daily = w.groupby(t.dt.date)["temperature"].mean()
    return (base_c - daily).clip(lower=0.0)


def detect_frame(
    pdf: pd.DataFrame, params: RobustParams = DEFAULT_PARAMS, hdd: pd.Series | None = None
) -> pd.DataFrame:
    """``applyInPandas`` body: the daily-matrix rows of one household in, its events out."""
    dates = pd.to_datetime(pdf["local_date"]).to_numpy().astype("datetime64[D]")
    band = None
    if {"p10_kwh", "p50_kwh", "p90_kwh"} <= set(pdf.columns):
        band = pdf[["p10_kwh", "p50_kwh", "p90_kwh"]].to_numpy(dtype=float)
    energy = pdf[SLOT_COLS].to_numpy(dtype=float)
    heat = None
    if hdd is not None:
        heat = hdd.reindex(pd.to_datetime(pdf["local_date"]).dt.date).to_numpy(dtype=float)
    return detect_household(str(pdf["household_id"].iloc[0]), dates, energy, band, params, heat)
