"""group_halfhourly suite: passes a consistent frame, fails an inconsistent mean and an unknown group kind."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from expectations.runner import validate_frame


def _good() -> pd.DataFrame:
    t = pd.Timestamp("2013-01-01 00:00")
    return pd.DataFrame(
        {
            "group_kind": ["tariff", "tariff", "all"],
            "group_name": ["Std", "ToU", "all"],
            "interval_start_utc": [t, t, t],
            "halfhour_local": [0, 0, 0],
            "mean_energy_kwh": [0.2, 0.4, 0.3],
            "total_energy_kwh": [0.4, 0.4, 0.9],
            "households_reporting": [2, 1, 3],
            "local_date": [dt.date(2013, 1, 1)] * 3,
        }
    )


def test_good_frame_passes():
    result = validate_frame("group_halfhourly", _good())
    assert result.success, result.message()


def test_bad_frame_fails():
    bad = _good()
    bad.loc[0, "mean_energy_kwh"] = 0.9
    bad.loc[2, "group_kind"] = "postcode"
    result = validate_frame("group_halfhourly", bad)
    assert not result.success
    assert {f["expectation"] for f in result.failed} == {"expect_column_values_to_be_in_set"}
    assert len(result.failed) == 2
