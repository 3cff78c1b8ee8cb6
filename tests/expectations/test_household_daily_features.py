"""household_daily_features suite: passes plausible rows, fails duplicate keys, null context and bad ranges."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from expectations.runner import validate_frame
from spark_jobs.common.schemas import HOUSEHOLD_DAILY_FEATURES


def _good() -> pd.DataFrame:
    rows = {}
    for f in HOUSEHOLD_DAILY_FEATURES.fields:
        rows[f.name] = [10.0, 12.0] if f.name.endswith("_kwh") else [0.5, 0.25]
    rows |= {
        "household_id": ["A", "A"],
        "tariff_group": ["Std", "Std"],
        "acorn_group": ["Affluent", "Affluent"],
        "local_date": [dt.date(2013, 1, 1), dt.date(2013, 1, 2)],
        "roll28_valid_days": [28, 28],
        "hh_history_days": [100, 101],
        "is_weekend": [0, 0],
        "is_bank_holiday": [1, 0],
        "is_bank_holiday_prev_day": [0, 1],
        "is_tou": [0, 0],
        "acorn_code": [0, 0],
        "temperature_mean_c": [4.0, 5.0],
        "temperature_min_c": [1.0, 2.0],
        "temperature_max_c": [7.0, 8.0],
        "temperature_mean_c_prev_day": [3.0, 4.0],
        "heating_degree_days_c": [11.5, 10.5],
        "roll28_min_kwh": [5.0, 6.0],
        "roll28_max_kwh": [15.0, 16.0],
        "lag_1d_kwh": [np.nan, 10.0],  # history features may be missing
    }
    return pd.DataFrame(rows)


def test_good_frame_passes():
    result = validate_frame("household_daily_features", _good())
    assert result.success, result.message()


def test_bad_frame_fails():
    bad = pd.concat([_good(), _good().iloc[[1]]], ignore_index=True)
    bad.loc[0, "dow_sin"] = np.nan
    bad.loc[1, "roll7_mean_kwh"] = -3.0
    bad.loc[2, "roll28_min_kwh"] = 99.0
    result = validate_frame("household_daily_features", bad)
    assert not result.success
    failed = {f["expectation"] for f in result.failed}
    assert {
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_pair_values_a_to_be_greater_than_b",
    } <= failed
