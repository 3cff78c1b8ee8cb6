"""GX suite for ``neighbour_comparison_monthly``: comparisons only where there is a peer group and enough data."""

from __future__ import annotations

import great_expectations as gx
import pandas as pd

E = gx.expectations


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """``consistent``: ok rows carry a percentile and references, other rows none and never an alert;
    ``efficient_below_median``: the 20th percentile of peers cannot exceed their median."""
    out = df.copy()
    ok = out["status"] == "ok"
    has = out["percentile"].notna() & out["efficient_neighbour_kwh"].notna() & out["peer_median_kwh"].notna()
    none = out["percentile"].isna() & ~out["high_usage_alert"].astype(bool)
    out["consistent"] = (ok & has) | (~ok & none)
    out["efficient_below_median"] = ~ok | (out["efficient_neighbour_kwh"] <= out["peer_median_kwh"] + 1e-9)
    return out


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="neighbour_comparison_monthly")
    for col in ("household_id", "month", "status", "high_usage_alert", "complete_days"):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(E.ExpectCompoundColumnsToBeUnique(column_list=["household_id", "month"]))
    suite.add_expectation(
        E.ExpectColumnValuesToBeInSet(
            column="status", value_set=["ok", "not_enough_data", "no_segment", "too_few_peers"]
        )
    )
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="percentile", min_value=0, max_value=1))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="daily_percentile_mean", min_value=0, max_value=1))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="complete_days", min_value=0, max_value=31))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="peer_count", min_value=1))
    for col in ("energy_kwh", "mean_daily_kwh", "efficient_neighbour_kwh", "peer_median_kwh"):
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=0))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="consistent", value_set=[True]))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="efficient_below_median", value_set=[True]))
    return suite
