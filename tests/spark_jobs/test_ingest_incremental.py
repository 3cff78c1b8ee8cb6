"""Incremental re-ingestion: one file's or one day's data replaces exactly its own rows.

The trap: file A holds households 1-2 and file B household 3 on the same days. Re-ingesting A must not erase
B's rows on the days A touches (a dynamic overwrite of those local_date partitions would).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow.dataset as pds
import pytest

from spark_jobs.ingest import parse_args, run
from tests.spark_jobs.test_ingest import lcl_line, read_clean, write

INFO = "LCLid,stdorToU,Acorn,Acorn_grouped,file\r\n" + "".join(
    f"MAC00000{i},Std,ACORN-A,Affluent,block_0\r\n" for i in range(1, 4)
)
DAYS = [date(2013, 1, 10), date(2013, 1, 11), date(2013, 1, 12)]


def rows(hh: str, days: list[date], kwh: dict | None = None) -> list[str]:
    """4 half hours (10:00-11:30 GMT) per day; ``kwh`` overrides the reading per day."""
    out = []
    for d in days:
        for i in range(4):
            ts = datetime(d.year, d.month, d.day, 10) + timedelta(minutes=30 * i)
            out.append(lcl_line(hh, ts, (kwh or {}).get(d, "0.100")))
    return out


def ingest(spark, tmp_path, folder, run_id, *extra):
    argv = ["--input", str(folder), "--lake", str(tmp_path / "lake"), "--household-info", str(tmp_path / "info.csv")]
    return run(spark, parse_args([*argv, "--run-id", run_id, *extra]))


def summary(lake) -> dict:
    """(source_file, household, day) -> (rows, total kWh)."""
    g = read_clean(lake).groupby(["source_file", "household_id", "local_date"]).energy_kwh.agg(["count", "sum"])
    return {k: (int(v["count"]), round(float(v["sum"]), 3)) for k, v in g.iterrows()}


def test_reingest_file_and_day_keep_other_files(spark, tmp_path):
    (tmp_path / "info.csv").write_text(INFO)
    v1, v2, v3 = (tmp_path / n for n in ("v1", "v2", "v3"))
    for d in (v1, v2, v3):
        d.mkdir()
    write(
        v1 / "A.csv",
        rows("MAC000001", DAYS) + rows("MAC000002", DAYS) + [lcl_line("MAC000001", datetime(2013, 1, 10, 12), "Null")],
    )
    write(v1 / "B.csv", rows("MAC000003", DAYS) + [lcl_line("MAC000003", datetime(2013, 1, 10, 12), "-1")])
    r1 = ingest(spark, tmp_path, v1, "r1")
    assert r1["all_balanced"] and r1["totals"]["rows_written"] == 36
    lake = tmp_path / "lake"
    s1 = summary(lake)
    assert len(s1) == 9 and all(v == (4, 0.4) for v in s1.values())

    # Re-ingest file A only: a day-2 reading changes, day 3 is gone from the file, the Null is fixed.
    write(v2 / "A.csv", rows("MAC000001", DAYS[:2], {DAYS[1]: "0.900"}) + rows("MAC000002", DAYS[:2]))
    r2 = ingest(spark, tmp_path, v2, "r2")
    s2 = summary(lake)
    for d in DAYS:  # B untouched on every day A touched
        assert s2[("B.csv", "MAC000003", d)] == (4, 0.4)
    assert s2[("A.csv", "MAC000001", DAYS[1])] == (4, 3.6)
    assert ("A.csv", "MAC000001", DAYS[2]) not in s2 and ("A.csv", "MAC000002", DAYS[2]) not in s2
    assert len(s2) == 7 and r2["partitions_written"] == 3
    rej = pds.dataset(lake / "readings_rejected").to_table().to_pandas()
    assert rej[["source_file", "reason"]].values.tolist() == [["B.csv", "negative_reading"]]

    # Re-ingest one day of file A: only day 1 changes, although the file also carries a new day-2 value.
    write(v3 / "A.csv", rows("MAC000001", DAYS[:2], {DAYS[0]: "0.500", DAYS[1]: "0.250"}) + rows("MAC000002", DAYS[:2]))
    r3 = ingest(spark, tmp_path, v3, "r3", "--local-date", "2013-01-10")
    s3 = summary(lake)
    assert s3[("A.csv", "MAC000001", DAYS[0])] == (4, 2.0)
    assert s3[("A.csv", "MAC000001", DAYS[1])] == (4, 3.6)  # day 2 kept from r2
    assert s3[("B.csv", "MAC000003", DAYS[0])] == (4, 0.4)
    (a,) = r3["files"]
    assert (a["rows_written"], a["rows_out_of_range"], a["rows_clean"], a["rows_read"]) == (8, 8, 16, 16)
    assert r3["partitions_written"] == 1
    acc = pds.dataset(lake / "ingest_accounting", partitioning="hive").to_table().to_pandas()
    assert sorted(acc.run_id.astype(str).unique()) == ["r1", "r2", "r3"]
    assert not (lake / "_staging" / "r3").exists()


def test_date_range_arguments(tmp_path):
    a = parse_args(["--input", "x", "--from-date", "2013-01-01", "--to-date", "2013-01-31"])
    assert (a.from_date, a.to_date) == (date(2013, 1, 1), date(2013, 1, 31))
    with pytest.raises(SystemExit):
        parse_args(["--input", "x", "--local-date", "2013-01-01", "--from-date", "2013-01-01"])
    with pytest.raises(SystemExit):
        parse_args(["--input", "x", "--from-date", "2013-02-01", "--to-date", "2013-01-31"])


def test_households_sample_balances_and_writes_only_the_sample(spark, tmp_path):
    (tmp_path / "info.csv").write_text(INFO)
    land = tmp_path / "land"
    land.mkdir()
    write(land / "A.csv", rows("MAC000001", DAYS) + rows("MAC000002", DAYS) + rows("MAC000003", DAYS))
    r = ingest(spark, tmp_path, land, "s1", "--households", "2", "--sample-seed", "3")
    (a,) = r["files"]
    assert r["all_balanced"] and r["households_sample"] == {"requested": 2, "seed": 3, "selected": 2}
    assert (a["rows_read"], a["rows_written"], a["rows_not_sampled"]) == (36, 24, 12)
    assert r["totals"]["rows_not_sampled"] == 12
    written = set(read_clean(tmp_path / "lake").household_id)
    assert len(written) == 2
    r2 = ingest(spark, tmp_path, land, "s2", "--households", "2", "--sample-seed", "3")
    assert set(read_clean(tmp_path / "lake").household_id) == written  # deterministic
    assert r2["totals"]["rows_not_sampled"] == 12
    assert parse_args(["--input", "x", "--households", "0"]).households is None  # 0 = all (the DAG form's default)
    with pytest.raises(SystemExit):
        parse_args(["--input", "x", "--households", "-1"])
