"""The class-data-sharing archives scripts/stack.sh builds when it starts Spark are used by the stages: an
application submitted with the stages' options plus ``-Xshare:on`` (which makes a JVM fail instead of silently
running without an archive it cannot map, e.g. one dumped with another class path) runs on the cluster."""

from __future__ import annotations

import subprocess

import pytest

from plugins.spark import submit_conf

pytestmark = pytest.mark.e2e


def test_driver_and_executor_map_the_stacks_class_archives(stack, tmp_path):
    for role in ("driver", "executor"):
        archive = stack.spark_class_archive_dir / f"{role}.jsa"
        assert archive.is_file(), f"{archive} missing; see {stack.state_dir}/logs/spark-class-archive.log"
    app = tmp_path / "count.py"
    app.write_text(
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.getOrCreate()\n"
        "print('rows', spark.range(1000).repartition(2).count())\n"
        "spark.stop()\n"
    )
    conf = submit_conf(stack, day_sized=True)  # the daily stages: also C1-only executors
    args = ["spark-submit", "--master", stack.spark_master_url, "--total-executor-cores", "1"]
    for key, value in conf.items():
        forced = f"{value} -Xshare:on" if key.endswith("extraJavaOptions") else value
        args += ["--conf", f"{key}={forced}"]
    proc = subprocess.run([*args, str(app)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "rows 1000" in proc.stdout, "\n".join(proc.stderr.splitlines()[-30:])
