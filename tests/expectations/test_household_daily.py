"""household_daily suite: passes a good frame, fails duplicates, impossible counts and energy without readings."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from expectations.runner import validate_frame


def _good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "household_id": ["A", "A", "B"],
            "tariff_group": ["Std", "Std", "ToU"],
            "acorn_group": ["Affluent", "Affluent", "unknown"],
            "energy_kwh": [10.5, None, 7.0],
            "readings_present": [48, 0, 46],
            "readings_expected": [48, 48, 46],
            "completeness": [1.0, 0.0, 1.0],
            "local_date": [dt.date(2013, 1, 1), dt.date(2013, 1, 2), dt.date(2013, 3, 31)],
        }
    )


def test_good_frame_passes():
    result = validate_frame("household_daily", _good())
    assert result.success, result.message()


def test_bad_frame_fails():
    bad = pd.concat([_good(), _good().iloc[[0]]], ignore_index=True)  # duplicate key
    bad.loc[1, "energy_kwh"] = 3.0  # energy on a day without readings
    bad.loc[2, "readings_expected"] = 47
    result = validate_frame("household_daily", bad)
    assert not result.success
    failed = {f["expectation"] for f in result.failed}
    assert {"expect_compound_columns_to_be_unique", "expect_column_values_to_be_in_set"} <= failed
