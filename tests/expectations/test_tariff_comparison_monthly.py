"""The tariff suite recomputes the bills: a correct row passes, a mispriced one fails."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from expectations.runner import validate_frame


def good() -> pd.DataFrame:
    high, normal, low = 10.0, 250.0, 40.0
    energy = high + normal + low
    flat = energy * 14.228
    dtou = high * 67.20 + normal * 11.76 + low * 3.99
    shifted = dtou - 2.0 * 67.20 + 2.0 * 10.0
    return pd.DataFrame(
        {
            "household_id": ["A"],
            "tariff_group": ["ToU"],
            "energy_kwh": [energy],
            "high_kwh": [high],
            "normal_kwh": [normal],
            "low_kwh": [low],
            "flat_cost_pence": [flat],
            "dtou_cost_pence": [dtou],
            "saving_pence": [flat - dtou],
            "dtou_outcome": ["winner"],
            "shift_share": [0.2],
            "shifted_dtou_cost_pence": [shifted],
            "shift_saving_pence": [dtou - shifted],
            "readings_present": [1488],
            "readings_expected": [1488],
            "completeness": [1.0],
            "schedule_year": [2013],
            "schedule_mapped": [False],
            "month": [dt.date(2013, 1, 1)],
        }
    )


def test_good_bill_passes():
    result = validate_frame("tariff_comparison_monthly", good())
    assert result.success, result.message()


def test_mispriced_bill_fails():
    bad = good()
    bad.loc[0, "dtou_cost_pence"] *= 1.1
    result = validate_frame("tariff_comparison_monthly", bad)
    assert not result.success
    assert any(f["kwargs"].get("column") == "dtou_matches" for f in result.failed)
