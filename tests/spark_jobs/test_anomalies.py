"""Anomaly detection: the robust detector finds each injected kind where it was put, the baseline flags a wild
day, the Spark wrappers keep the schema, and event matching counts what the rule says."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from spark_jobs.analytics import robust
from spark_jobs.analytics.baseline import day_distances, flag_days
from spark_jobs.analytics.io import SLOT_COLS, daily_matrix
from spark_jobs.analytics.matching import evaluate
from spark_jobs.analytics.schemas import ANOMALIES, ANOMALY_ALERTS_DAILY
from spark_jobs.anomalies import alerts_daily, detect, robust_events

START = np.datetime64("2013-01-07")
SHAPE = 0.1 + 0.3 * np.exp(-(((np.arange(48) - 38) / 3.0) ** 2)) + 0.2 * np.exp(-(((np.arange(48) - 15) / 2.0) ** 2))


def household(days: int, seed: int) -> np.ndarray:
    """A plain household: fixed daily shape, multiplicative noise per half hour and per day."""
    rng = np.random.default_rng(seed)
    return SHAPE[None, :] * rng.lognormal(0, 0.25, (days, 48)) * rng.lognormal(0, 0.08, (days, 1))


def utc(day: int, slot: int = 0) -> pd.Timestamp:
    """UTC start of a local (GMT in winter) day and slot, for the January-March test window."""
    return pd.Timestamp(str(START + day)) + pd.Timedelta(minutes=30 * slot)


@pytest.fixture(scope="module")
def injected():
    x = household(120, 1)
    x[40:43] += 0.8  # sustained high: an appliance left on for three days
    x[60:66] = 0.0  # near zero: six days away
    x[80:95] = np.roll(x[80:95], 14, axis=1)  # profile shift: seven hours later for two weeks
    x[30, 20] += 5.0  # spike at 10:00 on day 30
    ev = robust.detect_household("H1", START + np.arange(120), x)
    return ev


@pytest.mark.parametrize(
    ("kind", "first_day", "last_day"),
    [("sustained_high", 40, 42), ("near_zero", 60, 65), ("profile_shift", 80, 94), ("spike", 30, 30)],
)
def test_each_injected_kind_is_found_where_it_was_put(injected, kind, first_day, last_day):
    ev = injected[injected["kind"] == kind]
    assert len(ev) >= 1, injected
    overlap = (ev["start_utc"] < utc(last_day + 2)) & (ev["end_utc"] > utc(first_day - 1))
    assert overlap.all(), ev
    assert (ev["severity"] > 0).all()


def test_spike_event_is_the_half_hour(injected):
    spike = injected[injected["kind"] == "spike"].iloc[0]
    assert spike["start_utc"] == utc(30, 20)
    assert spike["end_utc"] == utc(30, 21)
    assert spike["duration_halfhours"] == 1
    assert spike["observed_kwh"] > 5.0


def test_plain_household_raises_few_events():
    ev = robust.detect_household("H0", START + np.arange(150), household(150, 2))
    assert len(ev) <= 2, ev


def test_heating_response_is_not_sustained_high():
    """A home whose load follows degree days must not alarm in a cold snap once the weather is given."""
    days = 150
    hdd = np.full(days, 4.0)
    hdd[100:105] = 14.0
    x = household(days, 3) + 0.06 * hdd[:, None]
    with_weather = robust.detect_household("H2", START + np.arange(days), x, hdd=hdd)
    without = robust.detect_household("H2", START + np.arange(days), x)
    assert (without["kind"] == "sustained_high").any()
    assert not (with_weather["kind"] == "sustained_high").any()


def test_busy_day_is_not_sustained_high_but_added_load_is():
    """Three times the usual load (a busy day multiplies) is no appliance left on; +0.5 kWh every half hour is."""
    x = household(150, 5)
    x[100] *= 3.0
    x[120] += 0.5
    ev = robust.detect_household("H4", START + np.arange(150), x)
    high = ev[ev["kind"] == "sustained_high"]
    days = {(pd.Timestamp(d) - pd.Timestamp(str(START))).days for d in high["local_date"]}
    assert 120 in days, ev
    assert 100 not in days, ev


def test_load_left_on_in_a_noisy_home_is_found():
    """+0.6 kWh every half hour for two days in a home with large day-to-day swings: no single half day is far
    enough out (the old detector, one half day at 16 MADs, missed it), but consecutive ones are."""
    rng = np.random.default_rng(1)
    x = 2 * SHAPE[None, :] * rng.lognormal(0, 0.5, (150, 48)) * rng.lognormal(0, 0.35, (150, 1))
    clean = robust.detect_household("H6", START + np.arange(150), x)
    assert not (clean["kind"] == "sustained_high").any(), clean
    x[100, 24:] += 0.6  # from noon of day 100 ...
    x[101] += 0.6
    x[102, :24] += 0.6  # ... to noon of day 102
    ev = robust.detect_household("H6", START + np.arange(150), x)
    high = ev[ev["kind"] == "sustained_high"]
    assert len(high) >= 1, ev
    assert ((high["start_utc"] < utc(103)) & (high["end_utc"] > utc(100))).all(), high


def _bursty(days: int, seed: int, burst_kwh: float) -> np.ndarray:
    """A plain household plus natural appliance bursts of up to ``burst_kwh`` in about 2 % of half hours."""
    rng = np.random.default_rng(seed)
    x = household(days, seed)
    on = rng.random(x.shape) < 0.02
    return x + np.where(on, burst_kwh * rng.uniform(0.3, 1.0, x.shape), 0.0)


def test_spike_is_judged_against_the_households_own_bursts():
    """The same +3 kWh half hour is a spike in a home whose bursts reach 1 kWh and normal in one whose reach 4."""
    found = {}
    for burst in (1.0, 4.0):
        x = _bursty(150, 6, burst)
        x[50, 8] += 3.0  # 04:00 GMT
        ev = robust.detect_household("H5", START + np.arange(150), x)
        spikes = ev[ev["kind"] == "spike"]
        found[burst] = bool((spikes["start_utc"] == utc(50, 8)).any())
        if burst == 4.0:
            x[70, 8] += 12.0  # three times that home's largest bursts
            ev = robust.detect_household("H5", START + np.arange(150), x)
            assert (ev.loc[ev["kind"] == "spike", "start_utc"] == utc(70, 8)).any(), ev
    assert found == {1.0: True, 4.0: False}


def test_trailing_quantiles_exclude_the_current_row():
    v = np.arange(10, dtype=float)[:, None]
    med = robust.trailing_quantiles(v, (0.5,), window=3, step=1, min_count=3)[0][:, 0]
    assert med[5] == 3.0  # median of rows 2, 3, 4
    assert med[0] == med[3] == 1.0  # too little history: the first full reference


def test_bst_day_events_start_at_local_midnight():
    dates = np.datetime64("2013-06-03") + np.arange(90)
    x = household(90, 4)
    x[50:53] = 0.0
    ev = robust.detect_household("H3", dates, x)
    nz = ev[ev["kind"] == "near_zero"].iloc[0]
    assert nz["start_utc"] == pd.Timestamp(str(dates[50])) - pd.Timedelta(hours=1)
    assert nz["local_date"] == pd.Timestamp(str(dates[50])).date()


def test_matching_counts_per_kind_and_tolerance():
    t = pd.Timestamp
    truth = pd.DataFrame(
        {
            "household_id": ["A", "A", "B"],
            "start_utc": [t("2013-01-10"), t("2013-02-01"), t("2013-03-01")],
            "end_utc": [t("2013-01-12"), t("2013-02-01 00:30"), t("2013-03-05")],
            "kind": ["near_zero", "spike", "shifted_profile"],
        }
    )
    detected = pd.DataFrame(
        {
            "household_id": ["A", "A", "B", "B"],
            "start_utc": [t("2013-01-12 12:00"), t("2013-02-05"), t("2013-03-02"), t("2013-03-02")],
            "end_utc": [t("2013-01-13"), t("2013-02-05 00:30"), t("2013-03-03"), t("2013-03-03")],
            "kind": ["near_zero", "spike", "profile_shift", "sustained_high"],
        }
    )
    res = evaluate(detected, truth, ("spike", "near_zero", "profile_shift", "sustained_high"))
    assert res["per_kind"]["near_zero"]["precision"] == 1.0  # within 1 day of the truth end
    assert res["per_kind"]["spike"]["recall"] == 0.0  # four days away
    assert res["per_kind"]["profile_shift"]["recall"] == 1.0  # generator name mapped
    assert res["per_kind"]["sustained_high"]["precision"] == 0.0  # overlaps, but the wrong kind
    assert res["overall_kind_agnostic"]["detected_matched"] == 3
    assert res["overall_kind_aware"]["truth_matched"] == 2


def fields(schema):
    """Names and types; nullability is not kept by Parquet anyway."""
    return [(f.name, f.dataType) for f in schema.fields]


def readings_frame(spark, households: dict[str, np.ndarray], start: dt.date):
    rows = []
    for hid, x in households.items():
        for d in range(x.shape[0]):
            day = start + dt.timedelta(days=d)
            for s in range(48):
                ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=30 * s)
                rows.append((hid, "Std", ts, s, float(x[d, s]), "f.csv", day))
    return spark.createDataFrame(
        rows,
        "household_id string, tariff_group string, interval_start_utc timestamp, halfhour_local int, "
        "energy_kwh double, source_file string, local_date date",
    )


@pytest.fixture(scope="module")
def small_readings(spark):
    a = household(40, 5)
    a[30:32] = 0.0
    b = household(40, 6)
    b[25] *= 6.0  # a wild day for the baseline
    return readings_frame(spark, {"A": a, "B": b}, dt.date(2013, 1, 7))


def test_daily_matrix_has_one_row_per_household_day(small_readings):
    dm = daily_matrix(small_readings)
    assert dm.count() == 80
    row = dm.where((F.col("household_id") == "A") & (F.col("local_date") == dt.date(2013, 1, 8))).first()
    assert row["readings_present"] == 48
    assert row["e00"] is not None and row["e47"] is not None


def test_spark_detect_keeps_schema_and_unique_ids(spark, small_readings):
    events, _ = detect(spark, small_readings, ["robust"], hdd=None, seed=1)
    assert fields(events.schema) == fields(ANOMALIES)
    pdf = events.toPandas()
    assert pdf["event_id"].is_unique
    rob = pdf[pdf["detector"] == "robust_v1"]
    assert ((rob["household_id"] == "A") & (rob["kind"] == "near_zero")).any()
    alerts = alerts_daily(events, "Europe/London")
    assert fields(alerts.schema) == fields(ANOMALY_ALERTS_DAILY)
    nz = rob[(rob["household_id"] == "A") & (rob["kind"] == "near_zero")].iloc[0]
    covered = alerts.where(F.col("event_id") == nz["event_id"]).count()
    assert covered == nz["duration_halfhours"] // 48


def test_kmeans_baseline_flags_only_injected_days(spark, small_readings):
    # k = 2: on 80 days, k = 5 would give each odd day a cluster of its own (a weakness of the method).
    events, facts = detect(spark, small_readings, ["kmeans"], hdd=None, seed=3, kmeans_k=2)
    flagged = events.toPandas()
    assert len(flagged) >= 1 and set(flagged["kind"]) == {"day_outlier"}
    injected = {("A", dt.date(2013, 2, 6)), ("A", dt.date(2013, 2, 7)), ("B", dt.date(2013, 2, 1))}
    assert set(zip(flagged["household_id"], flagged["local_date"], strict=True)) <= injected
    assert facts["kmeans_days_scored"] == 80
    assert 0 < facts["kmeans_days_flagged_share_pct"] < 10


def test_three_sigma_rule_per_cluster(spark):
    rows = [(0, 1.0 + 0.01 * i) for i in range(19)] + [(0, 10.0)] + [(1, 50.0 + 0.01 * i) for i in range(20)]
    dist = spark.createDataFrame(rows, "cluster int, distance double")
    flagged = flag_days(dist, sigma=3.0).collect()
    assert [(r["cluster"], r["distance"]) for r in flagged] == [(0, 10.0)]


def test_robust_events_empty_household_frame(spark):
    empty = spark.createDataFrame(
        [], "household_id string, local_date date, " + ", ".join(f"{c} double" for c in SLOT_COLS)
    )
    assert robust_events(empty).count() == 0


# --- the fast paths of robust.py give what the plain pandas/NumPy calls they replace would give


def _frame(x: np.ndarray, dates: np.ndarray, seed: int) -> pd.DataFrame:
    """One household as ``applyInPandas`` hands it over: ``datetime.date`` days, rows in no order, NaN gaps."""
    rng = np.random.default_rng(seed)
    pdf = pd.DataFrame(x, columns=SLOT_COLS)
    pdf.insert(0, "local_date", [pd.Timestamp(str(d)).date() for d in dates])
    pdf.insert(0, "household_id", "H7")
    return pdf.iloc[rng.permutation(len(pdf))].reset_index(drop=True)


def test_detect_frame_equals_the_household_arrays_it_reads():
    days = 120
    dates = START + np.arange(days)
    x = household(days, 7)
    x[40:43] += 0.8
    x[70:75] = 0.0
    x[90, 20] += 5.0
    x[np.random.default_rng(7).random(x.shape) < 0.01] = np.nan
    hdd = pd.Series(
        np.linspace(2.0, 9.0, days + 30), index=[pd.Timestamp(str(START + i - 10)).date() for i in range(days + 30)]
    )
    pdf = _frame(x, dates, 7)
    want = robust.detect_household(
        "H7", dates, x, hdd=hdd.reindex([pd.Timestamp(str(d)).date() for d in dates]).to_numpy()
    )
    pd.testing.assert_frame_equal(robust.detect_frame(pdf, hdd=hdd), want)
    as_text = pdf.assign(local_date=pdf["local_date"].astype(str))  # not DateType: the pandas parsing path
    pd.testing.assert_frame_equal(robust.detect_frame(as_text, hdd=hdd), want)
    # The degree-day lookup follows a changed series (it is kept between calls of one run).
    colder = hdd + 5.0
    want_colder = robust.detect_household(
        "H7", dates, x, hdd=colder.reindex([pd.Timestamp(str(d)).date() for d in dates]).to_numpy()
    )
    pd.testing.assert_frame_equal(robust.detect_frame(pdf, hdd=colder), want_colder)
    assert len(want) >= 3 and want["local_date"].map(type).eq(dt.date).all()


def test_to_utc_matches_pandas_across_both_clock_changes():
    grid = np.timedelta64(30, "m") * np.arange(4 * 48)
    times = np.concatenate(
        [
            np.datetime64("2013-03-29T00:00", "ns") + grid,
            np.datetime64("2013-10-25T00:00", "ns") + grid,
            np.array(["2013-03-31T01:17:03", "2013-10-27T01:10"], dtype="datetime64[ns]"),
        ]
    )
    for tz in ("Europe/London", "America/New_York"):
        aware = pd.DatetimeIndex(times).tz_localize(
            tz, ambiguous=np.ones(len(times), bool), nonexistent="shift_forward"
        )
        np.testing.assert_array_equal(robust._to_utc(times, tz), aware.tz_convert("UTC").tz_localize(None).to_numpy())


def test_linear_quantile_is_numpys():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 17, 700, 2741):
        v = np.round(rng.lognormal(0, 1, n), 3)
        for q in (0.0, 0.1, 0.5, 0.9, 0.9995, 1.0):
            assert robust._linear_quantile(v, q) == np.quantile(v, q)


def test_kmeans_fitted_on_a_sample_still_scores_every_day(small_readings):
    daily = daily_matrix(small_readings)
    full = day_distances(daily, k=2, seed=3).toPandas()
    sampled = day_distances(daily, k=2, seed=3, fit_sample_days=40).toPandas()
    assert len(sampled) == len(full) == 80
    assert set(sampled["cluster"]) <= {0, 1}
    # An injected day (A's empty days, B's day at six times its load) stays the farthest from its centroid when
    # the centroids come from half of the days.
    injected = {("A", dt.date(2013, 2, 6)), ("A", dt.date(2013, 2, 7)), ("B", dt.date(2013, 2, 1))}
    for scored in (full, sampled):
        far = scored.nlargest(1, "distance").iloc[0]
        assert (far["household_id"], far["local_date"]) in injected
