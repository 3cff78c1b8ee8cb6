"""What every stage's spark-submit is given: the class-data-sharing archives only where they exist (a JVM told
to map a missing archive runs without even the JDK's own)."""

from __future__ import annotations

from plugins.spark import submit_conf
from spark_jobs.common.settings import Settings


def test_no_archive_options_before_the_archives_are_built(tmp_path):
    settings = Settings(state_dir=tmp_path, spark_driver_java_options="-XX:TieredStopAtLevel=1")
    conf = submit_conf(settings)
    assert conf["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"
    assert "spark.executor.extraJavaOptions" not in conf


def test_each_jvm_maps_its_own_archive_once_built(tmp_path):
    cds = tmp_path / "spark" / "cds"
    cds.mkdir(parents=True)
    (cds / "driver.jsa").write_bytes(b"x")
    settings = Settings(state_dir=tmp_path, spark_driver_java_options="-XX:TieredStopAtLevel=1")
    conf = submit_conf(settings)
    assert conf["spark.driver.extraJavaOptions"] == f"-XX:TieredStopAtLevel=1 -XX:SharedArchiveFile={cds}/driver.jsa"
    assert "spark.executor.extraJavaOptions" not in conf, "the executor's archive is not there yet"
    (cds / "executor.jsa").write_bytes(b"x")
    assert submit_conf(settings)["spark.executor.extraJavaOptions"] == f"-XX:SharedArchiveFile={cds}/executor.jsa"


def test_only_day_sized_and_python_task_stages_run_their_executors_with_c1_only(tmp_path):
    settings = Settings(state_dir=tmp_path, spark_day_executor_java_options="-XX:TieredStopAtLevel=1")
    assert "spark.executor.extraJavaOptions" not in submit_conf(settings)
    assert submit_conf(settings, day_sized=True)["spark.executor.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"
    assert submit_conf(settings, python_tasks=True)["spark.executor.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"
