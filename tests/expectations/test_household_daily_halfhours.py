"""household_daily_halfhours suite: passes a good frame (a fall-back day included), fails duplicates, negative
half hours and slot counts that disagree with the day's readings."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from expectations.runner import validate_frame
from spark_jobs.common.schemas import SLOT_COLUMNS


def _good() -> pd.DataFrame:
    slots = np.full((3, 48), 0.25)
    slots[1, 2:4] = np.nan  # spring-forward day: 01:00-02:00 does not exist
    frame = pd.DataFrame(slots, columns=SLOT_COLUMNS)
    frame.insert(0, "household_id", ["A", "A", "B"])
    frame.insert(1, "tariff_group", ["Std", "Std", "ToU"])
    frame.insert(2, "readings_present", [48, 46, 50])  # B: fall-back day, 50 readings in 48 slots
    frame["local_date"] = [dt.date(2013, 1, 1), dt.date(2013, 3, 31), dt.date(2013, 10, 27)]
    return frame


def test_good_frame_passes():
    result = validate_frame("household_daily_halfhours", _good())
    assert result.success, result.message()


def test_bad_frame_fails():
    bad = pd.concat([_good(), _good().iloc[[0]]], ignore_index=True)  # duplicate key
    bad.loc[0, "e10"] = -1.0
    bad.loc[1, "readings_present"] = 40  # fewer readings than filled slots
    result = validate_frame("household_daily_halfhours", bad)
    assert not result.success
    failed = {(f["expectation"], f["kwargs"].get("column")) for f in result.failed}
    assert ("expect_compound_columns_to_be_unique", None) in failed
    assert ("expect_column_values_to_be_between", "e10") in failed
    assert ("expect_column_values_to_be_in_set", "slots_match_readings") in failed
