"""The anomaly evaluation command end to end on generated files: ingest, both detectors, scores per detector."""

from __future__ import annotations

import json

from spark_jobs import evaluate_anomalies, generate


def test_evaluation_scores_both_detectors_against_the_injected_truth(spark, tmp_path):
    landing, truth, out = tmp_path / "landing", tmp_path / "truth.csv", tmp_path / "result.json"
    generate.main(
        ["--out", str(landing), "--households", "6", "--start", "2013-01-01", "--end", "2013-04-30", "--seed", "7",
         "--anomaly-rate", "6", "--no-enrolment", "--truth", str(truth)]
    )  # fmt: skip
    assert evaluate_anomalies.main(["--input", str(landing), "--truth", str(truth), "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["households"] == 6 and result["truth_events"] > 0
    robust = result["detectors"]["robust_v1"]["overall_kind_aware"]
    baseline = result["detectors"]["kmeans_baseline"]["overall_kind_agnostic"]
    assert robust["truth"] == baseline["truth"] == result["truth_events"]
    assert robust["truth_matched"] > 0 and 0.0 <= robust["precision"] <= 1.0
    assert result["kmeans_days_scored"] > 0
