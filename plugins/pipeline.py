"""The pipeline's stage graph and its Airflow-side tasks, shared by the daily and the history DAGs.

DAG files stay wiring only: they pick the dates and the input, and call :func:`stage_graph`. Every Spark stage
overwrites exactly the ``local_date`` partitions of ``[from_date, to_date]``, so a rerun or a backfill of a day
gives the same result; the gates validate those partitions; the load replaces the same slice in MongoDB.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from airflow.sdk import Asset, chain, get_current_context, task

from plugins.callbacks import record_task_failure, record_task_success
from plugins.spark import spark_job
from spark_jobs.common.settings import get_settings

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "smartmeter",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "on_success_callback": record_task_success,
    "on_failure_callback": record_task_failure,
}

# The run's data interval as Europe/London calendar days (the DAGs' timetables are in that zone).
INTERVAL_FIRST_DAY = "{{ data_interval_start.in_timezone('Europe/London').strftime('%Y-%m-%d') }}"
INTERVAL_LAST_DAY = (
    "{{ (data_interval_end.in_timezone('Europe/London') - macros.timedelta(seconds=1)).strftime('%Y-%m-%d') }}"
)
DAY_AFTER_INTERVAL = "{{ data_interval_end.in_timezone('Europe/London').strftime('%Y-%m-%d') }}"

STAGES = ("ingest", "aggregate", "features", "forecast", "anomalies", "tariffs", "neighbours", "load")


def dataset_asset(name: str) -> Asset:
    """An Airflow asset per Parquet dataset, so the UI shows lineage between the DAGs."""
    return Asset(name=name, uri=f"file://{get_settings().dataset_path(name)}")


def days_between(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start:
        raise ValueError(f"date range is empty: {first} .. {last}")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def months_between(first: str, last: str) -> list[str]:
    return sorted({d[:7] for d in days_between(first, last)})


@task(retries=0)
def gate(dataset: str, first_day: str, last_day: str) -> dict[str, Any]:
    """GX gate on the slice a stage wrote; a failure is data, not flakiness, so it is not retried."""
    from plugins.gates import run_gate

    ctx = get_current_context()
    return run_gate(
        dataset, run_id=ctx["run_id"], dag_id=ctx["dag"].dag_id, local_dates=days_between(first_day, last_day)
    )


@task
def load_serving(datasets: list[str], first_day: str, last_day: str) -> dict[str, Any]:
    """Idempotent load of the slice into MongoDB, then the dashboards' pre-aggregated views."""
    from plugins.serving.loader import ensure_collections, load_dataset, load_households

    ctx = get_current_context()
    run_id = ctx["run_id"]
    ensure_collections()
    counts: dict[str, Any] = {"households": load_households(run_id=run_id)}
    months = months_between(first_day, last_day)
    for name in datasets:
        if name.endswith("_monthly"):
            counts[name] = load_dataset(name, months=months, run_id=run_id)
        elif name in ("forecast_metrics", "segments", "segment_profiles", "ingest_accounting"):
            counts[name] = load_dataset(name, run_id=run_id)
        else:
            counts[name] = load_dataset(name, local_dates=days_between(first_day, last_day), run_id=run_id)
    try:
        from plugins.serving.dashboard_views import build_dashboard_views
    except ImportError:  # the dashboards are optional for a pipeline-only deployment
        build_dashboard_views = None
    if build_dashboard_views is not None:
        from plugins.serving.loader import get_database

        counts["dashboard_views"] = build_dashboard_views(get_database())
    return counts


def stage_graph(*, first_day: str, last_day: str, input_path: str, forecast_day: str | None = None):
    """ingest → gate → aggregate → gate → features → gate → forecast / anomalies / tariffs / neighbours → gates → load."""
    run_id = "{{ run_id }}"
    window = ["--from-date", first_day, "--to-date", last_day]
    ingest = spark_job(
        "ingest",
        "ingest",
        ["--input", input_path, *window, "--run-id", run_id],
        outlets=[dataset_asset("readings_halfhourly")],
    )
    aggregate = spark_job(
        "aggregate", "aggregate", window, outlets=[dataset_asset("household_daily"), dataset_asset("group_halfhourly")]
    )
    features = spark_job("features", "features", window, outlets=[dataset_asset("household_daily_features")])
    forecast = spark_job(
        "forecast",
        "forecast",
        ["predict", "--date", forecast_day or last_day],
        outlets=[dataset_asset("forecasts")],
    )
    anomalies = spark_job("anomalies", "anomalies", window, outlets=[dataset_asset("anomalies")])
    tariffs = spark_job("tariffs", "tariffs", window, outlets=[dataset_asset("tariff_comparison_monthly")])
    neighbours = spark_job("neighbours", "neighbours", window, outlets=[dataset_asset("neighbour_comparison_monthly")])

    g_readings = gate.override(task_id="gate_readings_halfhourly")("readings_halfhourly", first_day, last_day)
    g_daily = gate.override(task_id="gate_household_daily")("household_daily", first_day, last_day)
    g_features = gate.override(task_id="gate_household_daily_features")("household_daily_features", first_day, last_day)
    g_forecasts = gate.override(task_id="gate_forecasts")(
        "forecasts", forecast_day or last_day, forecast_day or last_day
    )
    g_anomalies = gate.override(task_id="gate_anomalies")("anomalies", first_day, last_day)
    load = load_serving(
        [
            "household_daily",
            "group_halfhourly",
            "forecasts",
            "anomalies",
            "tariff_comparison_monthly",
            "neighbour_comparison_monthly",
            "ingest_accounting",
        ],
        first_day,
        last_day,
    )
    chain(ingest, g_readings, aggregate, g_daily, features, g_features)
    chain(g_features, forecast, g_forecasts, load)
    chain(g_features, anomalies, g_anomalies, load)
    chain(g_features, tariffs, neighbours, load)
    return load
