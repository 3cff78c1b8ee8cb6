"""End-to-end ingestion on the real sample and on a corrupted-file corpus generated in tmp_path.

One ingest run covers the whole corpus (every bad file next to good ones, so "the other files still ingest" is
checked by the same run); each test then checks one file's outcome in the accounting and the outputs.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pds
import pytest

from spark_jobs import ingest
from spark_jobs.ingest import main, parse_args, run

HEADER = "LCLid,stdorToU,DateTime,KWH/hh (per half hour) "
INFO = "LCLid,stdorToU,Acorn,Acorn_grouped,file\r\n" + "".join(
    f'MAC00000{i},{"ToU" if i == 5 else "Std"},ACORN-A,Affluent,"block_0"\r\n' for i in range(1, 10)
)


def lcl_line(hh: str, ts: datetime, kwh: str, tariff: str | None = "Std") -> str:
    """A line of the original layout: .0000000 fraction, space-padded reading."""
    fields = [hh] + ([tariff] if tariff is not None else []) + [f"{ts:%Y-%m-%d %H:%M:%S}.0000000", f" {kwh} "]
    return ",".join(fields)


def day_lines(hh: str, local_day: date, kwh: str = "0.25") -> list[str]:
    """Every half hour of a Europe/London day, as UTC (GMT clock) start times."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/London")
    start = datetime(local_day.year, local_day.month, local_day.day, tzinfo=tz).astimezone(UTC)
    nxt = local_day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
    out, t = [], start
    while t < end:
        out.append(lcl_line(hh, t.replace(tzinfo=None), kwh))
        t += timedelta(minutes=30)
    return out


def write(path, lines: list[str], eol: str = "\r\n", header: str | None = HEADER, final_eol: bool = True) -> None:
    body = eol.join(([header] if header is not None else []) + lines) + (eol if final_eol else "")
    path.write_bytes(body.encode("utf-8"))


T0 = datetime(2013, 1, 10, 0, 0)


def read_clean(lake) -> pd.DataFrame:
    """readings_halfhourly as pandas, local_date typed as a date (as Spark writes the partition)."""
    part = pds.partitioning(pa.schema([("local_date", pa.date32())]), flavor="hive")
    return pds.dataset(lake / "readings_halfhourly", partitioning=part).to_table().to_pandas()


def t(i: int) -> datetime:
    return T0 + timedelta(minutes=30 * i)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    land = d / "landing"
    land.mkdir()
    (d / "info.csv").write_text(INFO)
    good = [lcl_line("MAC000001", t(i), f"{0.1 * i:.3f}") for i in range(6)]
    write(land / "good.csv", good)
    (land / "empty.csv").write_bytes(b"")
    write(land / "header_only.csv", [])
    write(land / "wrong_header.csv", ["1,2,3", "4,5,6"], header="foo,bar,baz")
    (land / "bom.csv").write_bytes(
        (
            "\ufeff" + HEADER + "\r\n" + "\r\n".join(lcl_line("MAC000002", t(i), "0.5") for i in range(2)) + "\r\n"
        ).encode()
    )
    (land / "latin1.csv").write_bytes(
        (HEADER + "\r\n" + lcl_line("MAC000003", t(0), "0.1") + "\r\n").encode()
        + "MAC000003,Std,2013-01-10 00:30:00.0000000, 0.1\xe9 \r\n".encode("latin-1")
    )
    write(land / "truncated.csv", [lcl_line("MAC000004", t(0), "0.1"), "MAC000004,Std,2013-01-10 00:"], final_eol=False)
    with gzip.open(land / "good2.csv.gz", "wt", newline="") as fh:
        fh.write(HEADER + "\r\n" + "\r\n".join(lcl_line("MAC000005", t(i), "0.2", "ToU") for i in range(4)) + "\r\n")
    gz_bytes = gzip.compress(
        ("\r\n".join([HEADER] + [lcl_line("MAC000006", t(i), "0.2") for i in range(3000)])).encode()
    )
    (land / "corrupt.csv.gz").write_bytes(gz_bytes[: len(gz_bytes) // 2])
    (land / "picture.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    write(
        land / "nulls.csv",
        [lcl_line("MAC000007", t(0), "Null").replace(" Null ", "Null"), lcl_line("MAC000007", t(1), "0.3")],
    )
    write(land / "negative.csv", [lcl_line("MAC000007", t(2), "-0.5")])
    write(land / "absurd.csv", [lcl_line("MAC000007", t(3), "9999")])
    write(
        land / "dups.csv",
        [
            lcl_line("MAC000008", t(0), "0.1"),
            lcl_line("MAC000008", t(0), "0.1"),  # exact duplicate
            lcl_line("MAC000008", t(1), "0.2"),
            lcl_line("MAC000008", t(1), "0.9"),  # conflicting: the last line wins -> 0.9
            lcl_line("MAC000008", t(2), "0.3"),
        ],
    )
    write(
        land / "offgrid.csv",
        [
            lcl_line("MAC000009", datetime(2013, 1, 10, 12, 37, 27), "0.1"),
            "MAC000009,Std,2013-01-10 13:00:00.5000000, 0.1 ",
            "MAC000009,Std,2013-02-30 13:00:00.0000000, 0.1 ",
            "MAC000009,Std,yesterday, 0.1 ",
            lcl_line("MAC000009", t(5), "0.1"),
        ],
    )
    write(land / "dst.csv", day_lines("MAC000001", date(2013, 3, 31)) + day_lines("MAC000001", date(2013, 10, 27)))
    write(land / "stranger.csv", [lcl_line("MAC999999", t(0), "0.1"), lcl_line("MAC000002", t(9), "0.1")])
    write(
        land / "kaggle_block_0.csv",
        [f"MAC000005,{t(20 + i):%Y-%m-%d %H:%M:%S}.0000000,{0.01 * i:.3f}" for i in range(3)]
        + ["MAC000005,2013-01-10 12:00:00.0000000,Null"],
        eol="\n",
        header="LCLid,tstp,energy(kWh/hh)",
    )
    lake = d / "lake"
    rc = main(
        ["--input", str(land), "--lake", str(lake), "--household-info", str(d / "info.csv"), "--run-id", "corpus"]
    )
    report = json.loads((lake / "readings_halfhourly" / "_ingest_runs" / "corpus.json").read_text())
    clean = read_clean(lake)
    rejected = pds.dataset(lake / "readings_rejected").to_table().to_pandas()
    accounting = pds.dataset(lake / "ingest_accounting", partitioning="hive").to_table().to_pandas()
    return {
        "rc": rc,
        "report": report,
        "files": {f["source_file"]: f for f in report["files"]},
        "clean": clean,
        "rejected": rejected,
        "accounting": accounting,
        "land": land,
    }


def rejected_of(corpus, name):
    r = corpus["rejected"]
    return r[r.source_file == name].sort_values("line_number")


def clean_of(corpus, name):
    c = corpus["clean"]
    return c[c.source_file == name].sort_values("interval_start_utc")


def test_run_completes_balanced_and_stores_accounting(corpus):
    assert corpus["rc"] == 0
    assert corpus["report"]["all_balanced"]
    acc = corpus["accounting"]
    assert set(acc.source_file) == set(corpus["files"])
    assert (acc.run_id.astype(str) == "corpus").all()
    lhs = acc.rows_read
    rhs = acc.rows_clean + acc.rows_quarantined + acc.duplicates_exact + acc.duplicates_conflicting
    assert (lhs == rhs).all()
    assert sorted(corpus["report"]["files_failed"]) == ["corrupt.csv.gz", "picture.csv", "wrong_header.csv"]


def test_rows_read_matches_an_independent_line_count(corpus):
    for f in corpus["land"].iterdir():
        rec = corpus["files"][f.name]
        if rec["status"] not in ("ok", "bad_header"):
            continue
        raw = gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_bytes()
        lines = [x for x in raw.replace(b"\r\n", b"\n").split(b"\n") if x.strip()]
        expected = len(lines) - (1 if rec["status"] == "ok" else 0)
        assert rec["rows_read"] == expected, f.name


def test_good_file(corpus):
    c = clean_of(corpus, "good.csv")
    assert list(c.energy_kwh.round(3)) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert c.interval_start_utc.iloc[0] == pd.Timestamp("2013-01-10 00:00:00")  # start of the half hour, UTC
    assert list(c.halfhour_local) == [0, 1, 2, 3, 4, 5]
    assert set(c.tariff_group) == {"Std"}


def test_empty_file(corpus):
    rec = corpus["files"]["empty.csv"]
    assert (rec["status"], rec["rows_read"], rec["error"]) == ("empty", 0, None)


def test_header_only(corpus):
    rec = corpus["files"]["header_only.csv"]
    assert (rec["status"], rec["header_lines"], rec["rows_read"]) == ("ok", 1, 0)


def test_wrong_header_is_quarantined_with_error(corpus):
    rec = corpus["files"]["wrong_header.csv"]
    assert rec["status"] == "bad_header"
    assert "wrong_header.csv" in rec["error"]
    assert rec["rejected_bad_header"] == rec["rows_read"] == 3
    assert list(rejected_of(corpus, "wrong_header.csv").line_number) == [1, 2, 3]


def test_utf8_bom(corpus):
    rec = corpus["files"]["bom.csv"]
    assert (rec["status"], rec["header_lines"], rec["rows_written"]) == ("ok", 1, 2)


def test_non_utf8_bytes(corpus):
    rec = corpus["files"]["latin1.csv"]
    assert (rec["rows_written"], rec["rejected_bad_encoding"]) == (1, 1)
    assert list(rejected_of(corpus, "latin1.csv").line_number) == [3]


def test_truncated_last_line(corpus):
    rec = corpus["files"]["truncated.csv"]
    assert (rec["rows_written"], rec["rejected_bad_column_count"]) == (1, 1)
    rej = rejected_of(corpus, "truncated.csv")
    assert list(rej.line_number) == [3]
    assert rej.raw_line.iloc[0] == "MAC000004,Std,2013-01-10 00:"


def test_gzip_file(corpus):
    rec = corpus["files"]["good2.csv.gz"]
    assert (rec["status"], rec["rows_written"]) == ("ok", 4)
    assert set(clean_of(corpus, "good2.csv.gz").tariff_group) == {"ToU"}


def test_corrupt_gzip_is_named_and_others_ingest(corpus):
    rec = corpus["files"]["corrupt.csv.gz"]
    assert rec["status"] == "unreadable"
    assert "corrupt.csv.gz" in rec["error"]
    assert rec["rows_read"] == 0
    assert len(clean_of(corpus, "good.csv")) == 6


def test_not_csv(corpus):
    rec = corpus["files"]["picture.csv"]
    assert rec["status"] == "unreadable"
    assert "picture.csv" in rec["error"] and "not a text CSV" in rec["error"]


def test_null_negative_absurd(corpus):
    f = corpus["files"]
    assert (f["nulls.csv"]["rejected_null_reading"], f["nulls.csv"]["rows_written"]) == (1, 1)
    assert f["negative.csv"]["rejected_negative_reading"] == 1
    assert f["absurd.csv"]["rejected_implausible_reading"] == 1
    assert rejected_of(corpus, "absurd.csv").raw_line.iloc[0].endswith(" 9999 ")


def test_duplicates_exact_and_conflicting(corpus):
    rec = corpus["files"]["dups.csv"]
    assert (rec["rows_read"], rec["rows_written"], rec["duplicates_exact"], rec["duplicates_conflicting"]) == (
        5,
        3,
        1,
        1,
    )
    assert list(clean_of(corpus, "dups.csv").energy_kwh) == [0.1, 0.9, 0.3]  # the later line wins


def test_off_grid_and_unparseable_times(corpus):
    rec = corpus["files"]["offgrid.csv"]
    assert (rec["rejected_off_grid_time"], rec["rejected_unparseable_time"], rec["rows_written"]) == (2, 2, 1)
    rej = rejected_of(corpus, "offgrid.csv")
    assert list(zip(rej.line_number, rej.reason, strict=True)) == [
        (2, "off_grid_time"),
        (3, "off_grid_time"),
        (4, "unparseable_time"),
        (5, "unparseable_time"),
    ]


def test_dst_days_have_46_and_50_slots(corpus):
    c = clean_of(corpus, "dst.csv")
    per_day = c.groupby("local_date").halfhour_local.agg(["count", "nunique", "min", "max"])
    spring, autumn = per_day.loc[date(2013, 3, 31)], per_day.loc[date(2013, 10, 27)]
    assert (spring["count"], spring["nunique"], spring["min"], spring["max"]) == (46, 46, 0, 47)
    assert (autumn["count"], autumn["nunique"], autumn["min"], autumn["max"]) == (50, 48, 0, 47)
    spring_slots = set(c[c.local_date == date(2013, 3, 31)].halfhour_local)
    assert {2, 3}.isdisjoint(spring_slots)
    autumn_first = c[c.local_date == date(2013, 10, 27)].interval_start_utc.min()
    assert autumn_first == pd.Timestamp("2013-10-26 23:00:00")


def test_unknown_household(corpus):
    rec = corpus["files"]["stranger.csv"]
    assert (rec["rejected_unknown_household"], rec["rows_written"]) == (1, 1)
    assert rejected_of(corpus, "stranger.csv").household_id.tolist() == ["MAC999999"]


def test_kaggle_layout_joins_tariff(corpus):
    rec = corpus["files"]["kaggle_block_0.csv"]
    assert (rec["layout"], rec["rows_written"], rec["rejected_null_reading"]) == ("kaggle_halfhourly", 3, 1)
    assert set(clean_of(corpus, "kaggle_block_0.csv").tariff_group) == {"ToU"}  # from household information


def test_rejected_rows_carry_run_id_and_partitions_are_by_local_date(corpus):
    assert set(corpus["rejected"].run_id) == {"corpus"}
    lake = corpus["land"].parent / "lake" / "readings_halfhourly"
    assert all(p.name.startswith(("local_date=", "_")) for p in lake.iterdir())


def test_real_sample_accounting(spark, reference_dir, tmp_path, monkeypatch):
    """MAC000002: 24,158 rows = 24,140 clean + 1 quarantined (off-grid Null) + 17 exact duplicates.

    Run with tiny chunks so the file is read by 5 tasks: line numbers must still be exact."""
    monkeypatch.setattr(ingest, "CHUNK_BYTES", 200 * 1024)
    args = parse_args(["--input", str(reference_dir / "lcl_sample"), "--lake", str(tmp_path), "--run-id", "r1"])
    report = run(spark, args)
    (rec,) = report["files"]
    assert (rec["rows_read"], rec["rows_clean"], rec["rows_quarantined"]) == (24158, 24140, 1)
    assert (rec["duplicates_exact"], rec["duplicates_conflicting"], rec["rejected_off_grid_time"]) == (17, 0, 1)
    assert rec["rows_read"] == rec["rows_clean"] + rec["rows_quarantined"] + rec["duplicates_exact"]
    rej = pds.dataset(tmp_path / "readings_rejected").to_table().to_pandas()
    assert rej[["line_number", "reason"]].values.tolist() == [[3242, "off_grid_time"]]
    assert rej.raw_line.iloc[0] == "MAC000002,2012-12-19 12:37:27.0000000,Null"
    clean = read_clean(tmp_path)
    days = clean.groupby("local_date").size()
    assert len(clean) == 24140 and clean.tariff_group.eq("Std").all()
    assert clean.interval_start_utc.min() == pd.Timestamp("2012-10-12 00:30:00")
    # the missing day: nothing between 2012-11-08 00:00 and 2012-11-09 00:30 UTC
    assert days.loc[date(2012, 11, 8)] == 1 and days.loc[date(2012, 11, 9)] == 47
    assert days.loc[date(2013, 3, 31)] == 46 and days.loc[date(2013, 10, 27)] == 50
