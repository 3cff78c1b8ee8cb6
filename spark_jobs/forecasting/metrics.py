"""Point and interval metrics, pooled over series. Numpy only, so the backtest and tests share one definition."""

from __future__ import annotations

import math

import numpy as np


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def point_metrics(
    y: np.ndarray,
    p50: np.ndarray,
    mase_scale_kwh: float | None,
    p10: np.ndarray | None = None,
    p90: np.ndarray | None = None,
    with_mape: bool = False,
) -> dict:
    """MAE, RMSE, R^2, MASE (MAE / pooled training MAE of same-day-last-week), optional MAPE and P10-P90 coverage.

    MAPE skips zero actuals (undefined there); it is only reported for group series, whose actuals are never ~0.
    """
    y = np.asarray(y, dtype=float)
    p50 = np.asarray(p50, dtype=float)
    n = int(y.size)
    out: dict = {"n_points": n}
    if n == 0:
        return out | {"mae_kwh": None, "rmse_kwh": None, "r2": None, "mase": None}
    err = y - p50
    mae = float(np.mean(np.abs(err)))
    sst = float(np.sum((y - y.mean()) ** 2))
    out["mae_kwh"] = mae
    out["rmse_kwh"] = float(np.sqrt(np.mean(err**2)))
    out["r2"] = _f(1.0 - float(np.sum(err**2)) / sst) if sst > 0 else None
    out["mase"] = _f(mae / mase_scale_kwh) if mase_scale_kwh else None
    if with_mape:
        nz = np.abs(y) > 1e-9
        out["mape_pct"] = _f(100.0 * float(np.mean(np.abs(err[nz]) / np.abs(y[nz])))) if nz.any() else None
    if p10 is not None and p90 is not None:
        out["coverage_p10_p90"] = float(np.mean((y >= np.asarray(p10)) & (y <= np.asarray(p90))))
    return out


def mase_scale(y: np.ndarray, y_last_week: np.ndarray) -> float | None:
    """Pooled in-sample MAE of the same-day-last-week forecast over the training period (the MASE denominator)."""
    y = np.asarray(y, dtype=float)
    y7 = np.asarray(y_last_week, dtype=float)
    ok = np.isfinite(y) & np.isfinite(y7)
    return float(np.mean(np.abs(y[ok] - y7[ok]))) if ok.any() else None
