"""The pipeline's stage graph and its Airflow-side tasks, shared by the daily and the history DAGs.

DAG files stay wiring only: they pick the dates and the input, and call :func:`stage_graph`. Every Spark stage
overwrites exactly the ``local_date`` partitions of ``[from_date, to_date]``, so a rerun or a backfill of a day
gives the same result; the gates validate those partitions; the load replaces the same slice in MongoDB.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, CronDataIntervalTimetable, PokeReturnValue, chain, get_current_context, task

from plugins.callbacks import record_task_failure, record_task_success
from plugins.spark import spark_job as submit_stage
from spark_jobs.common.settings import get_settings

log = logging.getLogger(__name__)

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
# The last complete London day before the run's interval end (the weekly retrain trains up to it).
DAY_BEFORE_INTERVAL_END = (
    "{{ (data_interval_end.in_timezone('Europe/London') - macros.timedelta(days=1)).strftime('%Y-%m-%d') }}"
)


def london_intervals(cron: str) -> CronDataIntervalTimetable:
    """Data intervals between consecutive Europe/London times of ``cron``. Airflow 3's plain cron schedule is a
    trigger timetable whose runs have an empty interval (start = end); the pipeline processes intervals, so the
    DAGs say so explicitly."""
    return CronDataIntervalTimetable(cron, timezone="Europe/London")


def daily_timetable() -> CronDataIntervalTimetable:
    """Midnight-to-midnight London days."""
    return london_intervals("0 0 * * *")


STAGES = ("ingest", "aggregate", "features", "segments", "forecast", "anomalies", "tariffs", "neighbours", "load")


def dataset_asset(name: str) -> Asset:
    """An Airflow asset per dataset, so the UI shows lineage between the DAGs. The URI names the dataset, not
    its folder: the lake may move (tests, a cluster volume) without the assets changing identity."""
    return Asset(name=name, uri=f"smartmeter://lake/{name}", group="smartmeter")


def days_between(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start:
        raise ValueError(f"date range is empty: {first} .. {last}")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def months_between(first: str, last: str) -> list[str]:
    return sorted({d[:7] for d in days_between(first, last)})


@task
def gate(datasets: list[str], first_day: str, last_day: str) -> dict[str, dict[str, Any]]:
    """GX gates on the slices a stage wrote, one suite per dataset, all in one task (a stage writing several
    datasets pays one task start, not one per dataset). Every suite runs and is recorded even when an earlier
    one fails. A failed expectation is data, not flakiness: the task fails at once (no retry); retries remain for
    transient errors such as MongoDB being unreachable."""
    from airflow.sdk.exceptions import AirflowFailException

    from expectations.runner import GateFailed
    from plugins.gates import run_gate

    ctx = get_current_context()
    summaries, failures = {}, []
    for dataset in datasets:
        try:
            summaries[dataset] = run_gate(
                dataset, run_id=ctx["run_id"], dag_id=ctx["dag"].dag_id, local_dates=days_between(first_day, last_day)
            )
        except GateFailed as exc:
            failures.append(str(exc))
    if failures:
        raise AirflowFailException("\n".join(failures))
    return summaries


SERVING_POOL = "serving_store"
"""One slot: loads into MongoDB run one at a time across all DAGs, since two loads of the same slice would race
on its marker, and a compaction swaps the whole collection."""


@task(pool=SERVING_POOL)
def load_serving(
    datasets: list[str],
    first_day: str,
    last_day: str,
    forecast_dataset: str = "forecasts",
    forecast_first_day: str | None = None,
    forecast_last_day: str | None = None,
) -> dict[str, Any]:
    """Idempotent load of the slice into MongoDB (the dashboards' views follow in ``smartmeter_dashboards``).

    The forecast dataset is loaded over its own target days (the daily run forecasts the day after its
    interval), the others over the run's days."""
    from plugins.serving.loader import ensure_collections, load_dataset, load_households, load_rejected_summary

    ctx = get_current_context()
    run_id = ctx["run_id"]
    reshaped = ensure_collections()["reshaped"]
    counts: dict[str, Any] = {"households": load_households(run_id=run_id)}
    months = months_between(first_day, last_day)
    lake, workers = get_settings().lake_dir, get_settings().mongo_load_workers
    for name in reshaped:  # emptied because its documents changed shape: reload all of it from the lake
        if (lake / name).exists():
            counts[f"{name}_reshaped"] = load_dataset(name, run_id=run_id, workers=workers)
    for name in datasets:
        if not (lake / name).exists():  # e.g. segments before the first retrain, or a stage not selected
            counts[name] = {"skipped": f"no dataset at {lake / name}"}
            continue
        if name.endswith("_monthly"):
            counts[name] = load_dataset(name, months=months, run_id=run_id, workers=workers)
        elif name in ("forecast_metrics", "segments", "segment_profiles", "ingest_accounting"):
            counts[name] = load_dataset(name, run_id=run_id, workers=workers)
        else:
            own_days = name == forecast_dataset and forecast_first_day and forecast_last_day
            first, last = (forecast_first_day, forecast_last_day) if own_days else (first_day, last_day)
            counts[name] = load_dataset(name, local_dates=days_between(first, last), run_id=run_id, workers=workers)
    if (lake / "readings_rejected").exists():
        counts["readings_rejected_summary"] = load_rejected_summary(run_id=run_id)
    return counts


SERVING_ASSET = Asset(name="serving_store", uri="smartmeter://serving/mongodb", group="smartmeter")
"""Updated by every run that loaded MongoDB; the dashboards DAG is scheduled on it."""


@task(trigger_rule="none_failed", outlets=[SERVING_ASSET])
def finish_run(gate_ids: list[str]) -> dict[str, Any]:
    """Marks the run successful in ``pipeline_runs`` with the row counts each gate validated and the load counts
    (failures are recorded by the task callbacks, since no task after a failure runs)."""
    from datetime import UTC, datetime

    from plugins.callbacks import _upsert_run

    ctx = get_current_context()
    ti = ctx["ti"]
    rows = {}
    for gate_id in gate_ids:
        for dataset, summary in (ti.xcom_pull(task_ids=gate_id) or {}).items():
            rows[dataset] = summary.get("rows_validated")
    loaded = ti.xcom_pull(task_ids="load_serving") or {}
    loads = {name: c for name, c in loaded.items() if isinstance(c, dict) and "read" in c}
    docs = {name: c["read"] for name, c in loads.items()}
    # dataset rows behind the documents (more than the documents where a collection is bucketed: forecasts)
    served_rows = {name: c.get("rows", c["read"]) for name, c in loads.items()}
    dag_run = ctx["dag_run"]
    started = getattr(dag_run, "start_date", None)
    ended = datetime.now(UTC)
    fields = {
        "status": "success",
        "ended_at": ended,
        "duration_s": round((ended - started).total_seconds(), 1) if started else None,
        "rows_validated": rows,
        "documents_loaded": docs,
        "rows_loaded": served_rows,
    }
    _upsert_run(ti.dag_id, ti.run_id, fields)
    return fields | {"ended_at": ended.isoformat()}


@task
def refresh_dashboards() -> dict[str, int]:
    """Rebuild the Superset dashboards' ``dash_*`` collections from the lake and MongoDB."""
    from plugins.serving.dashboard_views import build_dashboard_views
    from plugins.serving.loader import get_database

    return build_dashboard_views(get_database(), lake_dir=get_settings().lake_dir)


@task
def warm_dashboard_cache() -> dict:
    """Refresh Superset's chart-data cache with the rebuilt views (plugins/serving/superset_cache.py).

    Skipped, with the reason in the log and the task's result, when no Superset is configured or running, or it
    has not recorded its dashboards' requests yet: the dashboards then query the store on their first load.
    A request Superset rejects fails the task (a dashboard would show that error too).
    """
    import os

    from plugins.serving.superset_cache import SupersetUnavailable
    from plugins.serving.superset_cache import warm_dashboard_cache as warm

    settings = get_settings()
    recorded = settings.superset_home / "chart_requests.json"
    if not settings.superset_url:
        return {"skipped": "SMARTMETER_SUPERSET_URL is empty"}
    if not recorded.is_file():
        return {"skipped": f"{recorded} not recorded yet (superset/start.sh records it)"}
    try:
        report = warm(
            settings.superset_url,
            recorded,
            username="admin",  # the user superset/admin_user.py keeps in step with SUPERSET_ADMIN_PASSWORD
            password=os.environ.get("SUPERSET_ADMIN_PASSWORD", ""),
        )
    except SupersetUnavailable as exc:
        log.warning("dashboard cache not refreshed: %s", exc)
        return {"skipped": str(exc)}
    if report["failed"]:
        raise RuntimeError(f"Superset rejected {len(report['failed'])} dashboard requests: {report['failed'][:3]}")
    return report


@task.sensor(poke_interval=60, timeout=timedelta(hours=20).total_seconds(), mode="reschedule")
def wait_for_landing(folder: str) -> PokeReturnValue:
    """The day's files arrive in ``<landing>/<YYYY-MM-DD>/``; wait for at least one CSV (plain or gzip)."""
    files = sorted(str(p) for p in Path(folder).glob("*.csv*")) if Path(folder).is_dir() else []
    return PokeReturnValue(is_done=bool(files), xcom_value={"folder": folder, "files": len(files)})


def skip_unless_selected(*stages: str):
    """A ``pre_execute`` hook that skips the task unless the run's ``stages`` param names one of ``stages``
    (history DAG form, daily backfills). The stage's gate then skips too (its upstream did not succeed), and the
    next stage, whose trigger rule is ``none_failed``, runs on what is already in the lake. Checked inside the
    stage's own task rather than by a guard task before it: a guard was one more task start per stage on the
    critical path."""

    def check(context) -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        selected = context["params"].get("stages", STAGES)
        if not set(stages) & set(selected):
            names = stages[0] if len(stages) == 1 else stages
            raise AirflowSkipException(f"stage {names!r} is not in this run's stages {selected}")

    return check


def stage_graph(
    *,
    first_day: str,
    last_day: str,
    input_path: str,
    forecast_jobs: list[tuple[str, list[str]]],
    forecast_days: tuple[str, str],
    forecast_dataset: str = "forecasts",
    fit_segments: bool = False,
    selectable: bool = False,
    ingest_args: tuple[str, ...] = (),
    anomaly_detectors: str = "robust,kmeans",
    day_sized: bool = False,
):
    """ingest → gate → aggregate → gate → (features → gate → forecast) / anomalies / tariffs / neighbours →
    gates → load → finish.

    Each stage waits for the gates of what it reads and no more: anomalies, tariffs and neighbours read the
    aggregate outputs, so they share the two cluster slots with the features and forecast instead of queueing
    behind them (in the daily DAG the features then take one core like the others, as a day is start-up and
    driver work more than executor work).

    ``forecast_jobs`` are (task_id, args) of ``spark_jobs/forecast.py`` run in order (the daily DAG predicts; the
    history DAG backtests, then trains); ``forecast_dataset`` is what they write over ``forecast_days`` (the
    history DAG's backtest writes ``forecasts_backtest``), gated and loaded in place of ``forecasts``.
    ``anomaly_detectors`` are the anomaly job's ``--detectors`` (the daily DAG runs only the robust one; the
    K-means baseline, the earlier method kept for comparison, refits on every household-day of its window and was
    most of a 5,566-household daily run's anomaly stage). ``fit_segments`` refits the household segments on the
    range before the neighbour comparison (the daily DAG uses the weekly refit). With ``selectable`` each stage's
    first task skips itself unless the run's ``stages`` param names it (:func:`skip_unless_selected`) and runs
    whatever happened before it (``none_failed``), so skipping one stage skips only that stage and its gate.
    ``day_sized`` (the daily DAG) submits the stages as short applications (:func:`plugins.spark.submit_conf`)
    and runs anomalies, tariffs and neighbours as one application (``spark_jobs/analyses.py``, task
    ``analyses``): on a day's data most of each one's time was its JVMs' warm-up, paid once that way.
    """
    window = ["--from-date", first_day, "--to-date", last_day]
    branch_cores = get_settings().spark_branch_cores

    def spark_job(task_id: str, *args, **kwargs):
        """A stage in the ``spark_cluster`` pool, which hands a free slot to the waiting stage of highest
        :data:`STAGE_PRIORITY`."""
        weight = STAGE_PRIORITY.get(task_id.split("_")[0], 1)  # forecast_backtest, forecast_train: forecast
        return submit_stage(
            task_id, *args, day_sized=day_sized, priority_weight=weight, weight_rule="absolute", **kwargs
        )

    def selected(*stages: str) -> dict[str, Any]:
        """Operator arguments of a stage's first task: the stage-selection hook when stages are selectable."""
        return {"pre_execute": skip_unless_selected(*stages), "trigger_rule": "none_failed"} if selectable else {}

    def gate_of(dataset: str, days: tuple[str, str] = (first_day, last_day), **overrides):
        return gate.override(task_id=f"gate_{dataset}", **overrides)([dataset], *days)

    ingest = spark_job(
        "ingest",
        "ingest",
        ["--input", input_path, *window, "--run-id", "{{ run_id }}", *ingest_args],
        outlets=[dataset_asset("readings_halfhourly"), dataset_asset("ingest_accounting")],
        python_tasks=True,
        **selected("ingest"),
    )
    g_readings = gate_of("readings_halfhourly")
    aggregated = ("household_daily", "household_daily_halfhours", "group_halfhourly")
    aggregate = spark_job(
        "aggregate", "aggregate", window, outlets=[dataset_asset(d) for d in aggregated], **selected("aggregate")
    )
    g_aggregate = gate.override(task_id="gate_aggregate")(list(aggregated), first_day, last_day)
    features = spark_job(
        "features",
        "features",
        window,
        cores=branch_cores if day_sized else None,
        outlets=[dataset_asset("household_daily_features")],
        **selected("features"),
    )
    g_features = gate_of("household_daily_features")
    forecasts = [
        spark_job(
            task_id,
            "forecast",
            args,
            cores=branch_cores,
            outlets=[dataset_asset(forecast_dataset), dataset_asset("forecast_metrics")],
            **(selected("forecast") if i == 0 else {}),
        )
        for i, (task_id, args) in enumerate(forecast_jobs)
    ]
    g_forecasts = gate_of(forecast_dataset, days=forecast_days)
    analysis_args = {
        "anomalies": [*window, "--detectors", anomaly_detectors],
        "tariffs": window,
        "neighbours": window,
    }
    analysis_outputs = {
        "anomalies": "anomalies",
        "tariffs": "tariff_comparison_monthly",
        "neighbours": "neighbour_comparison_monthly",
    }
    if day_sized:
        only = ["--only", "{{ params.stages | join(',') }}"] if selectable else []
        jobs = [tok for job, args in analysis_args.items() for tok in ("+", job, *args)][1:]
        analyses = spark_job(
            "analyses",
            "analyses",
            [*only, *jobs],
            cores=branch_cores,
            outlets=[dataset_asset(d) for d in analysis_outputs.values()],
            **selected(*analysis_args),
        )
        anomalies = tariffs = neighbours = analyses
        # a stage left out of the run's selection ran nothing inside the application: its gate skips itself
        gate_hooks = {job: {"pre_execute": skip_unless_selected(job)} if selectable else {} for job in analysis_args}
    else:
        anomalies, tariffs, neighbours = (
            spark_job(
                job,
                job,
                args,
                cores=branch_cores,
                outlets=[dataset_asset(analysis_outputs[job])],
                **selected(job),
            )
            for job, args in analysis_args.items()
        )
        gate_hooks = dict.fromkeys(analysis_args, {})
    g_anomalies = gate_of("anomalies", **gate_hooks["anomalies"])
    g_tariffs = gate_of("tariff_comparison_monthly", **gate_hooks["tariffs"])
    serving = [forecast_dataset if name == "forecasts" else name for name in SERVING_DATASETS]
    load = load_serving.override(**selected("load"))(serving, first_day, last_day, forecast_dataset, *forecast_days)
    gates = [g_readings, g_aggregate, g_features, g_forecasts, g_anomalies, g_tariffs]

    chain(ingest, g_readings, aggregate, g_aggregate, features, g_features)
    chain(g_features, forecasts[0])
    chain(*forecasts, g_forecasts)
    # only the forecast reads the features: the others start once the aggregate outputs passed their gate
    chain(g_aggregate, anomalies, g_anomalies)
    chain(g_aggregate, tariffs, g_tariffs)  # the same task as anomalies in the daily DAG: edges are idempotent
    g_aggregate >> neighbours
    if fit_segments:
        segments = spark_job(
            "segments",
            "segments",
            ["--train-from", first_day, "--train-to", last_day],
            cores=branch_cores,
            outlets=[dataset_asset("segments"), dataset_asset("segment_profiles")],
            **selected("segments"),
        )
        g_segments = gate_of("segments")
        chain(g_aggregate, segments, g_segments, neighbours)
        gates.append(g_segments)
    for upstream in (g_forecasts, g_anomalies, g_tariffs, neighbours):
        upstream >> load
    load >> finish_run.override(task_id="finish_run")([g.operator.task_id for g in gates])
    return ingest, load


STAGE_PRIORITY = {
    # the chain each run waits on: ingest -> aggregate -> features -> forecast (the longest path)
    "ingest": 10,
    "aggregate": 10,
    "features": 10,
    "forecast": 10,
    # the stages beside it, longest first, so the shortest are the ones left to fill the last gaps
    "segments": 4,
    "analyses": 3,  # the daily DAG's anomalies + tariffs + neighbours in one application
    "neighbours": 3,
    "anomalies": 2,
    "tariffs": 1,
}
"""Pool priority of each Spark stage (absolute weights): a freed slot goes to the waiting stage of highest weight.
The forecast only becomes ready a gate after the features, by when a stage beside the chain has usually taken the
features' slot; the weights give the forecast the next free slot (without them both went to the stages beside it
and the forecast waited 25 s of a daily run), and start the longest of those first."""

SERVING_DATASETS = [
    "household_daily",
    "group_halfhourly",
    "forecasts",
    "forecast_metrics",
    "anomalies",
    "segments",
    "segment_profiles",
    "tariff_comparison_monthly",
    "neighbour_comparison_monthly",
    "ingest_accounting",
]
