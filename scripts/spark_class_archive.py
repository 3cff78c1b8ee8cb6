"""A small Spark application touching what the stages use, run once by ``scripts/stack.sh start spark``, that
leaves class-data-sharing archives of its driver and executor JVMs behind:

    spark_class_archive.py DRIVER_ARCHIVE EXECUTOR_ARCHIVE    (JVMs started with -XX:+RecordDynamicDumpInfo)

Every stage is a new application: two fresh JVMs that load, verify and link ~15k classes before doing any work.
With the archives mapped (``-XX:SharedArchiveFile``, added by plugins/spark.py when they exist) a trivial
application took 6.5 s and 10.4 CPU-s here instead of 10.5-11 s and 17 CPU-s. The classes archived are the ones
this run loads, hence text and Parquet I/O, a shuffle, a window, a join and Arrow batches to and from pandas.

Each JVM is dumped while it runs, by ``jcmd <pid> VM.cds dynamic_dump`` from the Python process it serves (the
executor's from a last task). Dumping at exit (``-XX:ArchiveClassesAtExit``) raced the worker, which kills an
executor once its application ends: on a slow machine the executor's archive was never written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F


def _jvm_pid() -> int:
    """The JVM this Python process serves: its nearest ``java`` ancestor (the driver's is spark-submit's JVM, an
    executor's Python worker descends from the executor JVM through PySpark's worker daemon)."""
    pid = os.getpid()
    while pid > 1:
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent's pid
        if Path(f"/proc/{pid}/exe").resolve().name == "java":
            return pid
    raise RuntimeError(f"process {os.getpid()} has no java ancestor")


def dump_classes(path: str) -> str:
    """Writes the calling JVM's class archive to ``path`` (raises when jcmd fails or writes nothing)."""
    pid = _jvm_pid()
    jcmd = Path(f"/proc/{pid}/exe").resolve().with_name("jcmd")
    run = subprocess.run(
        [str(jcmd), str(pid), "VM.cds", "dynamic_dump", path], capture_output=True, text=True, timeout=600
    )
    if run.returncode != 0 or not Path(path).is_file():
        raise RuntimeError(f"jcmd {pid} VM.cds dynamic_dump {path} failed: {run.stdout}{run.stderr}")
    return path


def main(argv: list[str] | None = None) -> int:
    driver_archive, executor_archive = argv if argv is not None else sys.argv[1:]
    spark = (
        SparkSession.builder.appName("smartmeter-class-archive")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    with tempfile.TemporaryDirectory(prefix="class-archive-") as tmp:
        text = Path(tmp) / "in.csv"
        text.write_text(
            "".join(
                f"MAC{i % 7:06d},Std,2013-01-0{1 + i % 3} 00:{30 * (i % 2):02d}:00.0000000, 0.{i}\n" for i in range(200)
            )
        )
        fields = F.split(F.col("value"), ",")
        rows = spark.read.text(str(text)).select(
            fields[0].alias("household_id"),
            F.to_timestamp(F.substring(fields[2], 1, 19), "yyyy-MM-dd HH:mm:ss").alias("ts"),
            F.trim(fields[3]).cast("double").alias("energy_kwh"),
            F.input_file_name().alias("source_file"),
        )
        rows = rows.withColumn("local_date", F.to_date("ts"))
        rank = F.row_number().over(Window.partitionBy("household_id", "ts").orderBy(F.desc("energy_kwh")))
        clean = rows.withColumn("_r", rank).where("_r = 1").drop("_r")
        out = str(Path(tmp) / "lake")
        clean.write.mode("overwrite").partitionBy("local_date").parquet(out)
        daily = spark.read.parquet(out).groupBy("household_id", "local_date").agg(F.sum("energy_kwh").alias("kwh"))
        joined = daily.join(F.broadcast(daily.groupBy("household_id").agg(F.avg("kwh").alias("mean"))), "household_id")

        def centre(pdf: pd.DataFrame) -> pd.DataFrame:
            return pdf.assign(kwh=pdf["kwh"] - pdf["mean"])[["household_id", "local_date", "kwh"]]

        result = joined.groupBy("household_id").applyInPandas(
            centre, "household_id string, local_date date, kwh double"
        )
        print(len(result.toPandas()), "rows")
    # the executor's archive from a task on it, then the driver's; both JVMs are still up
    spark.sparkContext.parallelize([executor_archive], 1).map(dump_classes).collect()
    dump_classes(driver_archive)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
