"""GX suite for ``tariff_comparison_monthly``: bills add up from the kWh and the published prices."""

from __future__ import annotations

import great_expectations as gx
import numpy as np
import pandas as pd

from spark_jobs.common.settings import get_settings

E = gx.expectations
TOLERANCE_PENCE = 1e-6


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Recompute both bills from the band kWh and the configured prices; flag rows that do not match."""
    s = get_settings()
    p = s.dtou_prices_pence_per_kwh
    out = df.copy()
    flat = out["energy_kwh"] * s.flat_tariff_pence_per_kwh
    dtou = out["high_kwh"] * p["High"] + out["normal_kwh"] * p["Normal"] + out["low_kwh"] * p["Low"]
    tol = TOLERANCE_PENCE * np.maximum(1.0, out["flat_cost_pence"].abs())
    out["flat_matches"] = (out["flat_cost_pence"] - flat).abs() <= tol
    out["dtou_matches"] = (out["dtou_cost_pence"] - dtou).abs() <= tol * 100
    out["bands_sum"] = (
        out["high_kwh"] + out["normal_kwh"] + out["low_kwh"] - out["energy_kwh"]
    ).abs() <= 1e-6 * np.maximum(1.0, out["energy_kwh"])
    out["saving_matches"] = (out["saving_pence"] - (out["flat_cost_pence"] - out["dtou_cost_pence"])).abs() <= tol
    return out


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="tariff_comparison_monthly")
    for col in ("household_id", "month", "energy_kwh", "flat_cost_pence", "dtou_cost_pence", "shifted_dtou_cost_pence"):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(E.ExpectCompoundColumnsToBeUnique(column_list=["household_id", "month"]))
    for col in ("energy_kwh", "high_kwh", "normal_kwh", "low_kwh", "flat_cost_pence", "dtou_cost_pence"):
        suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=col, min_value=0))
    for col in ("flat_matches", "dtou_matches", "bands_sum", "saving_matches"):
        suite.add_expectation(E.ExpectColumnValuesToBeInSet(column=col, value_set=[True]))
    suite.add_expectation(
        E.ExpectColumnValuesToBeInSet(column="dtou_outcome", value_set=["winner", "loser", "neutral"])
    )
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="shift_share", min_value=0, max_value=1))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="shift_saving_pence", min_value=-1e-6))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="completeness", min_value=0, max_value=1))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="schedule_year", value_set=[2013]))
    return suite
