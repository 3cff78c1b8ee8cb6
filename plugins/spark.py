"""Factory for the SparkSubmitOperator tasks, so every stage is submitted the same way.

Each stage is ``spark_jobs/<module>.py`` submitted in client mode to the standalone master named by the
Airflow connection ``spark_local`` (from ``AIRFLOW_CONN_SPARK_LOCAL``). All stages share the pool
``spark_cluster`` (``settings.spark_pool_slots``, two on the embedded cluster). A stage given ``cores`` takes at
most that many executor cores (``--total-executor-cores``), so the stages after the features can run two at a
time on the 2-core worker instead of one holding every core while its driver works alone.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from spark_jobs.common.settings import get_settings

SPARK_POOL = "spark_cluster"


def submit_conf(settings=None, day_sized: bool = False, python_tasks: bool = False) -> dict[str, str]:
    """The ``--conf`` every stage is submitted with (also used by the benchmarks, which submit the jobs the same
    way outside Airflow); ``day_sized`` stages (the daily DAG's) and ``python_tasks`` stages (the ingest, whose
    tasks are Python functions) run their executors with C1 only."""
    settings = settings or get_settings()
    return {
        "spark.executorEnv.PYTHONPATH": str(settings.repo_root),
        **{key: value for key, value in settings.spark_java_options(day_sized, python_tasks).items() if value},
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        # Executors stay for the whole (short) application; no dynamic allocation on a 2-core worker.
        "spark.dynamicAllocation.enabled": "false",
    }


def spark_job(
    task_id: str,
    module: str,
    args: list[str],
    cores: int | None = None,
    day_sized: bool = False,
    python_tasks: bool = False,
    **kwargs: Any,
) -> SparkSubmitOperator:
    """A stage submitted to the cluster: ``spark_jobs/<module>.py`` with templated ``args``; ``cores`` caps its
    executor cores (None: every core the cluster offers); ``day_sized``, ``python_tasks``: see :func:`submit_conf`."""
    settings = get_settings()
    repo = str(settings.repo_root)
    return SparkSubmitOperator(
        task_id=task_id,
        application=f"{repo}/spark_jobs/{module}.py",
        conn_id=settings.spark_conn_id,
        name=f"smartmeter-{task_id}",
        application_args=args,
        driver_memory=settings.spark_driver_memory,
        executor_memory=settings.spark_executor_memory,
        total_executor_cores=cores,
        conf=submit_conf(settings, day_sized, python_tasks),
        env_vars={"PYTHONPATH": repo},
        pool=SPARK_POOL,
        **kwargs,
    )
