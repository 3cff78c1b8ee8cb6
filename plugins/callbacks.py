"""Run bookkeeping: task callbacks write the ``pipeline_runs`` document of a DAG run in MongoDB.

Each task's callback sets ``tasks.<task_id>`` (state, duration, try number) on the run's document, keyed by
``(dag_id, run_id)``; a failure also sets the run's status and the failing task, so a failed run is visible
in the dashboards even though no later task ran. Callbacks never raise: bookkeeping must not fail a task.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


def _upsert_run(dag_id: str, run_id: str, fields: dict[str, Any]) -> None:
    import pymongo

    from spark_jobs.common.settings import get_settings

    settings = get_settings()
    client = pymongo.MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=3000)
    try:
        on_insert = {"dag_id": dag_id, "run_id": run_id}
        if "status" not in fields:  # a task's success leaves the run's status alone once it is set
            on_insert["status"] = "running"
        client[settings.mongo_db]["pipeline_runs"].update_one(
            {"dag_id": dag_id, "run_id": run_id},
            {"$set": fields, "$setOnInsert": on_insert},
            upsert=True,
        )
    finally:
        client.close()


def _run_fields(context: dict[str, Any]) -> dict[str, Any]:
    dag_run = context.get("dag_run")
    fields: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    for name in ("data_interval_start", "data_interval_end", "logical_date", "start_date"):
        value = getattr(dag_run, name, None)
        if value is not None:
            fields["started_at" if name == "start_date" else name] = value
    fields["run_type"] = str(getattr(dag_run, "run_type", ""))
    return fields


def _task_record(context: dict[str, Any], state: str) -> dict[str, Any]:
    ti = context["ti"]
    start = getattr(ti, "start_date", None)
    now = datetime.now(UTC)
    return {
        "state": state,
        "try_number": getattr(ti, "try_number", None),
        "started_at": start,
        "ended_at": now,
        "duration_s": round((now - start).total_seconds(), 3) if start else None,
    }


def record_task_success(context: dict[str, Any]) -> None:
    try:
        ti = context["ti"]
        fields = _run_fields(context) | {f"tasks.{ti.task_id}": _task_record(context, "success")}
        _upsert_run(ti.dag_id, ti.run_id, fields)
    except Exception:  # noqa: BLE001 - bookkeeping must not fail the task
        log.exception("could not record task success in pipeline_runs")


def record_task_failure(context: dict[str, Any]) -> None:
    try:
        ti = context["ti"]
        exc = context.get("exception")
        fields = _run_fields(context) | {
            f"tasks.{ti.task_id}": _task_record(context, "failed") | {"error": str(exc)[:2000] if exc else None},
            "status": "failed",
            "failed_task": ti.task_id,
            "ended_at": datetime.now(UTC),
        }
        _upsert_run(ti.dag_id, ti.run_id, fields)
    except Exception:  # noqa: BLE001
        log.exception("could not record task failure in pipeline_runs")


async def deadline_missed(context: dict[str, Any], **kwargs: Any) -> None:
    """Runs in the triggerer when a daily run is still not done at its deadline: record it for the dashboards."""
    dag_run = context.get("dag_run") or {}
    dag_id = getattr(dag_run, "dag_id", None) or (dag_run.get("dag_id") if isinstance(dag_run, dict) else None)
    run_id = getattr(dag_run, "run_id", None) or (dag_run.get("run_id") if isinstance(dag_run, dict) else None)
    log.warning("deadline missed: dag_id=%s run_id=%s %s", dag_id, run_id, kwargs)
    if dag_id and run_id:
        try:
            _upsert_run(dag_id, run_id, {"deadline_missed_at": datetime.now(UTC), "deadline": kwargs})
        except Exception:  # noqa: BLE001
            log.exception("could not record the missed deadline")
