"""GX suite for ``household_daily_halfhours``: one row per household-day with readings, 48 sane half hours that
agree with the day's reading count (the later stages read this instead of the readings)."""

from __future__ import annotations

import great_expectations as gx
import pandas as pd

from spark_jobs.common.schemas import HOUSEHOLD_DAILY_HALFHOURS, SLOT_COLUMNS
from spark_jobs.common.settings import get_settings

E = gx.expectations


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Slots with a value = readings of the day, except the fall-back day's repeated hour (two readings share a
    slot), so ``readings_present`` is the filled slots plus 0..2."""
    out = df.copy()
    filled = out[SLOT_COLUMNS].notna().sum(axis=1)
    extra = out["readings_present"] - filled
    out["slots_match_readings"] = ((extra >= 0) & (extra <= 2)).to_numpy()
    return out


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="household_daily_halfhours")
    suite.add_expectation(
        E.ExpectTableColumnsToMatchSet(column_set=[f.name for f in HOUSEHOLD_DAILY_HALFHOURS.fields], exact_match=False)
    )
    for col in ("household_id", "local_date", "readings_present"):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(E.ExpectCompoundColumnsToBeUnique(column_list=["household_id", "local_date"]))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="readings_present", min_value=1, max_value=50))
    max_slot_kwh = 2 * get_settings().max_halfhour_kwh  # a fall-back slot holds two readings
    for col in SLOT_COLUMNS:
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=0.0, max_value=max_slot_kwh))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="slots_match_readings", value_set=[True]))
    return suite
