"""Per-file accounting of a run: rows read = clean + quarantined (by reason) + duplicates dropped + not sampled.

Stored twice: a JSON document per run beside the output (``readings_halfhourly/_ingest_runs/<run_id>.json``,
ignored by Parquet readers because of the leading underscore) and the small Parquet dataset
``ingest_accounting`` partitioned by ``run_id`` (one row per source_file), which is loaded into MongoDB later.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from spark_jobs.ingestion.parse import REASONS
from spark_jobs.ingestion.probe import ProbedFile

COUNT_FIELDS = [
    "lines",
    "header_lines",
    "blank_lines",
    "rows_read",
    "rows_clean",
    "rows_written",
    "rows_out_of_range",
    "rows_quarantined",
    "duplicates_exact",
    "duplicates_conflicting",
    "rows_not_sampled",  # valid rows of households outside a --households sample; 0 in a full run
]

INGEST_ACCOUNTING = pa.schema(
    [
        pa.field("source_file", pa.string(), False),
        ("source_path", pa.string()),
        ("layout", pa.string()),
        pa.field("status", pa.string(), False),
        ("error", pa.string()),
        ("size_bytes", pa.int64()),
        *[pa.field(name, pa.int64(), False) for name in COUNT_FIELDS],
        *[pa.field(f"rejected_{r}", pa.int64(), False) for r in REASONS],
        pa.field("balanced", pa.bool_(), False),
        ("started_at", pa.string()),
        ("finished_at", pa.string()),
    ]
)  # + run_id, the partition folder


def file_accounting(files: list[ProbedFile], stats_rows: list, run_id: str) -> list[dict]:
    """One record per input file from the probe results and the (source_file, status, reason) counts."""
    by_file: dict[str, dict] = {}
    for f in files:
        rec = {
            "source_file": f.source_file,
            "source_path": f.path,
            "layout": f.layout.name if f.layout else None,
            "status": f.status,
            "error": f.error,
            "size_bytes": f.size_bytes,
            **{k: 0 for k in COUNT_FIELDS},
            **{f"rejected_{r}": 0 for r in REASONS},
            "run_id": run_id,
        }
        by_file[f.source_file] = rec
    for r in stats_rows:
        rec = by_file[r["source_file"]]
        n, status = r["n"], r["status"]
        rec["lines"] += n
        if status == "header":
            rec["header_lines"] += n
        elif status == "blank":
            rec["blank_lines"] += n
        elif status == "rejected":
            rec[f"rejected_{r['reason']}"] += n
        elif status == "clean":
            rec["rows_written"] += n
        elif status == "out_of_range":
            rec["rows_out_of_range"] += n
        elif status == "duplicate_exact":
            rec["duplicates_exact"] += n
        elif status == "duplicate_conflict":
            rec["duplicates_conflicting"] += n
        elif status == "not_sampled":
            rec["rows_not_sampled"] += n
        else:
            raise ValueError(f"unexpected status {status!r}")
    for rec in by_file.values():
        rec["rows_quarantined"] = sum(rec[f"rejected_{r}"] for r in REASONS)
        rec["rows_clean"] = rec["rows_written"] + rec["rows_out_of_range"]
        rec["rows_read"] = rec["lines"] - rec["header_lines"] - rec["blank_lines"]
        rec["balanced"] = rec["rows_read"] == (
            rec["rows_clean"]
            + rec["rows_quarantined"]
            + rec["duplicates_exact"]
            + rec["duplicates_conflicting"]
            + rec["rows_not_sampled"]
        )
    return list(by_file.values())


# Characters Spark escapes in a partition folder name (ExternalCatalogUtils.escapePathName), so run ids such as
# Airflow's "scheduled__2013-03-11T00:00:00+00:00" give the folder Spark itself would write.
_ESCAPED = set("\"#%'*/:=?\\\x7f{[]^")


def partition_folder(column: str, value: str) -> str:
    return column + "=" + "".join(f"%{ord(c):02X}" if c in _ESCAPED or ord(c) < 0x20 else c for c in value)


def write_accounting(lake: Path, json_dir: Path, report: dict) -> Path:
    """JSON report of the run and its per-file rows into ``ingest_accounting/run_id=<id>/`` (replaces that run's
    folder only); written with Arrow on the driver, a few rows."""
    json_dir.mkdir(parents=True, exist_ok=True)
    path = json_dir / f"{report['run_id']}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    rows = [
        {**rec, "started_at": report["started_at"], "finished_at": report["finished_at"]} for rec in report["files"]
    ]
    if rows:
        part = lake / "ingest_accounting" / partition_folder("run_id", report["run_id"])
        tmp = part.with_name(part.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=INGEST_ACCOUNTING), tmp / "part-00000.parquet")
        shutil.rmtree(part, ignore_errors=True)
        tmp.rename(part)
    return path
