"""GX suite for ``household_daily_features``: unique keys, no nulls in keys/context, features in plausible ranges.

History features may be null (a missing day, a household's first weeks); the model handles that natively.
"""

from __future__ import annotations

import great_expectations as gx

from spark_jobs.common.schemas import HOUSEHOLD_DAILY_FEATURES

E = gx.expectations
MAX_DAILY_KWH = 480.0


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="household_daily_features")
    names = [f.name for f in HOUSEHOLD_DAILY_FEATURES.fields]
    suite.add_expectation(E.ExpectTableColumnsToMatchSet(column_set=names, exact_match=False))
    for col in (
        "household_id",
        "local_date",
        "dow_sin",
        "dow_cos",
        "doy_sin",
        "doy_cos",
        "is_weekend",
        "is_bank_holiday",
        "tou_high_share",
        "tou_low_share",
        "is_tou",
        "acorn_code",
        "hh_history_days",
    ):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(E.ExpectCompoundColumnsToBeUnique(column_list=["household_id", "local_date"]))
    for col in names:
        if col.endswith("_kwh"):
            suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=0.0, max_value=MAX_DAILY_KWH))
    for col in ("dow_sin", "dow_cos", "doy_sin", "doy_cos"):
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=-1.0, max_value=1.0))
    for col in ("is_weekend", "is_bank_holiday", "is_bank_holiday_prev_day", "is_tou"):
        suite.add_expectation(E.ExpectColumnValuesToBeInSet(column=col, value_set=[0, 1]))
    for col in ("tou_high_share", "tou_low_share", "humidity_mean"):
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=0.0, max_value=1.0))
    for col in ("temperature_mean_c", "temperature_min_c", "temperature_max_c", "temperature_mean_c_prev_day"):
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=-25.0, max_value=45.0))
    suite.add_expectation(
        E.ExpectColumnValuesToBeBetween(column="heating_degree_days_c", min_value=0.0, max_value=40.0)
    )
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="roll28_valid_days", min_value=0, max_value=28))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="hh_history_days", min_value=0))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="acorn_code", value_set=[-1, 0, 1, 2, 3]))
    suite.add_expectation(
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="roll28_max_kwh", column_B="roll28_min_kwh", or_equal=True, ignore_row_if="either_value_is_missing"
        )
    )
    return suite
