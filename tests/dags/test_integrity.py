"""Every DAG imports without errors, is documented and tagged, retries, and does no work at import time."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_there_are_dags():
    assert len(DAG_FILES) >= 4, DAG_FILES


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, dagbag.import_errors
    assert {p.stem for p in DAG_FILES} <= set(dagbag.dag_ids)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_dag_conventions(dagbag, path):
    dag = dagbag.get_dag(path.stem)
    assert dag is not None, f"{path.name} must define a DAG whose dag_id is the file stem"
    assert dag.doc_md and len(dag.doc_md) > 80, "doc_md explains what the DAG does"
    assert dag.tags and "smartmeter" in dag.tags
    for t in dag.tasks:
        assert t.owner == "smartmeter", t.task_id
        assert t.retries >= 2, f"{t.task_id} retries={t.retries}"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_no_network_or_slow_work_at_import(monkeypatch, path):
    """Importing a DAG file must not open sockets (no DB or network work) and must be quick."""
    import importlib.util

    def refuse(*args, **kwargs):
        raise AssertionError(f"{path.name} opened a network connection at import time")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    spec = importlib.util.spec_from_file_location(f"dag_import_check_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    started = time.monotonic()
    spec.loader.exec_module(module)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("dag_id", "run_after", "first", "last"),
    [
        # a London day (BST: 23:00 UTC the day before) and a day of the spring clock change (23 hours)
        ("smartmeter_daily", "2013-07-02T00:00:00+01:00", "2013-07-01", "2013-07-01"),
        ("smartmeter_daily", "2013-04-01T00:00:00+01:00", "2013-03-31", "2013-03-31"),
        ("smartmeter_retrain", "2013-07-07T02:00:00+01:00", "2013-06-30", "2013-07-06"),
    ],
)
def test_scheduled_runs_cover_whole_london_days(dagbag, dag_id, run_after, first, last):
    """A scheduled run's data interval is whole Europe/London days (not Airflow 3's empty cron-trigger interval)."""
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(dagbag.get_dag(dag_id).timetable)  # what the scheduler runs
    interval = timetable.infer_manual_data_interval(run_after=pendulum.parse(run_after))
    start = interval.start.in_timezone("Europe/London")
    end = interval.end.in_timezone("Europe/London")
    # the last day processed: the interval's last day (daily); the last complete day before 02:00 Sunday (retrain)
    last_day = end.subtract(seconds=1) if dag_id == "smartmeter_daily" else end.subtract(days=1)
    assert (start.to_date_string(), last_day.to_date_string()) == (first, last)
    assert start.hour == end.hour == (0 if dag_id == "smartmeter_daily" else 2)


def test_dashboards_follow_every_run_that_loads_mongodb(dagbag):
    """The dashboards DAG is scheduled on the serving asset, and every DAG that loads MongoDB updates it only in its
    last task (after the load), so views are never rebuilt from a half-loaded store."""
    from plugins.pipeline import SERVING_ASSET

    dashboards = dagbag.get_dag("smartmeter_dashboards")
    assert [a.name for a in dashboards.timetable.asset_condition.objects] == [SERVING_ASSET.name]
    # the chart-data cache is refreshed only from the rebuilt views
    assert dashboards.get_task("warm_dashboard_cache").upstream_task_ids == {"refresh_dashboards"}
    for dag_id in ("smartmeter_daily", "smartmeter_history", "smartmeter_retrain"):
        dag = dagbag.get_dag(dag_id)
        producers = [t for t in dag.tasks if SERVING_ASSET.name in {getattr(o, "name", None) for o in t.outlets}]
        assert [t.task_id for t in producers] == ["finish_run"], dag_id
        assert "load_serving" in producers[0].upstream_task_ids, dag_id
        assert "refresh_dashboards" not in dag.task_ids, "views are rebuilt outside the pipeline run"


# the stages a task with a selection hook serves, where its id is not the stage's name
HOOKED_STAGES = {
    "load_serving": ("load",),
    "forecast_backtest": ("forecast",),
    "analyses": ("anomalies", "tariffs", "neighbours"),  # the daily DAG's three analyses in one application
    "gate_anomalies": ("anomalies",),
    "gate_tariff_comparison_monthly": ("tariffs",),
}
ANALYSES = {"smartmeter_daily": ["analyses"], "smartmeter_history": ["neighbours", "anomalies", "tariffs"]}


@pytest.mark.parametrize("dag_id", ["smartmeter_daily", "smartmeter_history"])
def test_each_stage_skips_itself_unless_the_run_selects_it(dagbag, dag_id):
    """The ``stages`` param is honoured by each stage's first task (no guard task per stage): it skips when the
    stage is not listed, runs after a skipped upstream (``none_failed``), and its gate follows it. In the daily
    DAG the analyses application runs when any of its stages is selected, and each of its gates only when its
    own stage is."""
    from airflow.sdk.exceptions import AirflowSkipException

    from plugins.pipeline import STAGES

    dag = dagbag.get_dag(dag_id)
    entries = {t.task_id: t for t in dag.tasks if t._pre_execute_hook is not None}
    assert {"ingest", "aggregate", "features", *ANALYSES[dag_id], "load_serving"} <= set(entries)
    for task_id, task in entries.items():
        stages = HOOKED_STAGES.get(task_id, (task_id,))
        assert set(stages) <= set(STAGES), task_id
        is_gate = task_id.startswith("gate_")
        assert task.trigger_rule == ("all_success" if is_gate else "none_failed"), task_id
        for stage in stages:
            task._pre_execute_hook({"params": {"stages": [stage]}})  # selected: no exception
        with pytest.raises(AirflowSkipException, match=stages[0]):
            task._pre_execute_hook({"params": {"stages": [s for s in STAGES if s not in stages]}})
        gates = [d for d in task.downstream_task_ids if d.startswith("gate_")]
        for gate_id in gates:
            assert dag.get_task(gate_id).trigger_rule == "all_success", f"{gate_id} must skip with {task_id}"
    if dag_id == "smartmeter_daily":
        assert {"gate_anomalies", "gate_tariff_comparison_monthly"} <= set(entries)


def test_daily_analyses_run_as_one_application_of_the_selected_jobs(dagbag):
    """The daily DAG submits spark_jobs/analyses.py with each job's own arguments and the run's selection."""
    from spark_jobs.analyses import parse_args

    task = dagbag.get_dag("smartmeter_daily").get_task("analyses")
    assert task.application.endswith("spark_jobs/analyses.py")
    args = list(task.application_args)
    assert args[:2] == ["--only", "{{ params.stages | join(',') }}"]
    only, jobs = parse_args(["--only", "anomalies,neighbours", *args[2:]])
    assert [name for name, _ in jobs] == ["anomalies", "tariffs", "neighbours"] and only == {"anomalies", "neighbours"}
    assert all("--from-date" in job_args and "--to-date" in job_args for _, job_args in jobs)
    assert dict(jobs)["anomalies"][-2:] == ["--detectors", "robust"]
    assert {a.name for a in task.outlets} >= {"anomalies", "tariff_comparison_monthly", "neighbour_comparison_monthly"}


def test_daily_stages_are_submitted_as_short_applications(dagbag):
    """The daily DAG's executors run with C1 only (a day's stage is over before C2 pays off); the history DAG's
    keep the full JIT, except the ingest's, whose tasks are Python functions (its executor JVM only passes them
    their closures and results)."""
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from spark_jobs.common.settings import get_settings

    c1 = get_settings().spark_day_executor_java_options
    for dag_id, expected in (("smartmeter_daily", True), ("smartmeter_history", False)):
        stages = [t for t in dagbag.get_dag(dag_id).tasks if isinstance(t, SparkSubmitOperator)]
        assert len(stages) >= 5, dag_id  # daily: ingest, aggregate, features, forecast, analyses
        for t in stages:
            want = expected or t.task_id == "ingest"
            assert (c1 in t.conf.get("spark.executor.extraJavaOptions", "")) is want, (dag_id, t.task_id)


@pytest.mark.parametrize("dag_id", ["smartmeter_daily", "smartmeter_history"])
def test_each_stage_waits_for_the_gates_of_what_it_reads(dagbag, dag_id):
    """Only the forecast reads the features; anomalies, tariffs and neighbours read the aggregate outputs, so they
    start once those passed their gate, side by side with the features, and never before."""
    dag = dagbag.get_dag(dag_id)
    forecast = "forecast" if dag_id == "smartmeter_daily" else "forecast_backtest"
    assert "gate_household_daily_features" in dag.get_task(forecast).upstream_task_ids
    for task_id in ANALYSES[dag_id]:
        upstream = dag.get_task(task_id).get_flat_relative_ids(upstream=True)
        assert "gate_aggregate" in upstream and "features" not in upstream, (task_id, upstream)


@pytest.mark.parametrize("dag_id", ["smartmeter_daily", "smartmeter_history"])
def test_a_free_cluster_slot_goes_to_the_chain_first_then_the_longest_side_stage(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    forecast = "forecast" if dag_id == "smartmeter_daily" else "forecast_backtest"
    """Absolute weights (the default sums the downstream tasks' weights, which ranks by how much follows a stage,
    not by how long it takes)."""
    tasks = {t: dag.get_task(t) for t in ("features", forecast, *ANALYSES[dag_id])}
    assert {str(t.weight_rule) for t in tasks.values()} == {"absolute"}, {k: t.weight_rule for k, t in tasks.items()}
    weight = {name: t.priority_weight for name, t in tasks.items()}
    side = [weight[t] for t in ANALYSES[dag_id]]  # history: neighbours, anomalies, tariffs: longest first
    assert weight["features"] == weight[forecast] > side[0] and side == sorted(side, reverse=True), weight


def test_every_gate_names_datasets_that_have_a_suite(dagbag):
    """A gate takes a list of datasets; a bare name would be validated letter by letter."""
    suites = {p.stem for p in (Path(__file__).resolve().parents[2] / "expectations").glob("*.py")}
    gates = [(dag_id, t) for dag_id, dag in dagbag.dags.items() for t in dag.tasks if t.task_id.startswith("gate_")]
    assert len(gates) >= 10
    for dag_id, task in gates:
        datasets = task.op_args[0]
        assert isinstance(datasets, list) and datasets and set(datasets) <= suites, (dag_id, task.task_id, datasets)


def test_every_pool_a_task_uses_is_created_by_make_and_by_the_compose_init(dagbag):
    """A task in a pool that does not exist is never scheduled; both set-ups create every pool the DAGs use."""
    repo = DAGS_DIR.parent
    setups = {f: (repo / f).read_text() for f in ("Makefile", "docker/airflow/airflow-init.sh")}
    pools = {t.pool for dag in dagbag.dags.values() for t in dag.tasks} - {"default_pool"}
    assert {"spark_cluster", "serving_store"} <= pools, pools
    for name, text in setups.items():
        missing = [p for p in pools if f"airflow pools set {p} " not in text]
        assert not missing, f"{name} does not create the pools {missing}"
    loads = [t for dag in dagbag.dags.values() for t in dag.tasks if t.task_id == "load_serving"]
    assert loads and {t.pool for t in loads} == {"serving_store"}
