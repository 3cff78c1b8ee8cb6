"""The Great Expectations gate between stages, run from our own Airflow task code.

A gate reads the partitions a run wrote (pyarrow, filtered on ``local_date``), validates them with the
dataset's suite from ``expectations/``, keeps the full result as JSON under the state folder and a summary in
MongoDB (``dq_results``), and fails the task with the failed expectations and sample values in the message.
Large reprocessing runs are validated a month of partitions at a time so memory stays bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from spark_jobs.common.settings import get_settings


def _partition_dates(path: Path) -> list[str]:
    return sorted(p.name.split("=", 1)[1] for p in path.glob("local_date=*") if p.is_dir())


def _chunks(dates: list[str]) -> Iterable[list[str]]:
    """Group dates by month, so one validation never holds more than a month of rows."""
    by_month: dict[str, list[str]] = {}
    for d in dates:
        by_month.setdefault(d[:7], []).append(d)
    yield from by_month.values()


def read_partitions(dataset: str, local_dates: list[str] | None, lake_dir: Path | None = None):
    """The rows of ``dataset`` for ``local_dates`` (all rows when None) as a pandas DataFrame.

    Datasets are hive-partitioned by ``local_date``, ``month`` or a version; the days select the matching
    partitions (a month-partitioned dataset gives the months those days fall in)."""
    path = (lake_dir or get_settings().lake_dir) / dataset
    if not path.exists():
        raise FileNotFoundError(f"dataset {dataset!r} has no data at {path}")
    data = ds.dataset(str(path), format="parquet", partitioning="hive", exclude_invalid_files=True)
    names = data.schema.names
    if local_dates is not None and "local_date" in names:
        wanted = [date.fromisoformat(d) for d in local_dates]
        field = data.schema.field("local_date")
        values = wanted if str(field.type).startswith("date") else [d.isoformat() for d in wanted]
        table = data.to_table(filter=ds.field("local_date").isin(values))
    elif local_dates is not None and "month" in names:
        firsts = sorted({date.fromisoformat(d).replace(day=1) for d in local_dates})
        field = data.schema.field("month")
        if pa.types.is_date(field.type):
            values = firsts
        else:  # hive partition values read back as text: "2013-01-01" or "2013-01"
            values = [f.isoformat() for f in firsts] + [f.isoformat()[:7] for f in firsts]
        table = data.to_table(filter=ds.field("month").isin(values))
    else:
        table = data.to_table()
    return table.to_pandas()


def run_gate(
    dataset: str,
    *,
    run_id: str,
    dag_id: str,
    local_dates: list[str] | None = None,
    lake_dir: Path | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Validate ``dataset`` for the run's partitions; raise :class:`GateFailed` when an expectation fails."""
    from expectations.runner import GateFailed, validate_frame

    settings = get_settings()
    lake = lake_dir or settings.lake_dir
    path = lake / dataset
    started = time.monotonic()
    if local_dates is None and path.exists() and any(path.glob("local_date=*")):
        batches = list(_chunks(_partition_dates(path)))
    else:
        batches = [local_dates]
    results = [validate_frame(dataset, read_partitions(dataset, batch, lake)) for batch in batches]
    failed = [f for r in results for f in r.failed]
    summary = {
        "suite": dataset,
        "run_id": run_id,
        "dag_id": dag_id,
        "success": all(r.success for r in results),
        "expectations_evaluated": sum(r.evaluated for r in results),
        "expectations_failed": len(failed),
        "rows_validated": sum(r.rows_validated for r in results),
        "batches": len(results),
        "local_dates": local_dates,
        "failed": failed,
        "validated_at": datetime.now(UTC),
        "duration_s": round(time.monotonic() - started, 3),
    }
    out = settings.state_dir / "dq" / run_id.replace(":", "_").replace("+", "_")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{dataset}.json").write_text(
        json.dumps({"summary": summary, "results": [r.raw for r in results]}, default=str, indent=1)
    )
    summary["result_path"] = str(out / f"{dataset}.json")
    if record:
        from plugins.serving.loader import record_dq_result

        record_dq_result(summary, run_id=run_id, dag_id=dag_id)
    if not summary["success"]:
        raise GateFailed("\n".join(r.message() for r in results if not r.success))
    return {k: v for k, v in summary.items() if k not in ("failed", "validated_at")}
