"""forecasts suite: passes ordered non-negative quantiles (baselines without intervals), fails crossings."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from expectations.runner import validate_frame


def _good() -> pd.DataFrame:
    t = pd.Timestamp("2013-10-01 00:00")
    return pd.DataFrame(
        {
            "task": ["household_daily", "household_daily", "group_halfhourly"],
            "series_id": ["MAC000002", "MAC000002", "tariff:Std"],
            "model": ["hgb_quantile", "baseline_yesterday", "hgb_quantile"],
            "model_version": ["train_2013-09-30", "rule", "train_2013-09-30"],
            "target_time_utc": [t, t, t],
            "p10_kwh": [5.0, np.nan, 0.1],
            "p50_kwh": [7.0, 6.5, 0.2],
            "p90_kwh": [9.0, np.nan, 0.2],
            "actual_kwh": [8.0, 8.0, np.nan],
            "local_date": [dt.date(2013, 10, 1)] * 3,
        }
    )


def test_good_frame_passes():
    result = validate_frame("forecasts", _good())
    assert result.success, result.message()


def test_crossed_or_negative_quantiles_fail():
    bad = _good()
    bad.loc[0, "p10_kwh"] = 7.5  # p10 > p50
    bad.loc[2, "p50_kwh"] = -0.1
    result = validate_frame("forecasts", bad)
    assert not result.success
    failed = [f["expectation"] for f in result.failed]
    assert "expect_column_pair_values_a_to_be_greater_than_b" in failed
    assert "expect_column_values_to_be_between" in failed
