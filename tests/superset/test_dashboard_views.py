"""The dashboard views builder (plugins/serving/dashboard_views.py) on generated base collections."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from plugins.serving.dashboard_views import (
    ALL,
    DASH_COLLECTIONS,
    _Base,
    _is_baseline,
    build_dashboard_views,
    compute_dashboard_views,
    household_bucket,
)
from spark_jobs.forecasting.tasks import MODEL_NAME
from tests.superset.seed import base_frames

NOW = datetime(2013, 3, 5, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def frames():
    return base_frames(n_households=40, n_days=30, start="2013-03-10")


@pytest.fixture(scope="module")
def views(frames):
    return compute_dashboard_views(_Base(frames=frames), NOW)


def test_every_view_is_built(views, frames):
    assert set(views) == set(DASH_COLLECTIONS)
    buckets = [n for n in DASH_COLLECTIONS if n.startswith("dash_household_days_")]
    # the generated forecasts have no Acorn-group series
    missing = [
        n for n in DASH_COLLECTIONS if not views[n] and n not in buckets and n != "dash_forecast_series_by_acorn"
    ]
    assert not missing
    assert sum(len(views[b]) for b in buckets) == len(frames["households"])


def test_level_collections_are_the_cube_split(views):
    cube = pd.DataFrame(views["dash_consumption_daily"])
    parts = [pd.DataFrame(views[f"dash_consumption_daily{lvl}"]) for lvl in ("_all", "_by_tariff", "_by_acorn")]
    assert (parts[0].tariff_group == ALL).all() and (parts[0].acorn_group == ALL).all()
    assert (parts[1].tariff_group != ALL).all() and (parts[1].acorn_group == ALL).all()
    assert (parts[2].tariff_group == ALL).all() and (parts[2].acorn_group != ALL).all()
    crossed = cube[(cube.tariff_group != ALL) & (cube.acorn_group != ALL)]
    assert sum(map(len, parts)) + len(crossed) == len(cube)


def test_daily_cube_levels_add_up(views, frames):
    cube = pd.DataFrame(views["dash_consumption_daily"])
    total = cube[(cube.tariff_group == ALL) & (cube.acorn_group == ALL)]
    by_tariff = cube[(cube.tariff_group != ALL) & (cube.acorn_group == ALL)]
    both = cube[(cube.tariff_group != ALL) & (cube.acorn_group != ALL)]
    assert len(total) == 30
    assert total.energy_kwh.sum() == pytest.approx(frames["household_daily"].energy_kwh.sum())
    assert by_tariff.energy_kwh.sum() == pytest.approx(total.energy_kwh.sum())
    assert both.energy_kwh.sum() == pytest.approx(total.energy_kwh.sum())
    # midnight timestamps, so a range filter starting on the first day includes it
    assert total.day_local.min() == "2013-03-10 00:00:00"


def test_times_are_europe_london_wall_clock(views):
    # 2013-03-31 is the spring-forward day: UTC 01:00 is 02:00 BST
    series = pd.DataFrame(views["dash_halfhourly_recent"])
    all_level = series[(series.tariff_group == ALL) & (series.acorn_group == ALL)]
    assert "2013-03-31 00:30:00" in set(all_level.ts_local)
    assert "2013-03-31 01:00:00" not in set(all_level.ts_local)  # the skipped local hour
    assert "2013-03-31 02:00:00" in set(all_level.ts_local)


def test_profile_is_a_weighted_mean(views):
    profile = pd.DataFrame(views["dash_profile_halfhour"])
    assert set(profile.halfhour_local) == set(range(48))
    assert set(profile.daytype) == {"Weekday", "Weekend"}
    assert profile.hh_label.iloc[0] in {f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)}
    row = profile.iloc[0]
    assert row.mean_kwh == pytest.approx(row.sum_energy_kwh / row.household_halfhours)


def test_household_documents_for_the_drill_down(views, frames):
    docs = {d["_id"]: d for n, v in views.items() if n.startswith("dash_household_days_") for d in v}
    assert all(
        d["_id"] in {x["_id"] for x in views[f"dash_household_days_{household_bucket(d['_id'])}"]}
        for d in docs.values()
    )
    assert len(docs) == frames["households"].household_id.nunique()
    first = docs[frames["households"].household_id.iloc[0]]
    assert len(first["days"]) == 30
    assert {"day_local", "energy_kwh", "completeness"} <= set(first["days"][0])
    # null fields are left out; the first households have daily forecasts in the generated data
    assert any("p50" in day for day in first["days"])
    assert all(value is not None for day in first["days"] for value in day.values())


def test_tariff_outcomes(views):
    households = pd.DataFrame(views["dash_tariff_households"])
    winners = households[households.outcome.str.startswith("Winner")]
    assert (winners.saving_gbp >= 0).all()
    assert (households.flat_cost_gbp - households.dtou_cost_gbp - households.saving_gbp).abs().max() < 1e-6


def test_forecast_band_uses_the_best_model(views):
    series = pd.DataFrame(views["dash_forecast_series"])
    assert set(series.model) == {"lightgbm_quantile"}
    assert (series.p10_kwh <= series.p50_kwh).all() and (series.p50_kwh <= series.p90_kwh).all()
    accuracy = pd.DataFrame(views["dash_forecast_accuracy_daily"])
    assert set(accuracy[accuracy.is_baseline == 1].model) == {"seasonal_naive"}


def test_reserved_word_column_is_renamed(views):
    assert "rejected_rows" in views["dash_quarantine"][0] and "rows" not in views["dash_quarantine"][0]


def test_no_base_data_gives_empty_views():
    views = compute_dashboard_views(_Base(frames={}), NOW)
    assert {name for name, docs in views.items() if docs} == {"dash_freshness"}
    assert household_bucket("MAC000002") == "02" and household_bucket("x") == "xx"
    assert views["dash_freshness"][0]["last_reading_day"] is None


def test_build_writes_collections(frames):
    """Against the embedded FerretDB (fails when it is not running: `make test` starts it)."""
    import pymongo

    from spark_jobs.common.settings import get_settings

    client = pymongo.MongoClient(get_settings().mongo_uri, serverSelectionTimeoutMS=2000)
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError:
        pytest.fail(f"MongoDB/FerretDB not reachable at {get_settings().mongo_uri}; run `make start`", pytrace=False)
    db = client["smartmeter_test_dashboard_views"]
    try:
        from tests.superset.seed import insert_base

        small = {k: v for k, v in base_frames(n_households=8, n_days=5).items()}
        insert_base(db, small)
        counts = build_dashboard_views(db, NOW)
        first = small["households"].household_id.iloc[0]
        assert sum(n for name, n in counts.items() if name.startswith("dash_household_days_")) == 8
        assert db[f"dash_household_days_{household_bucket(first)}"].find_one({"_id": first})["days"]
        # a rebuild replaces, never appends
        assert build_dashboard_views(db, NOW) == counts
        assert db["dash_consumption_daily"].count_documents({}) == counts["dash_consumption_daily"]
        assert not [n for n in db.list_collection_names() if n.endswith("__building")]
    finally:
        client.drop_database(db.name)
        client.close()


def _write_lake(lake, frames: dict[str, pd.DataFrame]) -> list[str]:
    """The Parquet datasets of ``frames`` as the Spark jobs lay them out (hive partitions by the registry's slice)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from plugins.serving.registry import spec

    written = []
    for name, frame in frames.items():
        s = spec(name)
        if s.source != "parquet":
            continue
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if s.partition in frame.columns:
            pq.write_to_dataset(table, lake / name, partition_cols=[s.partition])
        else:
            (lake / name).mkdir(parents=True)
            pq.write_table(table, lake / name / "part-0.parquet")
        written.append(name)
    return written


def _served(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` that the loader copies to MongoDB (``serve_only`` of the registry)."""
    from plugins.serving.registry import REGISTRY

    s = REGISTRY.get(name)
    for column, values in (s.serve_only if s else {}).items():
        frame = frame[frame[column].isin(values)]
    return frame


def _canonical(docs: list[dict]) -> list[str]:
    import json

    return sorted(json.dumps(d, sort_keys=True, default=str) for d in docs)


def test_views_from_the_lake_equal_views_from_mongodb(tmp_path):
    """The load step's copy in MongoDB and the lake it was copied from give the same views (the lake is only faster)."""
    import pymongo

    from plugins.serving.dashboard_views import LakeBase
    from spark_jobs.common.settings import get_settings
    from tests.superset.seed import insert_base

    client = pymongo.MongoClient(get_settings().mongo_uri, serverSelectionTimeoutMS=2000)
    db = client["smartmeter_test_views_from_lake"]
    try:
        frames = base_frames(n_households=12, n_days=10)
        fc = frames["forecasts"]
        frames["forecasts"] = fc.assign(model=fc["model"].replace({"lightgbm_quantile": MODEL_NAME}))
        assert frames["forecasts"]["model"].nunique() > 1, "baselines too, which the collection does not serve"
        served = {name: _served(name, frame) for name, frame in frames.items()}
        assert len(served["forecasts"]), "the model's forecasts are served (as one document per series and day)"
        insert_base(db, served)  # what the load writes
        assert db.forecasts.count_documents({}) < len(served["forecasts"])
        from_lake = _write_lake(tmp_path, frames)
        assert {"household_daily", "group_halfhourly", "forecasts", "tariff_comparison_monthly"} <= set(from_lake)
        lake_base = LakeBase(db, tmp_path)
        by_db = compute_dashboard_views(_Base(db), NOW)
        by_lake = compute_dashboard_views(lake_base, NOW)
        assert set(lake_base.frames) >= set(from_lake), "the Parquet datasets were read from the lake"
        differing = [n for n in DASH_COLLECTIONS if _canonical(by_db[n]) != _canonical(by_lake[n])]
        assert differing == []
        assert by_lake["dash_consumption_daily"], "the comparison saw data"
    finally:
        client.drop_database(db.name)
        client.close()


def test_drill_down_band_is_the_models_not_a_baselines(frames):
    """Backtests hold the baselines' forecasts for the same days; the household's band is the model's, even when a
    baseline's name sorts first (``baseline_last_week`` < ``hgb_quantile``)."""
    f = frames["forecasts"]
    model = f[(f.task == "household_daily") & (_is_baseline(f.model) == 0)].assign(model="hgb_quantile")
    baseline = model.assign(model="baseline_last_week", p50_kwh=model.p50_kwh + 100.0)
    views = compute_dashboard_views(_Base(frames=frames | {"forecasts": pd.concat([model, baseline])}), NOW)
    first = model.series_id.iloc[0]
    mine = model[model.series_id == first]
    expected = dict(zip(mine.local_date, mine.p50_kwh, strict=True))
    doc = next(d for n, v in views.items() if n.startswith("dash_household_days_") for d in v if d["_id"] == first)
    got = {day["day_local"][:10]: day["p50"] for day in doc["days"] if "p50" in day}
    assert got and got == pytest.approx({d: expected[d] for d in got})
