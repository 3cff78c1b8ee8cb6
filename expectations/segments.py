"""GX suite for ``segments``: one row per household and version; a segment exactly when there was enough data."""

from __future__ import annotations

import great_expectations as gx
import pandas as pd

E = gx.expectations
MAX_SEGMENTS = 20


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """``consistent``: segmented rows have an id and a label, not_enough_data rows have neither."""
    out = df.copy()
    seg = out["status"] == "segmented"
    has = out["segment_id"].notna() & out["segment_label"].notna()
    none = out["segment_id"].isna() & out["segment_label"].isna()
    out["consistent"] = (seg & has) | (~seg & none)
    return out


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="segments")
    for col in ("household_id", "status", "segmentation_version", "acorn_group", "complete_days"):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(E.ExpectCompoundColumnsToBeUnique(column_list=["segmentation_version", "household_id"]))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="status", value_set=["segmented", "not_enough_data"]))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="consistent", value_set=[True]))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="segment_id", min_value=0, max_value=MAX_SEGMENTS - 1))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="mean_daily_kwh", min_value=0, max_value=500))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="peak_halfhour_local", min_value=0, max_value=47))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="distance_to_centroid", min_value=0))
    return suite
