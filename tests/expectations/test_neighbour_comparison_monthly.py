"""The neighbour suite passes consistent rows and fails a comparison or alert on a home without enough data."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from expectations.runner import validate_frame


def good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "household_id": ["A", "B"],
            "status": ["ok", "not_enough_data"],
            "acorn_group": ["Affluent", "Affluent"],
            "segment_id": pd.array([1, 1], dtype="Int32"),
            "peer_group": ["Affluent|1", "Affluent|1"],
            "peer_count": pd.array([40, None], dtype="Int32"),
            "complete_days": [31, 5],
            "energy_kwh": [310.0, 50.0],
            "mean_daily_kwh": [10.0, 10.0],
            "month_kwh_normalised": [310.0, 310.0],
            "percentile": [0.8, None],
            "daily_percentile_mean": [0.75, None],
            "peer_median_kwh": [250.0, None],
            "efficient_neighbour_kwh": [180.0, None],
            "relative_to_peers": [1.24, None],
            "history_relative_to_peers": [0.9, None],
            "trend_ratio": [1.38, None],
            "high_usage_alert": [True, False],
            "segmentation_version": ["v1", "v1"],
            "month": [dt.date(2013, 1, 1)] * 2,
        }
    )


def test_good_rows_pass():
    result = validate_frame("neighbour_comparison_monthly", good())
    assert result.success, result.message()


def test_alert_without_data_and_bad_percentile_fail():
    bad = good()
    bad.loc[1, "high_usage_alert"] = True
    bad.loc[0, "percentile"] = 1.7
    result = validate_frame("neighbour_comparison_monthly", bad)
    assert not result.success
    cols = {f["kwargs"].get("column") for f in result.failed}
    assert {"consistent", "percentile"} <= cols
