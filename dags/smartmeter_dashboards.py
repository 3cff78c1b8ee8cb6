"""
### Dashboard views

Rebuilds the small pre-aggregated `dash_*` collections that the Superset dashboards read, whenever a pipeline
run (daily, history or retrain) has finished loading MongoDB: the DAG is scheduled on the `serving_store` asset
that their `finish_run` task updates. Then it refreshes Superset's chart-data cache by replaying the requests
the dashboards send (recorded when Superset started), so the next dashboard load reads the new figures from the
cache instead of querying MongoDB chart by chart (skipped, with the reason, when Superset is not running). Kept out of the pipeline runs themselves, so a day's data is served as
soon as it is loaded and the daily run's time does not grow with the dashboards' history. Several asset updates
while a rebuild runs lead to one more rebuild, not one each. Trigger it by hand to rebuild after editing
MongoDB or the lake directly.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from plugins.pipeline import DEFAULT_ARGS, SERVING_ASSET, refresh_dashboards, warm_dashboard_cache

dag_id = Path(__file__).stem

with DAG(
    dag_id=dag_id,
    doc_md=__doc__,
    schedule=[SERVING_ASSET],
    start_date=pendulum.datetime(2011, 11, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    # a failed rebuild is recorded in pipeline_runs; successful ones are not pipeline runs of their own
    default_args={**DEFAULT_ARGS, "on_success_callback": None},
    tags=["smartmeter", "dashboards", "superset"],
):
    refresh_dashboards() >> warm_dashboard_cache()
