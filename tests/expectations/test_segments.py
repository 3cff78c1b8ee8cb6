"""The segments suite passes consistent assignments and fails a segmented row without a segment or a duplicate."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from expectations.runner import validate_frame


def good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "household_id": ["A", "B", "C"],
            "status": ["segmented", "segmented", "not_enough_data"],
            "segment_id": pd.array([0, 1, None], dtype="Int32"),
            "segment_label": ["low-use evening peakers", "high-use night-time users", None],
            "acorn_group": ["Affluent", "Adversity", "unknown"],
            "tariff_group": ["Std", "ToU", "Std"],
            "complete_days": [300, 280, 4],
            "mean_daily_kwh": [7.5, 20.1, None],
            "peak_halfhour_local": pd.array([38, 3, None], dtype="Int32"),
            "distance_to_centroid": [1.2, 0.7, None],
            "train_from": [dt.date(2012, 6, 1)] * 3,
            "train_to": [dt.date(2013, 5, 31)] * 3,
            "seed": [42] * 3,
            "segmentation_version": ["seg_2012-06-01_2013-05-31"] * 3,
        }
    )


def test_good_segments_pass():
    result = validate_frame("segments", good())
    assert result.success, result.message()


def test_inconsistent_or_duplicate_rows_fail():
    bad = pd.concat([good(), good().iloc[[0]]], ignore_index=True)
    bad.loc[1, "segment_id"] = pd.NA
    result = validate_frame("segments", bad)
    assert not result.success
    failed = {f["expectation"] for f in result.failed}
    assert "expect_compound_columns_to_be_unique" in failed
    assert "expect_column_values_to_be_in_set" in failed
