"""GX suite for ``group_halfhourly``: one row per group and half hour, mean = total / households reporting."""

from __future__ import annotations

import great_expectations as gx
import numpy as np
import pandas as pd

from spark_jobs.common.schemas import GROUP_HALFHOURLY

E = gx.expectations


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["mean_consistent"] = np.isclose(
        out["mean_energy_kwh"] * out["households_reporting"], out["total_energy_kwh"], rtol=1e-6, atol=1e-9
    )
    return out


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="group_halfhourly")
    suite.add_expectation(
        E.ExpectTableColumnsToMatchSet(column_set=[f.name for f in GROUP_HALFHOURLY.fields], exact_match=False)
    )
    for col in (
        "group_kind",
        "group_name",
        "interval_start_utc",
        "halfhour_local",
        "households_reporting",
        "local_date",
    ):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(
        E.ExpectCompoundColumnsToBeUnique(column_list=["group_kind", "group_name", "interval_start_utc"])
    )
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="group_kind", value_set=["tariff", "acorn", "all"]))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="halfhour_local", min_value=0, max_value=47))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="households_reporting", min_value=1))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="mean_energy_kwh", min_value=0.0, max_value=10.0))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="total_energy_kwh", min_value=0.0))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="mean_consistent", value_set=[True]))
    return suite
