"""The robust anomaly detector: one household at a time, NumPy only, so Spark can run it with ``applyInPandas``.

Why this shape: every kind of anomaly is a departure from the household's OWN recent behaviour, so each day is
scored against a trailing reference of that household (medians and P10/P50/P90 of the previous 28 days, or the
P10-P90 band of a forecast when one is given), never against other homes. Medians and MADs keep one bad week
from moving the reference, and days already flagged are taken out of the reference and the scoring repeated,
so a two-week vacancy does not become "normal" half-way through or make the week after it look odd.

Kinds (a day gets at most one day kind; spikes are half hours and are only looked for on otherwise normal days):
- near_zero: the day's energy is below ``near_zero_ratio`` x the reference median (vacancy, meter fault: the
  generator's are 0 or a few Wh a half hour). A day below ``low_day_ratio`` x (out for half the day) is no
  vacancy, but it is kept out of the reference and not scored for the other kinds: its shape says nothing.
- sustained_high: the load ADDED to the QUIET half of a half day's half hours (lowest reference) is far above the
  household's usual (``high_z`` MADs, and ``high_min_kwh``): an appliance left on adds the same kWh to every half
  hour, while a busy day multiplies the load. So the half day is read as x = a x reference + b through the medians
  of its quiet half hours and of its ``high_busy_slots`` busiest ones (a >= 1): b is the added load, a the busy-day
  factor. b is first corrected for the household's own response to heating degree days, so electric heating in a
  cold snap is not an anomaly. Two half days in a row at ``high_pair_z`` MADs or more (both with ``high_min_kwh``)
  count too: a load left on for a day or longer raises consecutive half days, while a home with large day-to-day
  swings rarely has two such half days in a row by chance; a single-half-day threshold high enough for those
  homes missed a tenth of the injected loads.
- profile_shift: the 2-hour shape of the day, averaged over a centred ``shift_window_days`` window, is far (L1) from
  the reference shape (``shift_z`` robust z-scores of the household's own shape distance, and ``shift_min_l1``);
  the days around such a day down to ``shift_extend_z`` join it (a shift ramps in and out of the centred window),
  and the run must last ``min_shift_days`` days (shorter shape changes are ordinary weeks). The
  flag-exclude-rescore loop runs up to ``iterations`` times: each pass keeps more of a long shift out of the
  reference, so a month on night shifts is not half-learnt as normal and its end not mistaken for a new shift.
- spike: one half hour (or two in a row) far beyond the household's OWN largest normal bursts: the residual is at
  least (1 + ``spike_z``) x the ``spike_q_hi`` quantile of its normal half hours' residuals (both in a row at
  (1 + ``spike_pair_z``) x). A ratio because bursts scale with the home (kettle in a flat vs shower and dryer in a
  family house). A run longer than ``spike_max_halfhours`` is a busy evening or a load switched on, no spike.
  Severity of a spike is that ratio minus 1; of the other kinds the largest robust z of the event.
Consecutive days of one kind (gaps up to ``max_gap_days``) form one event.

Quality (bench/bench_anomaly_quality.py: the matching of spark_jobs/evaluate_anomalies.py on generated households
with injected anomalies, 300 households x 2 years): thresholds tuned on generator seed 42 (precision 0.944, recall
0.965), on six other seeds 0.930-0.950 and 0.960-0.972 (the previous thresholds: 0.898-0.927 and 0.915-0.938);
bench/results/anomaly_quality.json has the figures per kind. What stays missed is mostly physically faint:
spikes barely above the home's own bursts, shape shifts of electric-heating and storage homes (the heating, not
shifted, dominates their shape) and shifts cut off by the start or end of a household's data.

Speed (Spark calls this once per household, 5,566 a day; bench/bench_robust.py times it): a household is a
57 x 48 matrix, so the cost is the number of NumPy and pandas calls, not arithmetic. Hence: the per-slot
reference and what depends on it alone (quiet and busy half hours, reference shape) are computed once per
``ref_step`` block of days; small helpers (``_median``, ``_linear_quantile``, flat ``take`` gathers) stand in for
``np.median``, ``np.quantile`` and ``take_along_axis``, whose set-up costs more than the work here; events are
collected as columns and become one DataFrame; and what is the same for every household of a run is kept between
calls (the degree-day lookup and its trailing median, the UTC times of local half hours). The results are bit for
bit those of the straightforward code: the same order statistics and the same reductions over C-ordered arrays
(NumPy sums a strided array in another order).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

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
    near_zero_ratio: float = 0.1  # reported below this x the reference median (vacancy: a few Wh a half hour)
    low_day_ratio: float = 0.2  # ... and below this kept out of the reference and of the other kinds' scoring
    high_z: float = 20.0  # quiet-half-day added load, in MADs of the household's own such loads: one half day
    high_pair_z: float = 6.0  # ... or two consecutive half days both this far out (a load left on for a day)
    high_min_kwh: float = 0.4  # ... and at least this much per half hour above the reference (a ~1 kW appliance)
    high_busy_slots: int = 6  # busiest half hours of a half day that measure a busy day's multiplier (0: none)
    spike_q_hi: float = 0.9995  # a spike lies beyond this quantile of the household's normal residuals ...
    spike_z: float = 0.5  # ... by this share of it (residual >= 1.5 x the quantile)
    spike_pair_z: float = 0.3  # ... or two consecutive half hours both this far out
    spike_min_kwh: float = 1.0
    spike_max_halfhours: int = 2  # a longer run of high half hours is a busy evening or a load left on, no spike
    shift_window_days: int = 9  # shape compared as a centred 9-day mean (shifts last a week or more)
    shift_z: float = 5.0  # a shift holds a day this many robust z out ...
    shift_extend_z: float = 3.5  # ... and takes in the days around it this far out (its ramp in and out)
    shift_min_l1: float = 0.15
    min_shift_days: int = 5
    max_gap_days: int = 1
    timezone: str = "Europe/London"


DEFAULT_PARAMS = RobustParams()


def trailing_quantiles(values: np.ndarray, qs: tuple[float, ...], window: int, step: int, min_count: int) -> np.ndarray:
    """NaN-aware quantiles of the previous ``window`` rows (the current row excluded), shape (len(qs), D, C).

    Computed at every ``step``-th row and held for the next ``step - 1`` rows. Rows without ``min_count`` values
    in their window take the last earlier reference, and the first rows the first reference there is.
    """
    held = _reference_rows(values, qs, window, step, min_count)
    return held[:, np.arange(values.shape[0]) // step, :]


def _reference_rows(values: np.ndarray, qs: tuple[float, ...], window: int, step: int, min_count: int) -> np.ndarray:
    """``trailing_quantiles`` at rows 0, step, 2 step, ... only: shape (len(qs), ceil(D / step), C), C order."""
    d, c = values.shape
    rows, start = _windows(d, c, window, step)
    padded = np.concatenate([np.full((c, window), np.nan), values.T], axis=1)  # (C, window + D)
    ordered = padded.take(rows, axis=1).reshape(-1, window)  # (C x A, window)
    ordered.sort(axis=1)  # NaN sorts last
    count = _count_sorted(ordered)
    pos = np.asarray(qs, dtype=float)[:, None] * np.maximum(count - 1, 0)  # (Q, C x A): between order statistics
    lo = np.floor(pos).astype(int)
    hi = np.ceil(pos).astype(int)
    v_lo = ordered.take(start + lo)
    v_hi = ordered.take(start + hi)
    val = v_lo + (v_hi - v_lo) * (pos - lo)
    val[:, count < min_count] = np.nan
    a = rows.shape[0]
    held = _fill_down_up(val.reshape(-1, a).T)  # (A, Q x C): filled down the reference rows
    # C order, as callers reduce along rows of it (a strided layout would change NumPy's summation order)
    return np.ascontiguousarray(held.reshape(a, len(qs), c).transpose(1, 0, 2))


@lru_cache(maxsize=64)
def _windows(d: int, c: int, window: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices into ``[window NaN rows; the d rows]`` of the trailing window of every ``step``-th row (A x
    window), and where each of the C x A sorted windows starts in the flattened sort (the same for every call
    on a household's days, so kept)."""
    rows = np.arange(0, d, step)[:, None] + np.arange(window)[None, :]
    start = np.arange(c * rows.shape[0]) * window
    rows.flags.writeable = start.flags.writeable = False
    return rows, start


@lru_cache(maxsize=256)
def _colder_than_usual(heat_bytes: bytes, window: int) -> np.ndarray:
    """Degree days of each day minus their median over the previous ``window`` days (0 where unknown).

    Keyed by the bytes of the degree-day array: households reporting the same days share it, so a run computes
    it a handful of times instead of once per household."""
    heat = np.frombuffer(heat_bytes)
    out = np.nan_to_num(heat - trailing_quantiles(heat[:, None], (0.5,), window, 1, 1)[0][:, 0], nan=0.0)
    out.flags.writeable = False
    return out


def _fill_down_up(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaN rows per column, then back-fill the leading ones (pandas ffill().bfill() without pandas)."""
    ok = ~np.isnan(a)
    src = np.where(ok, np.arange(a.shape[0])[:, None], 0)
    np.maximum.accumulate(src, axis=0, out=src)  # last row with a value, 0 before the first
    np.maximum(src, ok.argmax(axis=0), out=src)  # ... the first row with a value before it (0 if none)
    return a.ravel().take(src * a.shape[1] + np.arange(a.shape[1]))


def _count_sorted(s: np.ndarray) -> np.ndarray:
    """Values (not NaN) in each row of a row-sorted array: the position of its first NaN (NumPy sorts NaN last);
    far cheaper than summing a boolean mask along rows."""
    nan = np.isnan(s)
    return np.where(nan[:, -1], nan.argmax(axis=1), s.shape[1])


@lru_cache(maxsize=256)
def _row_starts(m: int, k: int) -> np.ndarray:
    """Where each of ``m`` rows of width ``k`` starts in the flattened array (kept: the shapes repeat)."""
    start = np.arange(m) * k
    start.flags.writeable = False
    return start


def _median(v: np.ndarray) -> float:
    """Median of a 1-D array without NaN (what ``np.median`` returns, at a fraction of its call overhead)."""
    s = np.sort(v)
    h = s.size // 2
    return s[h] if s.size % 2 else (s[h - 1] + s[h]) / 2


def _nanmedian_rows(a: np.ndarray, min_count: int) -> np.ndarray:
    """Median of each row ignoring NaN (sort puts NaN last); NaN where a row has fewer than ``min_count`` values."""
    s = np.sort(a, axis=1)
    m, k = s.shape
    n = _count_sorted(s)
    start = _row_starts(m, k)  # of each row in ``s.ravel()``
    v = 0.5 * (s.take(start + np.maximum((n - 1) // 2, 0)) + s.take(start + np.maximum(n // 2, 0)))
    return np.where(n >= max(min_count, 1), v, np.nan)


def _slot_medians(
    x_h: np.ndarray, ref_h: np.ndarray, slots: np.ndarray, half_block: np.ndarray, min_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """NaN-ignoring medians over chosen half hours of each half day of the load and of the reference.

    ``ref_h``: the reference half days (one per ``ref_step`` block); ``slots``: the half hours chosen in each of
    them; ``half_block``: the reference half day of each row of ``x_h``. Both are sorted in one call.
    """
    width = x_h.shape[1]
    x_at = _row_starts(x_h.shape[0], width)[:, None] + slots[half_block]
    ref_at = _row_starts(ref_h.shape[0], width)[:, None] + slots
    med = _nanmedian_rows(np.concatenate([x_h.take(x_at), ref_h.take(ref_at)]), min_count)
    return med[: x_h.shape[0]], med[x_h.shape[0] :][half_block]


def _centred_nanmean(a: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Centred rolling mean over rows ignoring NaN rows (cumulative sums instead of pandas rolling)."""
    ok = ~np.isnan(a)
    csum = np.zeros((a.shape[0] + 1, a.shape[1]))
    np.cumsum(np.where(ok, a, 0.0), axis=0, out=csum[1:])
    ccnt = np.zeros(csum.shape, dtype=np.intp)
    np.cumsum(ok, axis=0, out=ccnt[1:])
    lo, hi = _centred_bounds(a.shape[0], window)
    count = ccnt[hi] - ccnt[lo]
    return np.where(count >= min_count, (csum[hi] - csum[lo]) / count, np.nan)


@lru_cache(maxsize=64)
def _centred_bounds(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last row of the centred window of each of ``n`` rows (clipped at the ends)."""
    half = window // 2
    return np.clip(np.arange(n) - half, 0, n), np.clip(np.arange(n) + (window - half), 0, n)


def _robust_z(x: np.ndarray, fit_mask: np.ndarray, floor: float) -> np.ndarray:
    """(x - median) / (1.4826 MAD) with median and MAD from the rows in ``fit_mask``."""
    ref = x[fit_mask & ~np.isnan(x)]
    if ref.size < 3:
        return np.full_like(x, np.nan)
    med = _median(ref)
    mad = max(MAD_TO_SIGMA * _median(np.abs(ref - med)), floor)
    return (x - med) / mad


def _spike_score(resid: np.ndarray, fit: np.ndarray, q_hi: float) -> np.ndarray:
    """How far each residual lies beyond the household's own largest normal bursts: resid / Q - 1, with Q the
    ``q_hi`` quantile of the normal half hours' residuals (at 0.9995, the 17th largest of two years); NaN without
    two weeks of them. A ratio, because appliance bursts scale with the home: a 3 kWh half hour is a fault in a
    flat with a 1 kWh kettle and a Tuesday evening in a house with an electric shower and a tumble dryer."""
    if np.count_nonzero(fit) < 48 * 14:
        return np.full_like(resid, np.nan)
    top = max(_linear_quantile(resid[fit], q_hi), 0.05)
    return resid / top - 1.0


def _linear_quantile(v: np.ndarray, q: float) -> float:
    """``np.quantile(v, q)`` of a 1-D array without NaN: NumPy's default ('linear') method with its interpolation
    formula, on the two order statistics ``np.partition`` finds (NumPy's general code costs 5x more here)."""
    virtual = (v.size - 1) * q
    if virtual >= v.size - 1:
        return float(v.max())
    lo = math.floor(virtual)
    a, b = np.partition(v, (lo, lo + 1))[lo : lo + 2]
    t = virtual - lo
    diff = b - a
    return float(b - diff * (1 - t) if t >= 0.5 else a + diff * t)


def _heating_slope(blk: np.ndarray, heat: np.ndarray, fit: np.ndarray) -> float:
    """kWh per half hour per degree-day colder than the reference window (>= 0), from the household's normal
    half days, with one pass of outlier clipping: electric heating follows the weather, not a fault."""
    sel = fit[:, None] & ~np.isnan(blk)
    x = np.broadcast_to(heat[:, None], blk.shape)[sel]
    y = blk[sel]
    if x.size < 20:
        return 0.0
    xx = np.sum(x * x)
    if xx <= 0:
        return 0.0
    slope = np.sum(x * y) / xx
    r = y - slope * x
    r_med = _median(r)
    keep = np.abs(r - r_med) <= 5 * MAD_TO_SIGMA * _median(np.abs(r - r_med)) + 1e-9
    if np.count_nonzero(keep) >= 20:
        xk = x[keep]
        xk2 = np.sum(xk**2)
        if xk2 > 0:
            slope = np.sum(xk * y[keep]) / xk2
    return max(float(slope), 0.0)


def _with_neighbour(v: np.ndarray) -> np.ndarray:
    """For each element of a 1-D array, the smaller of it and its larger neighbour (-inf beyond the ends): at
    least t exactly where it and the previous or the next element are both at least t."""
    after = np.concatenate([v[1:], [-np.inf]])
    before = np.concatenate([[-np.inf], v[:-1]])
    return np.maximum(np.minimum(v, after), np.minimum(v, before))


def _grow(core: np.ndarray, wide: np.ndarray, max_gap: int) -> np.ndarray:
    """The ``wide`` days in runs of them (gaps up to ``max_gap`` days) that hold at least one ``core`` day (the
    ``core`` days are ``wide`` days too): hysteresis, a run is seeded by a far day and holds its nearer neighbours."""
    out = np.zeros_like(wide)
    for run in _runs(np.flatnonzero(wide), max_gap):
        if core[run].any():
            out[run] = True
    return out


def _runs(index: np.ndarray, max_gap: int) -> list[np.ndarray]:
    """Split sorted indices into runs whose neighbours are at most ``max_gap`` missing positions apart."""
    if index.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(index) > max_gap + 1) + 1
    return np.split(index, breaks)


def _to_utc(local_naive: np.ndarray, tz: str) -> np.ndarray:
    """Local wall-clock times (datetime64) to naive UTC datetime64[ns]; the repeated autumn hour resolves to its
    first (BST) occurrence.

    Event times are local midnights and half hours, so pandas converts the 49 half-hour marks of a local day at
    once and they are kept (``_utc_half_hours``): a run needs a few dozen days, and pandas' time-zone code costs
    more than everything else of an event. Other times are converted on their own."""
    out = []
    for t in np.asarray(local_naive, dtype="datetime64[ns]").view(np.int64).tolist():
        day = t - t % _DAY_NS
        k, off_grid = divmod(t - day, _HALF_HOUR_NS)
        out.append(_utc_half_hours(t, 1, tz)[0] if off_grid else _utc_half_hours(day, SLOTS + 1, tz)[k])
    return np.array(out, dtype=np.int64).view("datetime64[ns]")


_DAY_NS = 86_400 * 10**9
_HALF_HOUR_NS = 1_800 * 10**9


@lru_cache(maxsize=1024)  # local days (and odd times): about three years
def _utc_half_hours(local_ns: int, n: int, tz: str) -> tuple[int, ...]:
    """UTC (ns) of the ``n`` local times ``local_ns`` + k half hours, each converted on its own by pandas."""
    idx = pd.DatetimeIndex((local_ns + _HALF_HOUR_NS * np.arange(n, dtype=np.int64)).view("datetime64[ns]"))
    aware = idx.tz_localize(tz, ambiguous=np.ones(n, dtype=bool), nonexistent="shift_forward")
    return tuple(aware.tz_convert("UTC").tz_localize(None).asi8.tolist())


def detect_household(*args, **kwargs) -> pd.DataFrame:
    """Events of one household (see ``_detect``); NumPy's all-NaN warnings on gap days are expected."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
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
        return _no_events()
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

    heat = np.zeros(n_days)  # degree days colder than the trailing median (none without weather)
    if hdd is not None:
        heat = np.full(n_days, np.nan)
        heat[pos] = np.asarray(hdd, dtype=float)[order]
        heat = _colder_than_usual(heat.tobytes(), p.ref_days)

    missing = np.isnan(x)
    present = SLOTS - missing.sum(axis=1)
    valid = present >= MIN_SLOTS_COMPLETE
    x_or_0 = np.where(missing, 0.0, x)
    total = np.where(valid, x_or_0.sum(axis=1) / present * SLOTS, np.nan)  # the mean half hour x 48
    use_fc = ~np.isnan(fc[:, 1])
    half = SLOTS // 2
    x_h = x.reshape(n_days * 2, half)  # half days: rows 2d (00:00-12:00) and 2d + 1 (12:00-24:00) of day d
    block = np.arange(n_days) // p.ref_step  # reference row of each day
    half_block = (2 * block[:, None] + np.arange(2)).ravel()  # ... and of each half day

    # Flag, exclude the flagged days (and spike half hours) from the reference, score again; until nothing changes.
    excluded = np.zeros(n_days, dtype=bool)
    spike = np.zeros_like(x, dtype=bool)
    for _ in range(p.iterations):
        keep = valid & ~excluded  # days that may enter the reference
        t_in = np.where(keep, total, np.nan)[:, None]
        q10, q50, q90 = _reference_rows(t_in, (0.1, 0.5, 0.9), p.ref_days, 1, p.min_ref_days)[:, :, 0]
        q50 = np.where(use_fc, fc[:, 1], q50)
        x_in = np.where(keep[:, None] & ~spike, x, np.nan)
        # The per-slot reference changes every ``ref_step`` days only: what depends on it alone is computed once
        # per such block of days (``ref_rows``) and repeated for its days (``block``).
        ref_rows = _reference_rows(x_in, (0.5,), p.ref_days, p.ref_step, p.min_ref_days)[0]
        ref = ref_rows[block]
        resid = x - ref
        low = valid & (total <= max(p.low_day_ratio, p.near_zero_ratio) * q50)
        near_zero = low & (total <= p.near_zero_ratio * q50)
        normal = keep & ~low
        scored = valid & ~low  # days that can carry a high, a spike or a shift

        # Added load of each half day: x = a x ref + b through the medians of its quiet half (lowest reference) and
        # of its busiest half hours. An appliance left on ADDS the same kWh to every half hour (b), a busy day
        # MULTIPLIES the load (a >= 1), so a day at three times the usual load is not an appliance left on.
        ref_h = ref_rows.reshape(-1, half)
        by_ref = np.argsort(np.nan_to_num(ref_h, nan=np.inf), axis=1)
        quiet, busy = by_ref[:, : half // 2], by_ref[:, half - p.high_busy_slots :]
        xq, rq = _slot_medians(x_h, ref_h, quiet, half_block, SLOTS // 8)
        if p.high_busy_slots:
            xb, rb = _slot_medians(x_h, ref_h, busy, half_block, 2)
            a = np.clip((xb - xq) / np.maximum(rb - rq, 0.05), 1.0, None)  # the busy-day factor
            blk = (xq - a * rq).reshape(n_days, 2)  # the added load
        else:
            blk = (xq - rq).reshape(n_days, 2)
        blk = blk - _heating_slope(blk, heat, normal) * heat[:, None]
        z_blk = _robust_z(blk, normal[:, None], 0.02)  # both half days of a normal day
        # One half day far out, or two in a row (half days in time order: ravel) both less far: a load left on for
        # a day or more raises consecutive half days, a natural outlier rarely two.
        z_big = np.where(blk >= p.high_min_kwh, z_blk, np.nan)
        pair = _with_neighbour(np.nan_to_num(z_big, nan=-np.inf).ravel()).reshape(n_days, 2)
        blk_high = (z_big >= p.high_z) | (pair >= p.high_pair_z)
        high = scored & blk_high.any(axis=1)
        scored &= ~high

        # Spikes: half hours far beyond the household's own largest normal bursts (see ``_spike_score``).
        fit = (normal & ~high)[:, None] & ~spike & ~np.isnan(resid)
        z_cell = _spike_score(resid, fit, p.spike_q_hi)
        zc = np.where(np.isnan(z_cell), -np.inf, z_cell).ravel()
        cand = (zc >= p.spike_z) | (_with_neighbour(zc) >= p.spike_pair_z)
        spike = scored[:, None] & cand.reshape(n_days, SLOTS) & (resid >= p.spike_min_kwh)

        # Profile shift: 2-hour shape of the (spike-free) day, averaged over a centred window, against the reference.
        bins = np.where(spike, ref, x_or_0).reshape(n_days, 12, 4).sum(axis=2)  # a spike's ref is never NaN
        ref_bins = np.where(np.isnan(ref_rows), 0.0, ref_rows).reshape(-1, 12, 4).sum(axis=2)
        shape = bins / bins.sum(axis=1, keepdims=True)
        ref_shape = (ref_bins / ref_bins.sum(axis=1, keepdims=True))[block]
        shape[~scored] = np.nan
        week = _centred_nanmean(shape, p.shift_window_days, min_count=3)
        l1 = 0.5 * np.sum(np.abs(week - ref_shape), axis=1)
        z_shape = _robust_z(l1, keep, 0.01)
        far = scored & (l1 >= p.shift_min_l1)
        shift = _grow(far & (z_shape >= p.shift_z), far & (z_shape >= p.shift_extend_z), p.max_gap_days)
        new_excluded = low | high | shift
        if np.array_equal(new_excluded, excluded):
            break
        excluded = new_excluded

    # Severity inputs of the last pass: the day band's spread, and the largest z of a high day's half days.
    q10 = np.where(use_fc & ~np.isnan(fc[:, 0]), fc[:, 0], q10)
    q90 = np.where(use_fc & ~np.isnan(fc[:, 2]), fc[:, 2], q90)
    scale = np.maximum.reduce([(q90 - q10) / P10_P90_TO_SIGMA, 0.05 * q50, np.full(n_days, 0.1)])
    z_high = np.nanmax(np.where(blk_high, z_blk, -np.inf), axis=1)

    ev = _EventRows()
    day_kinds = (
        ("near_zero", near_zero, 1, (q50 - total) / scale),
        ("sustained_high", high, 1, z_high),
        ("profile_shift", shift, p.min_shift_days, z_shape),
    )
    for kind, flags, min_days, score in day_kinds:
        for run in _runs(np.flatnonzero(flags), p.max_gap_days):
            if run.size < min_days:
                continue
            span = slice(run[0], run[-1] + 1)
            ev.add(
                kind,
                day0 + run[0],
                day0 + run[-1] + 1,
                np.nanmax(score[run]),
                np.nansum(total[span]),
                np.nansum(q50[span]),
                use_fc[run].any(),
            )
    z_flat, x_flat, ref_flat = z_cell.ravel(), x.ravel(), ref.ravel()
    for run in _runs(np.flatnonzero(spike.ravel()), 0):
        if run.size > p.spike_max_halfhours:
            continue
        d0, s0 = divmod(int(run[0]), SLOTS)
        d1, s1 = divmod(int(run[-1]), SLOTS)
        ev.add(
            "spike",
            (day0 + d0).astype("datetime64[m]") + np.timedelta64(30 * s0, "m"),
            (day0 + d1).astype("datetime64[m]") + np.timedelta64(30 * (s1 + 1), "m"),
            np.max(z_flat[run]),
            np.sum(x_flat[run]),
            np.sum(ref_flat[run]),
            False,
        )
    return ev.frame(household_id, p.timezone)


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
_NO_EVENTS = pd.DataFrame({c: pd.Series(dtype=_DTYPES[c]) for c in EVENT_COLUMNS})
_KIND_ORDER = {k: i for i, k in enumerate(sorted(["near_zero", "profile_shift", "spike", "sustained_high"]))}


def _no_events() -> pd.DataFrame:
    return _NO_EVENTS.copy()


class _EventRows:
    """Events collected column by column, turned into one frame sorted by start time and kind."""

    def __init__(self) -> None:
        self.kind: list[str] = []
        self.start_local: list[np.datetime64] = []
        self.end_local: list[np.datetime64] = []
        self.severity: list[float] = []
        self.observed: list[float] = []
        self.expected: list[float] = []
        self.from_forecast: list[bool] = []

    def add(self, kind, start_local, end_local, severity, observed, expected, from_forecast) -> None:
        self.kind.append(kind)
        self.start_local.append(start_local)
        self.end_local.append(end_local)
        self.severity.append(float(severity))
        self.observed.append(float(observed))
        self.expected.append(float(expected))
        self.from_forecast.append(bool(from_forecast))

    def frame(self, household_id: str, tz: str) -> pd.DataFrame:
        n = len(self.kind)
        if n == 0:
            return _no_events()
        local = np.array(self.start_local + self.end_local, dtype="datetime64[m]").astype("datetime64[ns]")
        utc = _to_utc(local, tz)
        start, end = utc[:n], utc[n:]
        order = np.lexsort((np.array([_KIND_ORDER[k] for k in self.kind]), start))  # stable, as sort_values
        columns = {
            "household_id": household_id,
            "detector": DETECTOR_ROBUST,
            "kind": np.array(self.kind, dtype=object)[order],
            "start_utc": start[order],
            "end_utc": end[order],
            "duration_halfhours": ((end - start) // np.timedelta64(30, "m")).astype("int32")[order],
            "severity": np.array(self.severity)[order],
            "observed_kwh": np.array(self.observed)[order],
            "expected_kwh": np.array(self.expected)[order],
            "expected_source": np.where(self.from_forecast, "forecast", "self_history").astype(object)[order],
            "local_date": local[:n].astype("datetime64[D]").astype(object)[order],
        }
        return pd.DataFrame(columns, copy=False)  # the arrays are new: no copy


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
    day_values = pdf["local_date"].to_numpy()
    if all(type(v) is dt.date for v in day_values):  # what Spark hands over for a DateType: skip pandas parsing
        dates = (np.array([v.toordinal() for v in day_values], dtype=np.int64) - _UNIX_ORDINAL).astype("datetime64[D]")
    else:
        stamps = pd.to_datetime(pdf["local_date"])
        dates = stamps.to_numpy().astype("datetime64[D]")
        day_values = stamps.dt.date.to_numpy()
    band = None
    if {"p10_kwh", "p50_kwh", "p90_kwh"} <= set(pdf.columns):
        band = np.column_stack([pdf[c].to_numpy(dtype=float) for c in ("p10_kwh", "p50_kwh", "p90_kwh")])
    heat = None if hdd is None else _hdd_of_days(hdd, day_values)
    return detect_household(str(pdf["household_id"].to_numpy()[0]), dates, _slot_matrix(pdf), band, params, heat)


_UNIX_ORDINAL = dt.date(1970, 1, 1).toordinal()
_HDD_LOOKUP: dict = {}  # the date -> degree days dict of the last ``hdd`` series seen, with its index and values


def _hdd_of_days(hdd: pd.Series, days: np.ndarray) -> np.ndarray:
    """``hdd.reindex(days).to_numpy(dtype=float)`` for the ``datetime.date`` index of ``daily_hdd``.

    Every household of a run gets the same series, so its dict is built once and reused while the series keeps
    the same index object and equal values (an index is immutable; values are compared, which is cheap).
    """
    index = hdd.index
    if index.inferred_type != "date" or not index.is_unique:
        return hdd.reindex(days).to_numpy(dtype=float)
    values = hdd.to_numpy(dtype=float)
    cache = _HDD_LOOKUP
    if cache.get("index") is not index or not np.array_equal(cache["values"], values):  # NaN: rebuilt, still right
        cache.update(index=index, values=values.copy(), by_day=dict(zip(index, values.tolist(), strict=True)))
    by_day = cache["by_day"]
    return np.array([by_day.get(d, np.nan) for d in days], dtype=float)


def _slot_matrix(pdf: pd.DataFrame) -> np.ndarray:
    """The e00..e47 columns as an n x 48 float array; a column slice when they are adjacent and in order."""
    cols = pdf.columns
    first = cols.get_loc(SLOT_COLS[0]) if SLOT_COLS[0] in cols else None
    if isinstance(first, int) and list(cols[first : first + SLOTS]) == SLOT_COLS:
        return pdf.iloc[:, first : first + SLOTS].to_numpy(dtype=float)
    return pdf[SLOT_COLS].to_numpy(dtype=float)
