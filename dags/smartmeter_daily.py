"""
### Daily smart-meter pipeline

Processes one **Europe/London day** of half-hourly readings from the landing folder
(`<landing>/<YYYY-MM-DD>/`, written by the generator's live feed or dropped there by a utility). A sensor
waits (in reschedule mode, holding no worker slot) until the day's files arrive, then:

ingest → GX gate → aggregate → GX gate → features → GX gate → forecast (day-ahead), and beside the features
anomalies / tariffs / neighbours (task `analyses`: one Spark application, since a day's analyses are mostly
JVM warm-up) → GX gates → load into MongoDB.

Every stage overwrites exactly the day's partitions, so a rerun or a backfill of any day gives the same result
(`airflow backfill create --dag-id smartmeter_daily --from-date ... --to-date ...`). Runs share the
`spark_cluster` pool; `max_active_runs=1` keeps backfills from starving the 2-core cluster. A run still not
done 45 minutes after it was queued raises a deadline alert, recorded in `pipeline_runs`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference, Param

from plugins.pipeline import (
    DAY_AFTER_INTERVAL,
    DEFAULT_ARGS,
    INTERVAL_FIRST_DAY,
    INTERVAL_LAST_DAY,
    STAGES,
    daily_timetable,
    stage_graph,
    wait_for_landing,
)
from spark_jobs.common.settings import get_settings

dag_id = Path(__file__).stem

with DAG(
    dag_id=dag_id,
    doc_md=__doc__,
    schedule=daily_timetable(),
    start_date=pendulum.datetime(2011, 11, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["smartmeter", "daily", "spark", "gx"],
    params={
        "stages": Param(
            [s for s in STAGES if s != "segments"],
            type="array",
            items={"type": "string", "enum": [s for s in STAGES if s != "segments"]},
            title="Stages to run",
            description="All by default; a backfill may rerun only some (e.g. ingest, aggregate, load).",
        ),
    },
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=45),
        callback=AsyncCallback("plugins.callbacks.deadline_missed", kwargs={"limit": "45 minutes"}),
        name="daily_run_45_minutes",
    ),
):
    landing = f"{get_settings().landing_dir}/{INTERVAL_FIRST_DAY}"
    ingest, _ = stage_graph(
        first_day=INTERVAL_FIRST_DAY,
        last_day=INTERVAL_LAST_DAY,
        input_path=landing,
        forecast_jobs=[("forecast", ["predict", "--date", DAY_AFTER_INTERVAL])],
        forecast_days=(DAY_AFTER_INTERVAL, DAY_AFTER_INTERVAL),
        selectable=True,
        anomaly_detectors="robust",
        day_sized=True,
    )
    wait_for_landing(landing) >> ingest
