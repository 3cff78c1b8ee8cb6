"""GX suite for ``forecasts`` / ``forecasts_backtest``: ordered, non-negative quantiles, known tasks, unique keys."""

from __future__ import annotations

import great_expectations as gx

from spark_jobs.common.schemas import FORECASTS

E = gx.expectations
TASKS = ["household_daily", "group_halfhourly", "household_halfhourly"]


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="forecasts")
    suite.add_expectation(
        E.ExpectTableColumnsToMatchSet(column_set=[f.name for f in FORECASTS.fields], exact_match=False)
    )
    for col in ("task", "series_id", "model", "model_version", "target_time_utc", "p50_kwh", "local_date"):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="task", value_set=TASKS))
    suite.add_expectation(
        E.ExpectCompoundColumnsToBeUnique(
            column_list=["task", "series_id", "model", "model_version", "target_time_utc"]
        )
    )
    for col in ("p10_kwh", "p50_kwh", "p90_kwh"):
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=0.0))
    for a, b in (("p50_kwh", "p10_kwh"), ("p90_kwh", "p50_kwh")):
        suite.add_expectation(
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing"
            )
        )
    return suite
