"""The anomalies suite passes a well-formed event table and fails reversed times, unknown kinds, duplicate ids."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from expectations.runner import validate_frame


def good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "household_id": ["MAC000002", "MAC000003"],
            "event_id": ["a", "b"],
            "detector": ["robust_v1", "kmeans_baseline"],
            "kind": ["near_zero", "day_outlier"],
            "start_utc": pd.to_datetime(["2013-06-01 23:00", "2013-01-05 00:00"]),
            "end_utc": pd.to_datetime(["2013-06-04 23:00", "2013-01-06 00:00"]),
            "duration_halfhours": [144, 48],
            "severity": [7.5, 4.1],
            "severity_level": ["low", "medium"],
            "observed_kwh": [0.3, 30.0],
            "expected_kwh": [30.0, 10.0],
            "expected_source": ["self_history", "kmeans_centroid"],
            "local_date": [dt.date(2013, 6, 2), dt.date(2013, 1, 5)],
        }
    )


def test_good_events_pass():
    result = validate_frame("anomalies", good())
    assert result.success, result.message()


def test_bad_events_fail_and_name_the_problem():
    bad = good()
    bad.loc[0, "end_utc"] = bad.loc[0, "start_utc"] - pd.Timedelta(hours=1)
    bad.loc[1, "kind"] = "gremlins"
    bad.loc[1, "event_id"] = "a"
    result = validate_frame("anomalies", bad)
    assert not result.success
    failed = {f["expectation"] for f in result.failed}
    assert {"expect_column_values_to_be_between", "expect_column_values_to_be_in_set"} <= failed
    assert "expect_column_values_to_be_unique" in failed


def test_local_date_must_be_the_local_day_of_start():
    bad = good()
    bad.loc[0, "local_date"] = dt.date(2013, 6, 1)  # 23:00 UTC in June is already the 2nd in London
    result = validate_frame("anomalies", bad)
    assert not result.success
