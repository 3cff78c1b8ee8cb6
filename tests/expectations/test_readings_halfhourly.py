"""The readings_halfhourly suite passes on ingested-like data and fails, naming the expectation, on bad data."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from expectations.runner import validate_frame


def day_frame(household: str, local_day: date, kwh: float = 0.2) -> pd.DataFrame:
    """Every half hour of a London day, as the ingest job writes it (UTC start, local day and slot)."""
    start = pd.Timestamp(local_day).tz_localize("Europe/London").tz_convert("UTC")
    end = pd.Timestamp(local_day + timedelta(days=1)).tz_localize("Europe/London").tz_convert("UTC")
    ts = pd.date_range(start, end, freq="30min", inclusive="left")
    local = ts.tz_convert("Europe/London")
    return pd.DataFrame(
        {
            "household_id": household,
            "tariff_group": "Std",
            "interval_start_utc": ts.tz_localize(None),
            "halfhour_local": (local.hour * 2 + local.minute // 30).astype("int32"),
            "energy_kwh": kwh,
            "source_file": "f.csv",
            "local_date": local_day,
        }
    )


@pytest.fixture()
def good() -> pd.DataFrame:
    days = [date(2013, 3, 30), date(2013, 3, 31), date(2013, 10, 27)]  # 48, 46 and 50 slots
    return pd.concat([day_frame(hh, d) for hh in ("MAC000001", "MAC000002") for d in days], ignore_index=True)


def failed_names(result) -> set[str]:
    return {f["expectation"] for f in result.failed}


def test_good_data_passes(good):
    result = validate_frame("readings_halfhourly", good)
    assert result.success, result.message()
    assert result.evaluated >= 20


def test_off_grid_time_fails(good):
    good.loc[3, "interval_start_utc"] += pd.Timedelta(minutes=7)
    result = validate_frame("readings_halfhourly", good)
    assert not result.success
    assert "expect_column_values_to_be_in_set" in failed_names(result)
    assert any(f["kwargs"].get("column") == "start_minute" for f in result.failed)


def test_duplicate_and_over_complete_day_fail(good):
    bad = pd.concat([good, good.iloc[[5]]], ignore_index=True)
    result = validate_frame("readings_halfhourly", bad)
    assert {"expect_compound_columns_to_be_unique", "expect_column_values_to_be_between"} <= failed_names(result)


def test_absurd_reading_and_null_key_fail(good):
    good.loc[0, "energy_kwh"] = 9999.0
    good.loc[1, "household_id"] = None
    result = validate_frame("readings_halfhourly", good)
    cols = {(f["expectation"], f["kwargs"].get("column")) for f in result.failed}
    assert ("expect_column_values_to_be_between", "energy_kwh") in cols
    assert ("expect_column_values_to_not_be_null", "household_id") in cols


def test_wrong_local_day_or_slot_fails(good):
    good.loc[10, "halfhour_local"] = 47
    good.loc[11, "local_date"] = date(2013, 3, 29)
    result = validate_frame("readings_halfhourly", good)
    cols = {f["kwargs"].get("column") for f in result.failed}
    assert {"slot_matches_start", "local_date_matches_start"} <= cols


def test_sparse_household_days_fail_the_completeness_distribution(good):
    sparse = good.groupby(["household_id", "local_date"]).head(10)
    result = validate_frame("readings_halfhourly", sparse)
    assert {"expect_column_mean_to_be_between", "expect_column_median_to_be_between"} <= failed_names(result)


def test_wrong_type_fails(good):
    good["energy_kwh"] = good["energy_kwh"].astype(str)
    result = validate_frame("readings_halfhourly", good.assign(energy_kwh=good.energy_kwh.astype(object)))
    assert "expect_column_values_to_be_in_type_list" in failed_names(result)
