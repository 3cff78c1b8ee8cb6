"""Segmentation: recovers planted load shapes, labels them by what they over-use, leaves sparse homes out and
counts them, and gives the same answer on a rerun with the same seed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from spark_jobs.analytics import segmentation
from spark_jobs.analytics.io import daily_matrix
from spark_jobs.segments import household_profiles, run

H = np.arange(48)


def bump(centre: float, width: float = 2.0) -> np.ndarray:
    return np.exp(-(((H - centre) / width) ** 2))


SHAPES = {"evening": 0.1 + bump(38), "morning": 0.1 + bump(15), "night": 0.1 + bump(4, 3)}


def planted(n_per: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for name, shape in SHAPES.items():
        for i in range(n_per):
            prof = shape * rng.lognormal(0, 0.1, 48) * rng.uniform(0.15, 0.25)
            rows.append(
                {
                    "household_id": f"{name}{i:02d}",
                    "complete_days": 60,
                    "truth": name,
                    **{f"s{s:02d}": prof[s] for s in H},
                }
            )
    df = pd.DataFrame(rows)
    df["mean_daily_kwh"] = df[[f"s{s:02d}" for s in H]].sum(axis=1)
    df["acorn_group"] = np.where(np.arange(len(df)) % 2 == 0, "Affluent", "Adversity")
    df["tariff_group"] = "Std"
    return df


def test_planted_shapes_are_recovered_and_labelled():
    df = planted()
    assign, profiles, facts = segmentation.segment(df, seed=7, min_days=28, k_range=(2, 5))
    assert facts["k"] == 3
    crosstab = pd.crosstab(assign["truth"], assign["segment_id"])
    assert (crosstab.max(axis=1) == 20).all()  # each planted group lands in one segment
    label_of = assign.groupby("truth")["segment_label"].first()
    assert "evening" in label_of["evening"] and "morning" in label_of["morning"] and "night" in label_of["night"]
    shares = profiles.groupby("segment_id")["share_of_day"].sum()
    assert np.allclose(shares, 1.0)


def test_sparse_households_get_no_segment_and_are_counted():
    df = planted()
    df.loc[df.index[:4], "complete_days"] = 5
    assign, _, facts = segmentation.segment(df, seed=7, min_days=28, k=3)
    sparse = assign[assign["complete_days"] < 28]
    assert (sparse["status"] == "not_enough_data").all() and sparse["segment_id"].isna().all()
    assert facts["households_not_enough_data"] == 4
    assert facts["households_segmented"] == len(df) - 4


def test_rerun_with_same_seed_is_identical_and_ids_ordered_by_level():
    df = planted(seed=3)
    a1, _, _ = segmentation.segment(df, seed=11, min_days=28, k=3)
    a2, _, _ = segmentation.segment(df.sample(frac=1.0, random_state=1), seed=11, min_days=28, k=3)
    pd.testing.assert_frame_equal(a1.reset_index(drop=True), a2.reset_index(drop=True))
    means = a1.groupby("segment_id")["mean_daily_kwh"].mean()
    assert means.is_monotonic_increasing


def test_summary_mixes():
    df = planted()
    assign, _, facts = segmentation.segment(df, seed=7, min_days=28, k=3)
    summary = segmentation.summarise(assign, facts)
    assert summary["households"].sum() == 60
    mix = summary[["share_affluent", "share_comfortable", "share_adversity", "share_other_acorn"]].sum(axis=1)
    assert np.allclose(mix, 1.0)


@pytest.fixture(scope="module")
def readings(spark):
    """Two households, 3 days; B misses most of day 2 (an incomplete day does not count)."""
    rows = []
    for hid, scale in (("A", 0.1), ("B", 0.3)):
        for d in range(3):
            day = dt.date(2013, 3, 4) + dt.timedelta(days=d)
            for s in range(48):
                if hid == "B" and d == 1 and s > 10:
                    continue
                ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=30 * s)
                rows.append((hid, "Std", ts, s, scale * (1 + (s == 40)), "f", day))
    return spark.createDataFrame(
        rows,
        "household_id string, tariff_group string, interval_start_utc timestamp, halfhour_local int, "
        "energy_kwh double, source_file string, local_date date",
    )


def test_household_profiles_use_complete_days_only(readings):
    pdf = household_profiles(daily_matrix(readings), None).toPandas().set_index("household_id")
    assert pdf.loc["A", "complete_days"] == 3 and pdf.loc["B", "complete_days"] == 2
    assert pdf.loc["B", "mean_daily_kwh"] == pytest.approx(0.3 * 49)
    assert pdf.loc["A", "s40"] == pytest.approx(0.2)


def test_run_writes_declared_schemas_and_counts_sparse(spark, readings):
    seg, prof, summ, facts = run(
        spark,
        daily_matrix(readings),
        None,
        dt.date(2013, 3, 4),
        dt.date(2013, 3, 6),
        "v1",
        seed=1,
        min_days=3,
        k=1,
        k_range=(1, 1),
    )
    rows = {r["household_id"]: r for r in seg.collect()}
    assert rows["A"]["status"] == "segmented" and rows["B"]["status"] == "not_enough_data"
    assert facts["households_not_enough_data"] == 1
    assert prof.count() == 48 and summ.count() == 1


def test_latest_version_is_the_latest_training_window(spark, tmp_path):
    """Neighbours compare against the segmentation trained on the latest window, not the greatest name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spark_jobs.segments import latest_version

    for version, train_to in (("seg_b", dt.date(2013, 1, 31)), ("seg_a", dt.date(2013, 2, 28))):
        folder = tmp_path / "segments" / f"segmentation_version={version}"
        folder.mkdir(parents=True)
        table = pa.table({"household_id": ["A", "B"], "train_to": [train_to, train_to]})
        pq.write_table(table, folder / "part-0.parquet")
    assert latest_version(spark, tmp_path / "segments") == "seg_a"
    with pytest.raises(FileNotFoundError):
        latest_version(spark, tmp_path / "missing")
