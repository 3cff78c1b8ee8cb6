"""GX suite of ``readings_halfhourly``: the gate after ingestion.

``prepare`` derives the columns that single-column expectations need to check row relations: minute/second of
the interval start (the half-hour grid), the local day and slot recomputed from the UTC start (the time
convention), and the per household-day completeness (readings / slots of that local day: 46, 48 or 50). The
completeness distribution is gated loosely (the real LCL data has gaps); over-complete days (> 1) are errors
(duplicates or a wrong day assignment).
"""

from __future__ import annotations

from datetime import timedelta

import great_expectations as gx
import pandas as pd

from spark_jobs.common.settings import get_settings

LOCAL_TZ = "Europe/London"
MIN_MEAN_COMPLETENESS = 0.9  # row-weighted mean of household-day completeness
MIN_MEDIAN_COMPLETENESS = 0.95

KEY_COLUMNS = ["household_id", "interval_start_utc", "local_date", "halfhour_local", "energy_kwh", "source_file"]
TYPES = {
    "household_id": ["str", "object", "string", "StringDtype"],
    "tariff_group": ["str", "object", "string", "StringDtype"],
    "source_file": ["str", "object", "string", "StringDtype"],
    "interval_start_utc": [
        "datetime64",
        "datetime64[ns]",
        "datetime64[us]",
        "datetime64[ms]",
        "datetime64[ns, UTC]",
        "datetime64[us, UTC]",
        "Timestamp",
    ],
    "halfhour_local": ["int32", "int64", "Int32", "Int64", "int8", "int16"],
    "energy_kwh": ["float64", "float32", "Float64"],
}


def _slots_in_local_day(day: pd.Timestamp) -> int:
    start = pd.Timestamp(day).tz_localize(LOCAL_TZ)
    end = (pd.Timestamp(day) + timedelta(days=1)).tz_localize(LOCAL_TZ)
    return int((end - start) / timedelta(minutes=30))


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    ts = pd.to_datetime(df["interval_start_utc"])
    ts_utc = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    df["start_minute"] = ts_utc.dt.minute
    df["start_second"] = ts_utc.dt.second + ts_utc.dt.microsecond / 1e6 + ts_utc.dt.nanosecond / 1e9
    local = ts_utc.dt.tz_convert(LOCAL_TZ)
    day = pd.to_datetime(df["local_date"]).dt.normalize()
    df["local_date_matches_start"] = local.dt.tz_localize(None).dt.normalize() == day
    df["slot_matches_start"] = (local.dt.hour * 2 + local.dt.minute // 30) == df["halfhour_local"]
    per_day = df.groupby(["household_id", day])["household_id"].transform("size")
    slots = day.map({d: _slots_in_local_day(d) for d in day.dropna().unique()})
    df["readings_per_household_day"] = per_day
    df["household_day_completeness"] = per_day / slots
    return df


def build_suite() -> gx.ExpectationSuite:
    e = gx.expectations
    max_kwh = get_settings().max_halfhour_kwh
    suite = gx.ExpectationSuite(name="readings_halfhourly")
    for column, types in TYPES.items():
        suite.add_expectation(e.ExpectColumnValuesToBeInTypeList(column=column, type_list=types))
    for column in KEY_COLUMNS:
        suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(e.ExpectColumnValuesToBeBetween(column="energy_kwh", min_value=0, max_value=max_kwh))
    suite.add_expectation(e.ExpectColumnValuesToBeBetween(column="halfhour_local", min_value=0, max_value=47))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="tariff_group", value_set=["Std", "ToU"]))
    suite.add_expectation(e.ExpectCompoundColumnsToBeUnique(column_list=["household_id", "interval_start_utc"]))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="start_minute", value_set=[0, 30]))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="start_second", value_set=[0]))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="local_date_matches_start", value_set=[True]))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="slot_matches_start", value_set=[True]))
    suite.add_expectation(
        e.ExpectColumnValuesToBeBetween(column="household_day_completeness", min_value=0, max_value=1)
    )
    suite.add_expectation(
        e.ExpectColumnMeanToBeBetween(column="household_day_completeness", min_value=MIN_MEAN_COMPLETENESS)
    )
    suite.add_expectation(
        e.ExpectColumnMedianToBeBetween(column="household_day_completeness", min_value=MIN_MEDIAN_COMPLETENESS)
    )
    return suite
