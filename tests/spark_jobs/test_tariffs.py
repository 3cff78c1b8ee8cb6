"""Tariff bills: flat and dToU costs from the priced half hours, calendar-position mapping to other years
(29 February included), the load-shift saving, and the real 2013 schedule's counts."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from spark_jobs.analytics.io import daily_matrix
from spark_jobs.tariffs import compare, load_schedule

LONDON = ZoneInfo("Europe/London")

PRICES = {"High": 67.20, "Normal": 11.76, "Low": 3.99}
FLAT = 14.228


@pytest.fixture(scope="module")
def schedule(spark, reference_dir):
    return load_schedule(spark, reference_dir / "dtou_tariff_2013.csv").cache()


def test_real_schedule_counts(schedule):
    counts = {r["band"]: r["count"] for r in schedule.groupBy("band").count().collect()}
    assert counts == {"Normal": 15072, "Low": 1660, "High": 788}
    assert schedule.select("key").distinct().count() == 17520


def readings(spark, rows):
    """Household-days with their 48 local half hours (what the job reads) from (household, UTC start, kWh)."""
    out = []
    for h, ts, kwh in rows:
        local = ts.replace(tzinfo=dt.UTC).astimezone(LONDON)
        out.append((h, "ToU", ts, local.hour * 2 + local.minute // 30, kwh, "f", local.date()))
    return daily_matrix(
        spark.createDataFrame(
            out,
            "household_id string, tariff_group string, interval_start_utc timestamp, halfhour_local int, "
            "energy_kwh double, source_file string, local_date date",
        )
    )


def test_bills_mapping_and_shift(spark, schedule):
    high = dt.datetime(2013, 1, 7, 23, 0)  # High in the 2013 file
    normal = dt.datetime(2013, 1, 1, 0, 0)  # Normal
    high_2012 = dt.datetime(2012, 1, 7, 23, 0)  # same calendar position, a year earlier
    leap = dt.datetime(2012, 2, 29, 12, 0)  # takes 28 February 2013 12:00
    r = readings(spark, [("A", high, 1.0), ("A", normal, 2.0), ("B", high_2012, 1.0), ("C", leap, 1.0)])
    out = {(x["household_id"], x["month"]): x for x in compare(r, schedule, FLAT, PRICES, 0.5).collect()}
    a = out[("A", dt.date(2013, 1, 1))]
    assert a["flat_cost_pence"] == pytest.approx(3 * FLAT)
    assert a["dtou_cost_pence"] == pytest.approx(67.20 + 2 * 11.76)
    assert a["saving_pence"] == pytest.approx(3 * FLAT - 67.20 - 2 * 11.76)
    assert a["dtou_outcome"] == "loser"
    assert a["schedule_mapped"] is False
    # Half the High kWh moves to January's Normal/Low mix, priced between Low and Normal.
    moved_price = (a["shifted_dtou_cost_pence"] - (a["dtou_cost_pence"] - 0.5 * 67.20)) / 0.5
    assert 3.99 < moved_price < 11.76
    assert a["shift_saving_pence"] > 0
    b = out[("B", dt.date(2012, 1, 1))]
    assert b["high_kwh"] == 1.0 and b["schedule_mapped"] is True
    c = out[("C", dt.date(2012, 2, 1))]
    assert c["high_kwh"] + c["normal_kwh"] + c["low_kwh"] == pytest.approx(1.0)
    assert c["readings_expected"] == 29 * 48


def test_summer_half_hours_take_the_band_of_their_utc_start(spark, schedule, reference_dir):
    """In BST local half hour s starts at UTC s - 2: the last High half hour of a July block, read through its
    local slot, must be billed High (the local clock time itself is not High in the schedule)."""
    raw = pd.read_csv(reference_dir / "dtou_tariff_2013.csv")
    raw.columns = [c.strip() for c in raw.columns]
    ts = pd.to_datetime(raw["TariffDateTime"].str.strip())
    band = dict(zip(ts, raw["Tariff"].str.strip(), strict=True))
    last_high = next(
        t
        for t in ts
        if t.month == 7 and band[t] == "High" and band.get(t + pd.Timedelta(hours=1)) != "High" and t.hour < 22
    )
    r = readings(spark, [("A", last_high.to_pydatetime(), 1.0)])
    (row,) = compare(r, schedule, FLAT, PRICES, 0.0).collect()
    assert row["high_kwh"] == pytest.approx(1.0)
    assert row["dtou_cost_pence"] == pytest.approx(67.20)
