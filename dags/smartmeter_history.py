"""
### Reprocess a history of LCL files (on demand)

Trigger from the UI with the form: point it at the full Low Carbon London files (the 168
`LCL-June2015v2_*.csv` partition files or `CC_LCL-FullData.csv`, plain or gzip), the Kaggle
`halfhourly_dataset` files, or any folder of files in the same layout. It runs the same stages as the daily DAG
over the whole date range, refits the household segments, backtests the forecasting models (rolling origin,
against the naive baselines) and retrains them on the whole range as a new model version. Untick
`forecast` to keep the current models.

The default input is the real sample household shipped beside the repository, so a plain trigger is a real
end-to-end run. Untick stages in the form to rerun only part of the pipeline; every stage overwrites exactly
the partitions of the chosen date range.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from plugins.pipeline import DEFAULT_ARGS, STAGES, stage_graph
from spark_jobs.common.settings import get_settings

dag_id = Path(__file__).stem
FIRST = "{{ params.from_date }}"
LAST = "{{ params.to_date }}"

with DAG(
    dag_id=dag_id,
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2011, 11, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["smartmeter", "history", "spark", "gx"],
    params={
        "input": Param(
            str(get_settings().sample_dir),
            type="string",
            title="Input folder or glob",
            description="LCL-layout or Kaggle halfhourly CSV files (plain or .gz), e.g. /data/lcl/LCL-June2015v2_*.csv",
        ),
        "from_date": Param("2012-10-12", type="string", format="date", title="First day (Europe/London)"),
        "to_date": Param("2014-02-28", type="string", format="date", title="Last day (Europe/London)"),
        "households": Param(
            0,
            type="integer",
            minimum=0,
            title="Households",
            description="0 = all households; N = a deterministic sample of N households (same N, same sample).",
        ),
        "stages": Param(
            list(STAGES),
            type="array",
            items={"type": "string", "enum": list(STAGES)},
            title="Stages to run",
            description="Untick a stage to skip it; the others still run in order.",
        ),
        "backtest_train_end": Param(
            "2013-09-30",
            type="string",
            format="date",
            title="Backtest: end of the first training window",
            description="Rolling-origin folds start after this day and end at the last day; then the models are "
            "retrained on the whole range and become the version the daily DAG uses.",
        ),
    },
):
    stage_graph(
        first_day=FIRST,
        last_day=LAST,
        input_path="{{ params.input }}",
        forecast_jobs=[
            ("forecast_backtest", ["backtest", "--train-end", "{{ params.backtest_train_end }}", "--test-end", LAST]),
            ("forecast_train", ["train", "--train-end", LAST]),
        ],
        forecast_days=("{{ macros.ds_add(params.backtest_train_end, 1) }}", LAST),
        forecast_dataset="forecasts_backtest",
        fit_segments=True,
        selectable=True,
        ingest_args=("--households", "{{ params.households }}"),
    )
