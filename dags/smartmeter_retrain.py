"""
### Weekly model retraining

Every week (Sunday 02:00, Europe/London) retrains the day-ahead forecasting models on all history up to the
last complete day (Saturday), with a rolling-origin backtest against the naive baselines, and refits the household
segments. The new model version (named by its training window) is what the daily DAG's `predict` picks up
from then on; the backtest metrics and segments are loaded into MongoDB for the dashboards.

Runs also when triggered by hand; it is scheduled on the readings asset's timetable, not on data arrival,
so a burst of daily backfills does not retrain seven times.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, chain

from plugins.pipeline import (
    DAY_BEFORE_INTERVAL_END,
    DEFAULT_ARGS,
    dataset_asset,
    finish_run,
    gate,
    load_serving,
    london_intervals,
)
from plugins.spark import spark_job

dag_id = Path(__file__).stem

with DAG(
    dag_id=dag_id,
    doc_md=__doc__,
    # weekly intervals ending Sunday 02:00 London (after the daily run of Saturday); trains up to Saturday
    schedule=london_intervals("0 2 * * 0"),
    start_date=pendulum.datetime(2011, 11, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["smartmeter", "training", "spark"],
):
    train = spark_job(
        "train_forecast_models",
        "forecast",
        ["train", "--train-end", DAY_BEFORE_INTERVAL_END],
        inlets=[dataset_asset("household_daily_features")],
        outlets=[dataset_asset("forecast_metrics")],
    )
    segments = spark_job(
        "fit_segments",
        "segments",
        ["--to-date", DAY_BEFORE_INTERVAL_END],
        inlets=[dataset_asset("household_daily")],
        outlets=[dataset_asset("segments"), dataset_asset("segment_profiles")],
    )
    g_segments = gate.override(task_id="gate_segments")(["segments"], DAY_BEFORE_INTERVAL_END, DAY_BEFORE_INTERVAL_END)
    load = load_serving(
        ["forecast_metrics", "segments", "segment_profiles"], DAY_BEFORE_INTERVAL_END, DAY_BEFORE_INTERVAL_END
    )
    chain(train, segments, g_segments, load, finish_run(["gate_segments"]))
