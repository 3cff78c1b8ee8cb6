"""GX suite for ``household_daily``: one row per household-day, DST-aware expected counts, sane energy."""

from __future__ import annotations

import great_expectations as gx
import pandas as pd

from spark_jobs.common.schemas import HOUSEHOLD_DAILY

E = gx.expectations
MAX_DAILY_KWH = 48 * 10.0  # settings.max_halfhour_kwh for every half hour of the longest day is already absurd


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """A day with readings must have energy, and a day without readings must not (dense gap rows)."""
    out = df.copy()
    out["energy_matches_presence"] = out["energy_kwh"].notna().to_numpy() == (out["readings_present"] > 0).to_numpy()
    return out


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="household_daily")
    suite.add_expectation(
        E.ExpectTableColumnsToMatchSet(column_set=[f.name for f in HOUSEHOLD_DAILY.fields], exact_match=False)
    )
    for col in ("household_id", "local_date", "readings_present", "readings_expected", "completeness", "acorn_group"):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(E.ExpectCompoundColumnsToBeUnique(column_list=["household_id", "local_date"]))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="readings_expected", value_set=[46, 48, 50]))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="readings_present", min_value=0, max_value=50))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="completeness", min_value=0.0, max_value=1.0))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="energy_kwh", min_value=0.0, max_value=MAX_DAILY_KWH))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="tariff_group", value_set=["Std", "ToU"]))
    suite.add_expectation(
        E.ExpectColumnValuesToBeInSet(
            column="acorn_group", value_set=["Affluent", "Comfortable", "Adversity", "ACORN-U", "unknown"]
        )
    )
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="energy_matches_presence", value_set=[True]))
    return suite
