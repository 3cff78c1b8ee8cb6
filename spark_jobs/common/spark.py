"""SparkSession construction shared by every job, so sessions are configured the same everywhere."""

from __future__ import annotations

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from spark_jobs.common.settings import get_settings


def get_spark(app_name: str) -> SparkSession:
    """Session for a job. The master comes from spark-submit (``--master``); when a job is run as a plain
    Python script (tests, notebooks) it falls back to ``local[2]``. A name given by spark-submit (``--name``,
    ``smartmeter-<task_id>`` from the DAGs) wins over ``app_name``, so the Spark UI names the Airflow task."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings = get_settings()
    SparkContext._ensure_initialized()  # the JVM (spark-submit's, if it started us) holds the submitted conf
    submitted = SparkConf().get("spark.app.name", None)
    if submitted == "pyspark-shell":  # the name PySpark gives the JVM it launches itself: not submitted
        submitted = None
    spark = (
        SparkSession.builder.appName(submitted or app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .config("spark.ui.showConsoleProgress", "false")
        # List partition folders on the driver: above the default of 32 paths Spark runs a distributed listing
        # job (~2.5 s per read of a day-partitioned dataset here), which only pays off on remote object stores.
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "2048")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark
