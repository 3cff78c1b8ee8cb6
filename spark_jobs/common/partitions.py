"""Writing partitioned datasets the same way in every job.

A stage owns the partitions of its run's slice (days, months or a version) and overwrites exactly those. Rows are
first hash-partitioned by the partition column, so each partition value is written by one task as one file:
without it every shuffle partition writes its own small file into every value it holds (8 x 150 files of ~9 KB
for five months of ``household_daily``), and opening, committing and later listing them cost most of a small
stage's time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pyspark.sql import DataFrame


def one_file_per_value(df: DataFrame, column: str) -> DataFrame:
    """Each value of ``column`` in one task (hash partitioning), hence one output file per partition folder."""
    return df.repartition(column)


def overwrite_partitions(df: DataFrame, path: Path, column: str = "local_date") -> None:
    """Dynamic partition overwrite: only the values of ``column`` present in ``df`` are replaced."""
    (
        one_file_per_value(df, column)
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(column)
        .parquet(str(path))
    )


def replace_partitions(df: DataFrame, path: Path, column: str, values: list | None = None) -> None:
    """Write ``df`` partitioned by ``column``.

    ``values=None`` rebuilds the whole dataset. Otherwise the listed values are the slice this run owns: their
    folders are removed first (a slice that now has no rows must not keep stale ones, which dynamic partition
    overwrite alone would leave behind), then the new rows are added.
    """
    writer_df = one_file_per_value(df, column)
    if values is None:
        writer_df.write.mode("overwrite").option("partitionOverwriteMode", "static").partitionBy(column).parquet(
            str(path)
        )
        return
    for value in values:
        folder = path / f"{column}={value}"
        if folder.exists():
            shutil.rmtree(folder)
    writer_df.write.mode("append").partitionBy(column).parquet(str(path))
