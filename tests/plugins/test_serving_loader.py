"""The serving loader against the running FerretDB (or any MongoDB at ``MONGO_URI``), on tiny Parquet datasets.

Each test module run uses its own database ``smartmeter_test_loader_<random>`` and drops it at the end. When the
server is not reachable the tests fail (not skip): the serving layer is untested otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError as MongoDuplicateKeyError
from pymongo.errors import PyMongoError

from plugins.serving import loader
from plugins.serving.registry import REGISTRY, SERVING_COLLECTIONS, SERVING_LOADS, spec
from spark_jobs.forecasting.tasks import MODEL_NAME

MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
DAYS = ["2013-01-01", "2013-01-02", "2013-01-03"]
HOUSEHOLDS = ["MAC000001", "MAC000002", "MAC000003", "MAC000004"]


@pytest.fixture(scope="module")
def db():
    # a socket timeout turns a server-side stall into a failure instead of a hung suite
    client = MongoClient(MONGO_URI, serverSelectionTimeoutMS=3000, socketTimeoutMS=60000, tz_aware=True)
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        pytest.fail(f"MongoDB/FerretDB not reachable at {MONGO_URI} ({exc}); run `make start` first", pytrace=False)
    name = f"smartmeter_test_loader_{uuid.uuid4().hex[:8]}"
    database = client[name]
    loader.ensure_collections(database)
    yield database
    client.drop_database(name)
    client.close()


@pytest.fixture
def clean(db):
    """Empty the collections the test touches (the database is shared by the module for speed)."""
    yield db
    for name in ("household_daily", "forecasts", "tariff_comparison_monthly", "households", SERVING_LOADS):
        db[name].delete_many({})
    db["serving_manifests"].delete_many({})


def daily_rows(days=DAYS, households=HOUSEHOLDS, bump: float = 0.0) -> list[dict]:
    return [
        {
            "household_id": h,
            "tariff_group": "Std" if i % 2 else "ToU",
            "acorn_group": "Affluent",
            "energy_kwh": round(5.0 + i + d_i * 0.5 + bump, 3),
            "readings_present": 48,
            "readings_expected": 48,
            "completeness": 1.0,
            "local_date": date.fromisoformat(d),
        }
        for d_i, d in enumerate(days)
        for i, h in enumerate(households)
    ]


def write_partitioned(lake: Path, dataset: str, rows: list[dict], partition: str = "local_date") -> None:
    """Like Spark's dynamic partition overwrite: the partitions in ``rows`` are replaced, others kept."""
    table = pa.Table.from_pylist(rows)
    for value in {r[partition] for r in rows}:
        shutil.rmtree(lake / dataset / f"{partition}={value}", ignore_errors=True)
    pq.write_to_dataset(table, lake / dataset, partition_cols=[partition])


def content(db, name: str, flt: dict | None = None) -> list[dict]:
    docs = db[name].find(flt or {}, {"_id": 0, "_load_id": 0, "_loaded_at": 0})
    return sorted(docs, key=lambda d: json.dumps(d, sort_keys=True, default=str))


def checksum(db, name: str, flt: dict | None = None) -> str:
    return hashlib.sha256(json.dumps(content(db, name, flt), sort_keys=True, default=str).encode()).hexdigest()


def test_load_counts_keys_and_types(clean, tmp_path):
    db = clean
    write_partitioned(tmp_path, "household_daily", daily_rows())
    res = loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    assert res["read"] == res["inserted"] == res["upserted"] == 12
    assert res["slices"] == 3 and res["docs_per_s"] > 0
    assert db.household_daily.count_documents({}) == 12
    keys = {(d["household_id"], d["local_date"]) for d in db.household_daily.find()}
    assert keys == {(h, d) for h in HOUSEHOLDS for d in DAYS}
    doc = db.household_daily.find_one({"household_id": "MAC000002", "local_date": "2013-01-02"})
    assert doc["energy_kwh"] == pytest.approx(6.5)
    assert isinstance(doc["_loaded_at"], datetime) and doc["_load_id"].endswith("/2013-01-02")
    markers = list(db[SERVING_LOADS].find({"collection": "household_daily"}))
    assert sorted(m["slice"] for m in markers) == DAYS and all(not m.get("pending") for m in markers)


def test_timestamps_and_months(clean, tmp_path):
    db = clean
    t0 = datetime(2013, 3, 31, 0, 0, tzinfo=UTC)
    forecasts = [
        {
            "task": "group_halfhourly",
            "series_id": "tariff:Std",
            "model": "hgb_quantile",
            "model_version": "train_2013-03-24",
            "target_time_utc": t0 + timedelta(minutes=30 * i),
            "p10_kwh": 0.1,
            "p50_kwh": 0.2,
            "p90_kwh": 0.3,
            "actual_kwh": None,
            "local_date": date(2013, 3, 31),
        }
        for i in range(4)
    ]
    baselines = [f | {"model": "baseline_last_week", "model_version": "rule"} for f in forecasts]
    write_partitioned(tmp_path, "forecasts", forecasts + baselines)
    res = loader.load_dataset("forecasts", local_dates=["2013-03-31"], run_id="r", lake_dir=tmp_path, db=db)
    assert (res["rows"], res["inserted"]) == (4, 1), (
        "live forecasts serve the model only; the baselines stay in the lake"
    )
    assert db.forecasts.distinct("model") == [MODEL_NAME]
    doc = db.forecasts.find_one({"target_time_utc": t0 + timedelta(minutes=30)})
    assert doc["target_time_utc"] == [t0 + timedelta(minutes=30 * i) for i in range(4)]
    assert doc["local_date"] == "2013-03-31"
    assert doc["actual_kwh"] == [None] * 4

    tariff = [
        {"household_id": h, "saving_pence": 1.5, "dtou_outcome": "winner", "month": date(2013, m, 1)}
        for h in HOUSEHOLDS[:2]
        for m in (1, 2)
    ]
    write_partitioned(tmp_path, "tariff_comparison_monthly", tariff, partition="month")
    res = loader.load_dataset("tariff_comparison_monthly", months=["2013-02"], run_id="r", lake_dir=tmp_path, db=db)
    assert res["read"] == 2  # only the month asked for is read
    assert {d["month"] for d in db.tariff_comparison_monthly.find()} == {"2013-02"}


def halfhourly_forecasts(day: date, series: list[str], bump: dict[tuple[str, int], float] | None = None) -> list[dict]:
    """A day of half-hourly model forecasts per series, written in reverse time order (the lake's order is not the
    served one)."""
    t0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [
        {
            "task": "household_halfhourly",
            "series_id": sid,
            "model": MODEL_NAME,
            "model_version": "train_2013-03-24",
            "target_time_utc": t0 + timedelta(minutes=30 * i),
            "p10_kwh": 0.1 * i,
            "p50_kwh": 0.2 * i + (bump or {}).get((sid, i), 0.0),
            "p90_kwh": 0.3 * i,
            "actual_kwh": None,
            "local_date": day,
        }
        for sid in series
        for i in reversed(range(48))
    ]


def test_forecasts_are_served_one_document_per_series_and_day(clean, tmp_path):
    """Bucket pattern: 48 half-hours become one document with arrays in time order; a rerun writes nothing, one
    changed half-hour rewrites its day, and the unwound documents give back exactly the rows."""
    db, days, series = clean, [date(2013, 3, 5), date(2013, 3, 6)], ["MAC000002", "MAC000003", "MAC000004"]
    rows = [r for d in days for r in halfhourly_forecasts(d, series)]
    write_partitioned(tmp_path, "forecasts", rows)
    first = loader.load_dataset("forecasts", run_id="r1", lake_dir=tmp_path, db=db)
    assert (first["rows"], first["read"], first["inserted"]) == (288, 6, 6)
    assert db.forecasts.count_documents({}) == 6
    doc = db.forecasts.find_one({"series_id": "MAC000003", "local_date": "2013-03-06"})
    t0 = datetime(2013, 3, 6, tzinfo=UTC)
    assert doc["target_time_utc"] == [t0 + timedelta(minutes=30 * i) for i in range(48)]
    assert doc["p50_kwh"] == pytest.approx([0.2 * i for i in range(48)])
    assert doc["actual_kwh"] == [None] * 48

    before = checksum(db, "forecasts")
    again = loader.load_dataset("forecasts", run_id="r2", lake_dir=tmp_path, db=db)
    assert (again["inserted"], again["unchanged"], checksum(db, "forecasts")) == (0, 6, before)

    write_partitioned(tmp_path, "forecasts", halfhourly_forecasts(days[1], series, bump={("MAC000004", 17): 1.0}))
    changed = loader.load_dataset("forecasts", local_dates=["2013-03-06"], run_id="r3", lake_dir=tmp_path, db=db)
    assert (changed["modified"], changed["unchanged"], changed["inserted"]) == (1, 2, 3)
    doc = db.forecasts.find_one({"series_id": "MAC000004", "local_date": "2013-03-06"})
    assert doc["p50_kwh"][17] == pytest.approx(0.2 * 17 + 1.0)
    assert db.forecasts.count_documents({}) == 6

    served = pd.DataFrame(list(db.forecasts.find({}, {"_id": 0, "_load_id": 0, "_loaded_at": 0})))
    flat = loader.unbucket(served, spec("forecasts"))
    assert len(flat) == 288
    assert set(zip(flat.series_id, flat.target_time_utc, strict=True)) == {
        (r["series_id"], r["target_time_utc"]) for d in days for r in halfhourly_forecasts(d, series)
    }


def test_idempotent_rerun_same_counts_and_checksum(clean, tmp_path):
    db = clean
    write_partitioned(tmp_path, "household_daily", daily_rows())
    loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    before = (db.household_daily.count_documents({}), checksum(db, "household_daily"))
    again = loader.load_dataset("household_daily", run_id="r2", lake_dir=tmp_path, db=db)
    assert again["unchanged"] == 12 and again["inserted"] == 0  # unchanged slices are not rewritten
    forced = loader.load_dataset("household_daily", run_id="r3", lake_dir=tmp_path, db=db, skip_unchanged=False)
    assert forced["inserted"] == 12 and forced["replaced_docs"] == 12 and forced["unchanged"] == 12
    assert (db.household_daily.count_documents({}), checksum(db, "household_daily")) == before
    assert len({d["_load_id"] for d in db.household_daily.find()}) == 3  # one committed version per day


def test_slice_reload_replaces_only_that_slice_and_removes_stale_rows(clean, tmp_path):
    db = clean
    write_partitioned(tmp_path, "household_daily", daily_rows())
    loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    other_days = {"local_date": {"$ne": "2013-01-02"}}
    before_other = checksum(db, "household_daily", other_days)
    load_ids_other = {d["_load_id"] for d in db.household_daily.find(other_days)}

    # day 2 recomputed: one household gone, one value changed
    rows = [r for r in daily_rows() if r["local_date"] == date(2013, 1, 2) and r["household_id"] != "MAC000004"]
    rows[0]["energy_kwh"] = 99.0
    write_partitioned(tmp_path, "household_daily", rows)
    res = loader.load_dataset("household_daily", local_dates=["2013-01-02"], run_id="r2", lake_dir=tmp_path, db=db)
    assert (res["read"], res["modified"], res["unchanged"], res["deleted_stale"]) == (3, 1, 2, 1)
    assert db.household_daily.count_documents({"local_date": "2013-01-02"}) == 3
    assert db.household_daily.count_documents({}) == 11
    assert db.household_daily.find_one({"household_id": "MAC000001", "local_date": "2013-01-02"})["energy_kwh"] == 99
    assert checksum(db, "household_daily", other_days) == before_other
    assert {d["_load_id"] for d in db.household_daily.find(other_days)} == load_ids_other

    # a full reload after a partition disappeared from the lake empties that slice
    shutil.rmtree(tmp_path / "household_daily" / "local_date=2013-01-03")
    res = loader.load_dataset("household_daily", run_id="r3", lake_dir=tmp_path, db=db)
    assert res["deleted_stale"] == 4
    assert sorted(db.household_daily.distinct("local_date")) == ["2013-01-01", "2013-01-02"]


def test_failed_load_leaves_previous_slice_visible(clean, tmp_path, monkeypatch):
    db = clean
    write_partitioned(tmp_path, "household_daily", daily_rows())
    loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    committed = checksum(db, "household_daily")
    new = pa.Table.from_pylist(daily_rows(bump=10.0))

    # 1. the load raises after its first batch: it removes its own documents, the old slices stay as they were
    with pytest.raises(RuntimeError, match="simulated failure"):
        loader.load_table(new, "household_daily", run_id="r2", db=db, batch_size=2, _fail_after_batches=1)
    assert checksum(db, "household_daily") == committed
    assert all(not m.get("pending") for m in db[SERVING_LOADS].find({"collection": "household_daily"}))

    # 2. a hard crash (no cleanup either): partial documents remain, but readers filtering on the committed
    #    loads still see exactly the previous slices, and the next load removes the leftovers
    monkeypatch.setattr(loader, "_delete_ranges", lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(RuntimeError):
        loader.load_table(new, "household_daily", run_id="r3", db=db, batch_size=5, _fail_after_batches=1)
    monkeypatch.undo()
    assert db.household_daily.count_documents({}) == 12 + 4  # the first batch: day 1 (batches never span slices)
    assert checksum(db, "household_daily", loader.committed_filter(db, "household_daily")) == committed
    res = loader.load_dataset("household_daily", run_id="r4", lake_dir=tmp_path, db=db)
    assert res["replaced_docs"] == 12 + 4 and res["unchanged"] == 12
    assert db.household_daily.count_documents({}) == 12 and checksum(db, "household_daily") == committed
    assert all(not m.get("pending") for m in db[SERVING_LOADS].find({"collection": "household_daily"}))


def test_duplicate_keys_rejected_nothing_loaded(clean, tmp_path):
    db = clean
    rows = daily_rows(days=["2013-01-01"])
    rows.append(dict(rows[1], energy_kwh=1.0))
    write_partitioned(tmp_path, "household_daily", rows)
    with pytest.raises(loader.DuplicateKeyError, match=r"household_daily.*MAC000002"):
        loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    assert db.household_daily.count_documents({}) == 0
    assert db[SERVING_LOADS].count_documents({"collection": "household_daily"}) == 0


def test_indexes_and_collections_ensured(db):
    """Unique indexes everywhere; the query paths' indexes only where the server reads through indexes (MongoDB):
    FerretDB v1 filters every query outside its backend, so there they would only slow the inserts down."""
    feats = loader.server_features(db)
    db.household_daily.create_index([("local_date", 1), ("acorn_group", 1)], name="date_acorn")  # as made before
    again = loader.ensure_collections(db)  # idempotent
    assert set(again["collections"]) == set(REGISTRY)
    for name, s in REGISTRY.items():
        info = db[name].index_information()
        nk = info["natural_key_unique"]
        assert nk.get("unique") and [k for k, _ in nk["key"]] == list(s.key_index.fields), name
        rec = db[SERVING_COLLECTIONS].find_one({"_id": name})
        for ix in s.indexes:
            present = any([k for k, _ in v["key"]] == list(ix.fields) for v in info.values())
            assert present is feats["field_filters_use_indexes"], (name, ix)
            assert feats["field_filters_use_indexes"] or ix.name in rec["indexes_skipped"]["names"], (name, ix)
        assert rec["validator"] == "applied" or rec["validator"].startswith("skipped")
    if "MONGO_URI" not in os.environ:  # the embedded FerretDB, SQLite handler: only _id matches are pushed down
        assert feats["server"].startswith("ferretdb") and not feats["field_filters_use_indexes"]
    expected = "skipped" if feats["server"].startswith("ferretdb") else "applied"
    assert again["collections"]["household_daily"]["validator"].startswith(expected)


def test_collection_of_an_older_document_shape_is_emptied_and_reloaded(clean, tmp_path):
    """A store written when forecasts were one document per half-hour: ensure_collections empties it (the old
    documents would violate the new unique key), and a load then serves the lake's rows in the new shape."""
    db = clean
    rows = halfhourly_forecasts(date(2013, 3, 5), ["MAC000002"])
    flat_key = ["task", "series_id", "model", "model_version", "target_time_utc"]
    db.forecasts.drop_index("natural_key_unique")
    db.forecasts.create_index([(k, 1) for k in [*flat_key, "_load_id"]], name="natural_key_unique", unique=True)
    db.forecasts.insert_many([r | {"local_date": "2013-03-05", "_load_id": "old/2013-03-05"} for r in rows])
    db[SERVING_LOADS].insert_one({"_id": "forecasts|2013-03-05", "collection": "forecasts", "slice": "2013-03-05"})
    db[SERVING_COLLECTIONS].update_one({"_id": "forecasts"}, {"$set": {"document_key": flat_key}})

    report = loader.ensure_collections(db)
    assert report["reshaped"] == ["forecasts"]
    assert db.forecasts.count_documents({}) == 0 and db[SERVING_LOADS].count_documents({"collection": "forecasts"}) == 0
    keys = [k for k, _ in db.forecasts.index_information()["natural_key_unique"]["key"]]
    assert keys == [*spec("forecasts").doc_key, "_load_id"]
    assert loader.ensure_collections(db)["reshaped"] == [], "recorded: not emptied again"

    write_partitioned(tmp_path, "forecasts", rows)
    assert loader.load_dataset("forecasts", run_id="r", lake_dir=tmp_path, db=db)["inserted"] == 1
    assert len(db.forecasts.find_one()["p50_kwh"]) == 48


def test_unique_index_enforced(clean):
    doc = {"household_id": "X", "local_date": "2013-01-01", "_load_id": "l", "_loaded_at": datetime.now(UTC)}
    clean.household_daily.insert_one(dict(doc))
    with pytest.raises(MongoDuplicateKeyError):
        clean.household_daily.insert_one(dict(doc))


def test_households_from_csv(clean, tmp_path):
    csv = tmp_path / "household_information.csv"
    csv.write_text(
        'LCLid,stdorToU,Acorn,Acorn_grouped,file\nMAC000002,Std,ACORN-A,Affluent,"block_0"\n'
        'MAC000003,ToU,ACORN-,ACORN-,"block_0"\nMAC000004,Std,ACORN-Q,Adversity,"block_1"\n'
    )
    res = loader.load_households(run_id="r1", csv_path=csv, db=clean)
    assert res["read"] == 3
    docs = {d["household_id"]: d for d in clean.households.find()}
    assert docs["MAC000003"]["acorn_group"] == "unknown" and docs["MAC000003"]["acorn"] == "ACORN-"
    assert docs["MAC000002"]["tariff_group"] == "Std" and docs["MAC000002"]["acorn_group"] == "Affluent"


def test_dq_result_and_pipeline_run_upserts(db, tmp_path):
    summary = {
        "suite": "household_daily",
        "success": False,
        "expectations_evaluated": 5,
        "expectations_failed": 1,
        "failed": [{"expectation": "expect_x", "kwargs": {"column": "energy_kwh"}, "sample": [date(2013, 1, 1)]}],
        "local_dates": ["2013-01-01"],
    }
    for _ in range(2):
        loader.record_dq_result(summary, run_id="manual__1", dag_id="smartmeter_daily", db=db)
    assert db.dq_results.count_documents({"suite": "household_daily", "run_id": "manual__1"}) == 1
    doc = db.dq_results.find_one({"suite": "household_daily"})
    assert doc["success"] is False and doc["failed"][0]["sample"] == ["2013-01-01"]

    start = datetime(2013, 1, 1, tzinfo=UTC)
    loader.record_pipeline_run(
        "smartmeter_daily", "manual__1", data_interval_start=start, row_counts={"ingest": 10}, db=db
    )
    loader.record_pipeline_run(
        "smartmeter_daily", "manual__1", status="success", row_counts={"load": 8}, durations_s={"load": 1.5}, db=db
    )
    runs = list(db.pipeline_runs.find({"dag_id": "smartmeter_daily", "run_id": "manual__1"}))
    assert len(runs) == 1
    assert runs[0]["row_counts"] == {"ingest": 10, "load": 8} and runs[0]["status"] == "success"
    assert runs[0]["data_interval_start"] == start and runs[0]["durations_s"] == {"load": 1.5}


def test_reload_of_many_slices_in_one_load(clean, tmp_path):
    """A history reload replaces hundreds of day slices at once. FerretDB v1 holds a connection per matched
    statement of an update command (100 in its pool), so the loader's marker updates must be split: loading and
    then reloading 130 days must finish, with every slice's new version visible."""
    db = clean
    days = [(date(2013, 1, 1) + timedelta(days=i)).isoformat() for i in range(130)]
    write_partitioned(tmp_path, "household_daily", daily_rows(days=days, households=HOUSEHOLDS[:1]))
    first = loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    assert first["inserted"] == 130
    shutil.rmtree(tmp_path / "household_daily")
    write_partitioned(tmp_path, "household_daily", daily_rows(days=days, households=HOUSEHOLDS[:1], bump=1.0))
    second = loader.load_dataset("household_daily", run_id="r2", lake_dir=tmp_path, db=db)
    assert second["modified"] == 130 and second["replaced_docs"] == 130
    assert db["household_daily"].count_documents({}) == 130
    markers = list(db[SERVING_LOADS].find({"collection": "household_daily"}))
    assert len(markers) == 130 and not any(m.get("pending") for m in markers)


def test_reload_after_the_collection_was_dropped(clean, tmp_path):
    """Slice markers must not outlive their documents: after a hand-dropped collection the next load refills it."""
    db = clean
    write_partitioned(tmp_path, "household_daily", daily_rows())
    loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    db.drop_collection("household_daily")
    again = loader.load_dataset("household_daily", run_id="r2", lake_dir=tmp_path, db=db)
    assert again["inserted"] == 12
    assert db.household_daily.count_documents({}) == 12


def test_compaction_pays_when_deletes_would_read_the_collection_many_times():
    chunk = loader.DELETE_CHUNK
    assert not loader.compaction_pays(docs_total=100_000, docs_garbage=2_000)  # one read beats a copy
    assert loader.compaction_pays(docs_total=200_000, docs_garbage=100_000)  # four reads lose to one copy
    assert loader.compaction_pays(docs_total=9_000_000, docs_garbage=4_500_000)  # a history reload: 150 reads
    assert not loader.compaction_pays(docs_total=10 * chunk, docs_garbage=chunk)


def test_reload_by_compaction_equals_reload_by_range_deletes(clean, tmp_path, monkeypatch):
    """Two reloads of the same data, one removing the old versions by range deletes, one by copying the
    collection and swapping the copy in, leave the same documents, indexes and markers; the decision is by
    cost, taken only where deletes read the whole collection (FerretDB)."""
    db = clean
    write_partitioned(tmp_path, "household_daily", daily_rows())
    loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    write_partitioned(tmp_path, "household_daily", daily_rows(bump=1.0))
    by_range = loader.load_dataset("household_daily", run_id="r2", lake_dir=tmp_path, db=db, compact=False)
    expected = checksum(db, "household_daily")
    assert not by_range["compacted"] and by_range["replaced_docs"] == 12

    write_partitioned(tmp_path, "household_daily", daily_rows())
    loader.load_dataset("household_daily", run_id="r3", lake_dir=tmp_path, db=db, compact=True)
    write_partitioned(tmp_path, "household_daily", daily_rows(bump=1.0))
    committed_ids = {d["_id"] for d in db.household_daily.find()}
    monkeypatch.setattr(loader, "DELETE_CHUNK", 2)  # six delete commands for 12 documents: a copy is cheaper
    by_cost = loader.load_dataset("household_daily", run_id="r4", lake_dir=tmp_path, db=db)
    assert by_cost["compacted"] is loader.server_features(db)["deletes_scan"]
    assert by_cost["replaced_docs"] == 12 and by_cost["modified"] == 12
    assert db.household_daily.count_documents({}) == 12 and checksum(db, "household_daily") == expected
    assert not committed_ids & {d["_id"] for d in db.household_daily.find()}
    info = db.household_daily.index_information()
    assert info["natural_key_unique"]["unique"]
    assert ({"date_acorn", "date_tariff"} <= set(info)) is loader.server_features(db)["field_filters_use_indexes"]
    with pytest.raises(MongoDuplicateKeyError):
        db.household_daily.insert_one({k: v for k, v in db.household_daily.find_one().items() if k != "_id"})
    assert not any(m.get("pending") for m in db[SERVING_LOADS].find({"collection": "household_daily"}))
    assert not [n for n in db.list_collection_names() if n.startswith("household_daily__")]
    assert checksum(db, "household_daily", loader.committed_filter(db, "household_daily")) == expected


def test_compaction_stopped_between_its_renames_is_completed_by_the_next_load(clean, tmp_path, monkeypatch):
    db = clean
    write_partitioned(tmp_path, "household_daily", daily_rows())
    loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    write_partitioned(tmp_path, "household_daily", daily_rows(bump=1.0))

    def first_rename_only(database, name):
        database[name].rename(name + loader.SWAPPED_SUFFIX)
        raise OSError("killed between the renames")

    monkeypatch.setattr(loader, "_swap", first_rename_only)
    with pytest.raises(OSError, match="between the renames"):
        loader.load_dataset("household_daily", run_id="r2", lake_dir=tmp_path, db=db, compact=True)
    monkeypatch.undo()
    assert "household_daily" not in db.list_collection_names()
    # the next load finds the finished copy and puts it in place (the new version, committed before the swap);
    # the slices still list the old versions as pending, so it rewrites them, deleting what is left (nothing)
    again = loader.load_dataset("household_daily", run_id="r3", lake_dir=tmp_path, db=db)
    assert again["unchanged"] == 12 and again["replaced_docs"] == 12 and db.household_daily.count_documents({}) == 12
    assert checksum(db, "household_daily") == checksum_of_rows(db, daily_rows(bump=1.0))
    assert not [n for n in db.list_collection_names() if n.startswith("household_daily__")]


def test_compaction_stopped_while_copying_leaves_the_collection_whole(clean, tmp_path, monkeypatch):
    db = clean
    write_partitioned(tmp_path, "household_daily", daily_rows())
    loader.load_dataset("household_daily", run_id="r1", lake_dir=tmp_path, db=db)
    write_partitioned(tmp_path, "household_daily", daily_rows(bump=1.0))
    monkeypatch.setattr(loader, "_swap", lambda database, name: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        loader.load_dataset("household_daily", run_id="r2", lake_dir=tmp_path, db=db, compact=True)
    monkeypatch.undo()
    # committed: the new version; the old one is still there, pending, and the unfinished copy beside it
    assert db.household_daily.count_documents({}) == 24
    assert "household_daily" + loader.COMPACT_SUFFIX in db.list_collection_names()
    committed = loader.committed_filter(db, "household_daily")
    assert checksum(db, "household_daily", committed) == checksum_of_rows(db, daily_rows(bump=1.0))
    loader.ensure_collections(db, names=["household_daily"])  # drops the unfinished copy
    assert "household_daily" + loader.COMPACT_SUFFIX not in db.list_collection_names()
    # a version pending on a slice (another load at work, for all the loader knows) blocks a compaction
    write_partitioned(tmp_path, "household_daily", daily_rows(days=DAYS[:1], bump=2.0))
    res = loader.load_dataset(
        "household_daily", local_dates=DAYS[:1], run_id="r3", lake_dir=tmp_path, db=db, compact=True
    )
    assert not res["compacted"] and res["replaced_docs"] == 4 + 4  # day 1's old and superseded versions
    assert db.household_daily.count_documents({}) == 12 + 8  # days 2 and 3 still have their old versions pending
    final = loader.load_dataset("household_daily", run_id="r4", lake_dir=tmp_path, db=db, skip_unchanged=False)
    assert final["replaced_docs"] == 12 + 8 and db.household_daily.count_documents({}) == 12


def checksum_of_rows(db, rows: list[dict]) -> str:
    """The checksum of ``rows`` as the loader serves them: loaded into a scratch collection of its own."""
    scratch = db.client[db.name + "_x"]
    try:
        loader.ensure_collections(scratch, names=["household_daily"])
        loader.load_table(pa.Table.from_pylist(rows), "household_daily", run_id="x", db=scratch)
        return checksum(scratch, "household_daily")
    finally:
        db.client.drop_database(scratch.name)
