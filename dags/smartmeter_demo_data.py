"""
### Demo data: synthetic households in the original LCL layout

Runs the platform's generator: real household ids from `household_information.csv`, realistic daily, weekly
and seasonal shapes driven by the real London weather, ToU households reacting to the real 2013 dToU prices,
the real files' quirks (duplicates, `Null`, off-grid times, missing days) and injected anomalies whose ground
truth goes to a file the pipeline never reads.

* **history** mode writes partition files `LCL-June2015v2_<n>.csv` for a date range into a folder, for the
  history DAG.
* **live** mode writes one day's readings for all households into `<landing>/<YYYY-MM-DD>/`, which the daily
  DAG ingests; the same seed and day always give the same bytes, so reruns are idempotent.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Asset, Param, task

from plugins.pipeline import DEFAULT_ARGS
from spark_jobs.common.settings import get_settings

dag_id = Path(__file__).stem
settings = get_settings()

with DAG(
    dag_id=dag_id,
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2011, 11, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["smartmeter", "demo", "generator"],
    params={
        "mode": Param("live", type="string", enum=["live", "history"], title="Mode"),
        "households": Param(200, type="integer", minimum=1, maximum=100000, title="Households"),
        "start": Param("2013-01-01", type="string", format="date", title="First day (history mode)"),
        "end": Param("2013-03-31", type="string", format="date", title="Last day (history mode)"),
        "live_day": Param("2013-04-01", type="string", format="date", title="Day to write (live mode)"),
        "out": Param(str(settings.landing_dir), type="string", title="Output folder"),
        "seed": Param(42, type="integer", title="Seed"),
    },
):

    @task(outlets=[Asset(name="landing", uri="smartmeter://landing", group="smartmeter")])
    def generate(params: dict | None = None) -> dict:
        """Calls the generator in-process: it is a vectorised NumPy tool, not a Spark job (measured faster)."""
        from spark_jobs.generate import main

        truth_dir = get_settings().state_dir / "truth"
        truth_dir.mkdir(parents=True, exist_ok=True)
        args = ["--out", params["out"], "--households", str(params["households"]), "--seed", str(params["seed"])]
        if params["mode"] == "live":
            args += ["--live-day", params["live_day"], "--truth", str(truth_dir / "anomalies_truth.csv")]
        else:
            args += ["--start", params["start"], "--end", params["end"], "--overwrite"]
            args += ["--truth", str(truth_dir / "anomalies_truth_history.csv")]
        main(args)
        return {"args": args}

    generate()
