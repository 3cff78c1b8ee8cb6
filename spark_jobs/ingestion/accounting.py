"""Per-file accounting of a run: rows read = clean + quarantined (by reason) + duplicates dropped + not sampled.

Stored twice: a JSON document per run beside the output (``readings_halfhourly/_ingest_runs/<run_id>.json``,
ignored by Parquet readers because of the leading underscore) and the small Parquet dataset
``ingest_accounting`` partitioned by ``run_id`` (one row per source_file), which is loaded into MongoDB later.
"""

from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

from spark_jobs.ingestion.probe import ProbedFile
from spark_jobs.ingestion.transform import REASONS

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

INGEST_ACCOUNTING = StructType(
    [
        StructField("source_file", StringType(), False),
        StructField("source_path", StringType(), True),
        StructField("layout", StringType(), True),
        StructField("status", StringType(), False),
        StructField("error", StringType(), True),
        StructField("size_bytes", LongType(), True),
        *[StructField(name, LongType(), False) for name in COUNT_FIELDS],
        *[StructField(f"rejected_{r}", LongType(), False) for r in REASONS],
        StructField("balanced", BooleanType(), False),
        StructField("started_at", StringType(), True),
        StructField("finished_at", StringType(), True),
        StructField("run_id", StringType(), False),  # partition column, last as Spark writes it
    ]
)


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


def write_accounting(spark: SparkSession, lake: Path, json_dir: Path, report: dict) -> Path:
    """JSON report of the run and its per-file rows into ``ingest_accounting`` (overwrites this run_id only)."""
    json_dir.mkdir(parents=True, exist_ok=True)
    path = json_dir / f"{report['run_id']}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    rows = [
        {**rec, "started_at": report["started_at"], "finished_at": report["finished_at"]} for rec in report["files"]
    ]
    if rows:
        df = spark.createDataFrame([tuple(r[f.name] for f in INGEST_ACCOUNTING) for r in rows], INGEST_ACCOUNTING)
        (
            df.repartition(1)
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy("run_id")
            .parquet(str(lake / "ingest_accounting"))
        )
    return path
