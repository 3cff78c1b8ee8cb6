"""GX suite for ``anomalies``: one row per detected event, kinds and detectors from the known sets, sane times."""

from __future__ import annotations

import great_expectations as gx
import pandas as pd

from spark_jobs.analytics.schemas import (
    ANOMALIES,
    ANOMALY_KINDS,
    BASELINE_KIND,
    DETECTOR_KMEANS,
    DETECTOR_ROBUST,
)

E = gx.expectations
MAX_EVENT_HALFHOURS = 48 * 120  # a vacancy or shift longer than ~4 months is a bug, not an event


def _utc(col: pd.Series) -> pd.Series:
    """As tz-aware UTC whether the reader gave naive (Spark's UTC session) or UTC-aware timestamps."""
    ts = pd.to_datetime(col)
    return ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Derived checks GX cannot express on one column: the event must end after it starts, and its local
    start day must be the day of ``start_utc`` in Europe/London."""
    out = df.copy()
    start = _utc(out["start_utc"])
    end = _utc(out["end_utc"])
    out["minutes"] = (end - start).dt.total_seconds() / 60
    local = start.dt.tz_convert("Europe/London").dt.date
    out["local_date_matches_start"] = (
        local.astype(str).to_numpy() == pd.to_datetime(out["local_date"]).dt.date.astype(str).to_numpy()
    )
    return out


def build_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="anomalies")
    suite.add_expectation(
        E.ExpectTableColumnsToMatchSet(
            column_set=[f.name for f in ANOMALIES.fields] + ["minutes", "local_date_matches_start"], exact_match=False
        )
    )
    for col in ("household_id", "event_id", "detector", "kind", "start_utc", "end_utc", "severity", "local_date"):
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    suite.add_expectation(E.ExpectColumnValuesToBeUnique(column="event_id"))
    suite.add_expectation(
        E.ExpectColumnValuesToBeInSet(column="detector", value_set=[DETECTOR_ROBUST, DETECTOR_KMEANS])
    )
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="kind", value_set=[*ANOMALY_KINDS, BASELINE_KIND]))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="severity_level", value_set=["low", "medium", "high"]))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="severity", min_value=0))
    suite.add_expectation(
        E.ExpectColumnValuesToBeBetween(column="minutes", min_value=30, max_value=30 * MAX_EVENT_HALFHOURS)
    )
    suite.add_expectation(
        E.ExpectColumnValuesToBeBetween(column="duration_halfhours", min_value=1, max_value=MAX_EVENT_HALFHOURS)
    )
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="local_date_matches_start", value_set=[True]))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column="observed_kwh", min_value=0, mostly=1.0))
    return suite
