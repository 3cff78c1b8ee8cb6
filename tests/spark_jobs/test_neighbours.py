"""Neighbour comparison: percentiles and the efficient-neighbour reference within Acorn x segment, statuses for
homes without enough data or a segment, and an alert only when a home rises above its own history and peers."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs.neighbours import NeighbourParams, compare

PARAMS = NeighbourParams(min_days=20, min_peers=3, history_months=3, min_history_months=2)


def month_days(year: int, month: int) -> list[dt.date]:
    d = dt.date(year, month, 1)
    out = []
    while d.month == month:
        out.append(d)
        d += dt.timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def result(spark):
    """Five peers (P0..P4, 5..9 kWh/day) for four months; P4 doubles in April. S is sparse, X has no segment."""
    rows = []
    for m in (1, 2, 3, 4):
        for day in month_days(2013, m):
            for i in range(5):
                kwh = 5.0 + i
                if i == 4 and m == 4:
                    kwh *= 2
                rows.append((f"P{i}", day, kwh, 1.0))
            rows.append(("X", day, 7.0, 1.0))
            if day.day <= 10:
                rows.append(("S", day, 7.0, 1.0))
    daily = spark.createDataFrame(rows, "household_id string, local_date date, energy_kwh double, completeness double")
    seg = [(f"P{i}", "segmented", 1, "Affluent", "v1") for i in range(5)]
    seg += [("S", "segmented", 1, "Affluent", "v1"), ("X", "not_enough_data", None, "Affluent", "v1")]
    segments = spark.createDataFrame(
        seg, "household_id string, status string, segment_id int, acorn_group string, segmentation_version string"
    )
    return {(r["household_id"], r["month"].month): r for r in compare(daily, segments, PARAMS).collect()}


def test_percentile_and_efficient_neighbour(result):
    jan = {h: result[(h, 1)] for h in ("P0", "P2", "P4")}
    assert jan["P0"]["percentile"] == 0.0 and jan["P4"]["percentile"] == 1.0
    assert jan["P2"]["percentile"] == pytest.approx(0.5)
    assert jan["P2"]["peer_count"] == 5
    # percentile_approx: the smallest peer value with at least 20 % of peers at or below it (no interpolation)
    assert jan["P2"]["efficient_neighbour_kwh"] == pytest.approx(5.0 * 31)
    assert jan["P2"]["peer_median_kwh"] == pytest.approx(7.0 * 31)
    assert jan["P0"]["daily_percentile_mean"] == 0.0


def test_statuses_for_sparse_and_unsegmented(result):
    assert result[("S", 1)]["status"] == "not_enough_data" and result[("S", 1)]["percentile"] is None
    assert result[("X", 1)]["status"] == "no_segment" and result[("X", 1)]["high_usage_alert"] is False


def test_alert_only_when_above_history_and_peers(result):
    assert result[("P4", 4)]["high_usage_alert"] is True
    assert result[("P4", 4)]["trend_ratio"] > 1.25
    assert not any(r["high_usage_alert"] for k, r in result.items() if k != ("P4", 4))
    assert result[("P3", 4)]["history_relative_to_peers"] is not None
    assert result[("P3", 1)]["history_relative_to_peers"] is None  # no history yet
