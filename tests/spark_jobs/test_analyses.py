"""The analyses runner: several stage jobs in one Spark application, each with its own arguments, the run's
selection honoured, and a failing job reported without stopping the others."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from spark_jobs import aggregate, analyses
from spark_jobs.common.schemas import READINGS_HALFHOURLY
from tests.spark_jobs.test_aggregate import _day


def test_split_jobs_gives_each_job_its_own_arguments():
    jobs = analyses.split_jobs(["anomalies", "--detectors", "robust", "+", "tariffs", "--from-date", "2013-01-07"])
    assert jobs == [("anomalies", ["--detectors", "robust"]), ("tariffs", ["--from-date", "2013-01-07"])]
    assert analyses.parse_args(["--only", "tariffs,load", "tariffs"]) == ({"tariffs", "load"}, [("tariffs", [])])


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["forecast", "--date", "2013-01-07"], "unknown job 'forecast'"),
        (["tariffs", "+", "+", "neighbours"], "empty job"),
        (["tariffs", "+", "tariffs"], "named twice"),
        (["--only"], "--only needs"),
    ],
)
def test_bad_job_lists_are_refused_naming_the_problem(argv, problem):
    with pytest.raises(SystemExit, match=problem):
        analyses.parse_args(argv)


@pytest.fixture
def lake(spark, tmp_path):
    """Two households' aggregate outputs over three January days."""
    lake = tmp_path / "lake"
    days = [dt.date(2013, 1, 7), dt.date(2013, 1, 8), dt.date(2013, 1, 9)]
    rows = [r for d in days for r in _day("A", d, 0.5) + _day("B", d, 0.2, tariff="ToU")]
    spark.createDataFrame(rows, READINGS_HALFHOURLY).write.partitionBy("local_date").parquet(
        str(lake / "readings_halfhourly")
    )
    info = tmp_path / "info.csv"
    info.write_text(
        "LCLid,stdorToU,Acorn,Acorn_grouped,file\r\nA,Std,ACORN-E,Affluent,b0\r\nB,ToU,ACORN-Q,Adversity,b0\r\n"
    )
    assert aggregate.main(["--lake", str(lake), "--household-info", str(info)]) == 0
    return lake


def test_jobs_run_in_one_session_and_write_what_they_write_alone(spark, lake, capsys):
    window = ["--from-date", "2013-01-07", "--to-date", "2013-01-09", "--lake", str(lake)]
    assert analyses.main(["tariffs", *window, "+", "neighbours", *window]) == 0
    tariffs = pq.read_table(lake / "tariff_comparison_monthly").to_pandas()
    neighbours = pq.read_table(lake / "neighbour_comparison_monthly").to_pandas()
    assert sorted(tariffs["household_id"]) == ["A", "B"] and sorted(neighbours["household_id"]) == ["A", "B"]
    assert set(neighbours["status"]) == {"no_segment"}, "no segmentation yet: counted, not compared"
    report = capsys.readouterr().out.splitlines()[-1]
    assert '"tariffs": {"status": "success"' in report and '"neighbours": {"status": "success"' in report


def test_only_the_selected_jobs_run(lake, capsys):
    window = ["--from-date", "2013-01-07", "--to-date", "2013-01-09", "--lake", str(lake)]
    assert analyses.main(["--only", "neighbours,load", "tariffs", *window, "+", "neighbours", *window]) == 0
    assert not (lake / "tariff_comparison_monthly").exists()
    assert (lake / "neighbour_comparison_monthly").is_dir()
    assert '"tariffs": {"status": "not_selected"}' in capsys.readouterr().out


def test_a_failing_job_fails_the_application_after_the_others_ran(lake):
    window = ["--from-date", "2013-01-07", "--to-date", "2013-01-09", "--lake", str(lake)]
    with pytest.raises(SystemExit, match=r"1 of 2 jobs failed: \{'tariffs': 'exit 2'\}"):
        analyses.main(["tariffs", "--no-such-option", "+", "neighbours", *window])
    assert (lake / "neighbour_comparison_monthly").is_dir(), "the job after the failed one still ran"
