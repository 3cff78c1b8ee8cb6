"""evaluate: the DAG's job chain in order, spark-submit wiring, and the acceptance-bar verdict."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from spark_jobs import evaluate
from spark_jobs.common.settings import REPO_ROOT


def test_job_chain_is_ingest_aggregate_features_forecast_on_one_lake(tmp_path):
    jobs = evaluate.job_argv(tmp_path, Path("/data/in"), dt.date(2013, 9, 30), dt.date(2013, 12, 31), 3)
    assert [j for j, _ in jobs] == ["ingest", "aggregate", "features", "forecast"]
    for _, args in jobs:
        assert args[args.index("--lake") + 1] == str(tmp_path / "lake")
    forecast_args = jobs[-1][1]
    assert forecast_args[0] == "backtest"
    assert forecast_args[forecast_args.index("--train-end") + 1] == "2013-09-30"
    assert forecast_args[forecast_args.index("--test-end") + 1] == "2013-12-31"


def test_spark_submit_command_targets_the_master_with_repo_on_pythonpath():
    cmd = evaluate.spark_submit_command("spark://127.0.0.1:7077", "features", ["--lake", "/x"], "4g")
    assert cmd[0].endswith("spark-submit") and cmd[cmd.index("--master") + 1] == "spark://127.0.0.1:7077"
    assert f"spark.executorEnv.PYTHONPATH={REPO_ROOT}" in cmd
    assert cmd[-3:] == [str(REPO_ROOT / "spark_jobs" / "features.py"), "--lake", "/x"]


def _task(model_mase, coverage, baselines):
    models = {"hgb_quantile": {"overall": {"mase": model_mase, "coverage_p10_p90": coverage}}}
    models |= {f"baseline_{i}": {"overall": {"mase": m}} for i, m in enumerate(baselines)}
    return {"models": models}


def test_bar_check_needs_every_baseline_beaten_and_coverage_in_band():
    report = {
        "tasks": {
            "ok": _task(0.8, 0.80, [0.9, 1.0, 0.85]),
            "loses": _task(0.8, 0.80, [0.9, 0.79]),
            "wide": _task(0.8, 0.83, [0.9]),
        }
    }
    bar = evaluate.bar_check(report)
    assert bar["ok"]["beats_every_baseline_on_mase"] and bar["ok"]["coverage_in_78_82"]
    assert not bar["loses"]["beats_every_baseline_on_mase"] and bar["loses"]["best_baseline_mase"] == 0.79
    assert bar["wide"]["beats_every_baseline_on_mase"] and not bar["wide"]["coverage_in_78_82"]


def test_rejects_missing_input_and_empty_test_period(tmp_path):
    with pytest.raises(SystemExit, match="not found"):
        evaluate.main(["--input", str(tmp_path / "nope"), "--train-end", "2013-09-30", "--test-end", "2013-12-31"])
    with pytest.raises(SystemExit, match="after"):
        evaluate.main(["--input", str(tmp_path), "--train-end", "2013-09-30", "--test-end", "2013-09-30"])
