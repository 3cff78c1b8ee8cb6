"""The pure pieces of the ingestion job on tiny inputs: header detection, chunk boundaries, line classification,
time columns, the duplicate rule and the household sample."""

from __future__ import annotations

import datetime as dt
import gzip

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spark_jobs.ingest import sample_households
from spark_jobs.ingestion.accounting import partition_folder
from spark_jobs.ingestion.dedup import OUTCOMES, clean_table, resolve
from spark_jobs.ingestion.parse import (
    VALID_ROWS,
    Chunk,
    Reference,
    classify,
    csv_fields,
    line_fields,
    local_day_and_slot,
    parse_readings,
    parse_times,
    read_blocks,
    split_lines,
)
from spark_jobs.ingestion.probe import STATUS_OK, STATUS_UNREADABLE, parse_header, probe_file

HEADER = "LCLid,stdorToU,DateTime,KWH/hh (per half hour) "
LCL = parse_header(HEADER)
REF = Reference(pa.array(["MAC000001"]), pa.array(["Std"]), 10.0, "Europe/London")


def test_headers_are_detected_by_name():
    assert (LCL.name, LCL.ncols, LCL.household, LCL.tariff, LCL.time, LCL.kwh) == ("lcl_original", 4, 0, 1, 2, 3)
    no_tariff = parse_header("LCLid,DateTime,KWH/hh (per half hour),Acorn,Acorn_grouped")
    assert (no_tariff.tariff, no_tariff.kwh, no_tariff.ncols) == (None, 2, 5)
    kaggle = parse_header("LCLid,tstp,energy(kWh/hh)")
    assert (kaggle.name, kaggle.time, kaggle.kwh) == ("kaggle_halfhourly", 1, 2)
    assert parse_header("id,time,value").name == "bad_header"
    assert parse_header("LCLid,DateTime").name == "bad_header"


def test_probe_counts_gzip_files_at_their_decompressed_size(tmp_path):
    """Tasks and buckets are sized by CSV text, so a gzip file must not count at its (~6x smaller) size on disk."""
    text = (HEADER + "\r\n" + "MAC000001,Std,2013-01-10 00:30:00.0000000, 0.123 \r\n" * 5000).encode()
    plain, gz, cut = tmp_path / "a.csv", tmp_path / "a2.csv.gz", tmp_path / "a3.csv.gz"
    plain.write_bytes(text)
    gz.write_bytes(gzip.compress(text))
    cut.write_bytes(gz.read_bytes()[:-100])
    p, g, c = probe_file(str(plain)), probe_file(str(gz)), probe_file(str(cut))
    assert (p.status, p.text_bytes, p.size_bytes) == (STATUS_OK, len(text), len(text))
    assert (g.status, g.compressed, g.text_bytes) == (STATUS_OK, True, len(text))
    assert g.size_bytes < len(text) // 10
    assert c.status == STATUS_UNREADABLE and "a3.csv.gz" in c.error


def chunk(path="f.csv", start=0, end=0, chunk_id=0, layout=LCL, compressed=False) -> Chunk:
    return Chunk(chunk_id, str(path), "f.csv", start, end, compressed, layout, (HEADER,))


def classified(values: list[str], ref: Reference = REF):
    text, bad = split_lines("\n".join(values).encode())
    return classify(line_fields(text, bad, chunk(), 0), chunk(), ref)


def statuses(values: list[str]) -> list[tuple]:
    """(line, status, reason, kWh) of every line, from the valid and rejected rows and the counts."""
    valid, rejected, counts = classified(values)
    out = {
        line: ("valid", None, kwh)
        for line, kwh in zip(valid["line"].to_pylist(), valid["energy_kwh"].to_pylist(), strict=True)
    }
    out |= {
        line: ("rejected", r, None)
        for line, r in zip(rejected["line"].to_pylist(), rejected["reason"].to_pylist(), strict=True)
    }
    assert (
        counts["valid"] == valid.num_rows
        and sum(counts[r] for r in set(rejected["reason"].to_pylist())) == rejected.num_rows
    )
    return [(i, *out.get(i, ("other", None, None))) for i in range(1, len(values) + 1)]


def test_each_line_gets_one_status_and_reason():
    values = [
        HEADER,
        "MAC000001,Std,2013-01-10 00:30:00.0000000, 0.25 ",
        "",
        "MAC000001,Std,2013-01-10 00:30:00",
        "MAC000002,Std,2013-01-10 00:30:00.0000000, 0.25 ",
        "MAC000001,Std,2013-01-10 0:30:00, 0.25 ",
        "MAC000001,Std,2013-01-10 00:31:00.0000000, 0.25 ",
        "MAC000001,Std,2013-01-10 01:00:00.0000000,Null",
        "MAC000001,Std,2013-01-10 01:00:00.0000000, abc ",
        "MAC000001,Std,2013-01-10 01:00:00.0000000,NaN",
        "MAC000001,Std,2013-01-10 01:00:00.0000000, -0.1 ",
        "MAC000001,Std,2013-01-10 01:00:00.0000000, 10.001 ",
        "MAC000001,,2013-01-10 01:30:00.0000000, 10 ",
        "MAC000001,Std,2013-01-10 02:00:00.0000000, 1e400 ",
    ]
    assert statuses(values) == [
        (1, "other", None, None),  # header
        (2, "valid", None, 0.25),
        (3, "other", None, None),  # blank
        (4, "rejected", "bad_column_count", None),
        (5, "rejected", "unknown_household", None),
        (6, "rejected", "unparseable_time", None),
        (7, "rejected", "off_grid_time", None),
        (8, "rejected", "null_reading", None),
        (9, "rejected", "unparseable_reading", None),
        (10, "rejected", "unparseable_reading", None),
        (11, "rejected", "negative_reading", None),
        (12, "rejected", "implausible_reading", None),
        (13, "valid", None, 10.0),  # the bound is inclusive
        (14, "rejected", "unparseable_reading", None),  # overflows to infinity
    ]
    valid, _, counts = classified(values)
    assert (counts["header"], counts["blank"]) == (1, 1)
    assert valid["tariff_group"].to_pylist() == ["Std", "Std"]  # line 13: empty file tariff -> household information


REGULAR_BLOCK = [
    HEADER,
    "MAC000001,Std,2013-01-10 00:30:00.0000000, 0.25 ",
    "MAC000001,Std,2013-01-10T01:00:00, 0.5",
    "MAC000001,,2013-01-10 01:30:00.000, 1e-1 ",
    "MAC000001,ToU,2013-03-31 01:00:00.0000000,2",
    "MAC000002,Std,2013-01-10 00:30:00.0000000, 0.25 ",
    "MAC000001,Std,2013-01-10 00:31:00.0000000, 0.25 ",
    "MAC000001,Std,2013-02-29 00:30:00.0000000, 0.25 ",
    "MAC000001,Std,2013-01-10 02:00:00.0000000,Null",
    "MAC000001,Std,2013-01-10 02:00:00.0000000, abc ",
    "MAC000001,Std,2013-01-10 02:00:00.0000000, -0.1 ",
    "MAC000001,Std,2013-01-10 02:00:00.0000000, 99 ",
    " , , , ",
]


def test_csv_and_line_paths_agree_on_a_regular_block():
    data = ("\r\n".join(REGULAR_BLOCK[:-1]) + "\r" + REGULAR_BLOCK[-1] + "\n").encode()  # CRLF, a lone CR, LF
    fast = csv_fields(data, chunk(), 10)
    assert fast is not None
    by_csv = classify(fast, chunk(), REF)
    by_lines = classify(line_fields(*split_lines(data), chunk(), 10), chunk(), REF)
    assert by_csv[2] == by_lines[2] and by_csv[2]["valid"] == 4 and by_csv[2]["header"] == 1
    assert by_csv[0].equals(by_lines[0]) and by_csv[1].equals(by_lines[1])
    assert by_csv[1]["line"].to_pylist() == list(range(16, 24))  # numbered after the block's first line, 10


@pytest.mark.parametrize(
    "block",
    [
        b"MAC000001,Std,2013-01-10 00:30:00\nMAC000001,Std,2013-01-10 00:30:00,1",  # a line with 3 fields
        b"MAC000001,Std,2013-01-10 00:30:00,1\n\nMAC000001,Std,2013-01-10 00:30:00,1",  # an empty line
        b"\nMAC000001,Std,2013-01-10 00:30:00,1",  # an empty first line
        b"   \nMAC000001,Std,2013-01-10 00:30:00,1",  # a blank line of spaces
        "\ufeffMAC000001,Std,2013-01-10 00:30:00,1".encode(),  # a BOM
        b"MAC\xff01,Std,2013-01-10 00:30:00,1",  # not UTF-8
        b"MAC000001,Std,2013-01-10 00:30:00,1\r\rMAC000001,Std,2013-01-10 00:30:00,1",  # an empty line by CRs
        b"MAC000001,Std,2013-01-10 00:30:00,1\n,,,\n",  # bare commas read like an empty line
    ],
)
def test_csv_path_leaves_irregular_blocks_to_the_line_path(block):
    assert csv_fields(block, chunk(), 0) is None


def test_non_utf8_bom_and_crlf():
    data = b"\xef\xbb\xbf" + HEADER.encode() + b"\r\nMAC000001,Std,2013-01-10 00:30:00, 0.5 \r\nMAC\xff01,Std,x,1\r\n"
    text, bad = split_lines(data)
    valid, rejected, counts = classify(line_fields(text, bad, chunk(), 0), chunk(), REF)
    assert counts["header"] == 1 and valid["energy_kwh"].to_pylist() == [0.5]
    assert rejected.to_pydict() | {"chunk_id": None} == {
        "chunk_id": None,
        "line": [3],
        "reason": ["bad_encoding"],
        "raw_line": ["MAC\ufffd01,Std,x,1"],
        "household_id": ["MAC\ufffd01"],
    }


def test_time_columns_follow_the_start_convention_across_dst():
    values = [
        "MAC000001,Std,2013-03-31 00:30:00.0000000, 1 ",  # GMT 00:30 = local 00:30, slot 1
        "MAC000001,Std,2013-03-31 01:00:00.0000000, 1 ",  # GMT 01:00 = BST 02:00, slot 4 (slots 2, 3 do not exist)
        "MAC000001,Std,2013-10-26 23:00:00.0000000, 1 ",  # BST 00:00 on 27 Oct, slot 0
        "MAC000001,Std,2013-10-27 00:30:00.0000000, 1 ",  # BST 01:30, slot 3
        "MAC000001,Std,2013-10-27 01:30:00.0000000, 1 ",  # GMT 01:30 again, slot 3
    ]
    valid, _, _ = classified(values)
    got = list(
        zip(
            [t.replace(tzinfo=None) for t in valid["interval_start_utc"].to_pylist()],
            valid["local_date"].to_pylist(),
            valid["halfhour_local"].to_pylist(),
            strict=True,
        )
    )
    d = dt.date
    assert got == [
        (dt.datetime(2013, 3, 31, 0, 30), d(2013, 3, 31), 1),
        (dt.datetime(2013, 3, 31, 1, 0), d(2013, 3, 31), 4),
        (dt.datetime(2013, 10, 26, 23, 0), d(2013, 10, 27), 0),
        (dt.datetime(2013, 10, 27, 0, 30), d(2013, 10, 27), 3),
        (dt.datetime(2013, 10, 27, 1, 30), d(2013, 10, 27), 3),
    ]


def test_time_parse_edge_cases():
    """T separator and zero fractions are read as UTC; a non-zero fraction is off grid; impossible dates fail."""
    values = [
        "MAC000001,Std,2013-01-10T00:30:00, 0.1 ",
        "MAC000001,Std,2013-01-10 01:00:00.000, 0.1 ",
        "MAC000001,Std,2013-01-10 01:30:00.0000001, 0.1 ",
        "MAC000001,Std,2013-02-29 01:30:00.0000000, 0.1 ",  # strptime alone would roll this to 1 March
        "MAC000001,Std,2013-01-10 24:00:00.0000000, 0.1 ",
        "MAC000001,Std, 2013-01-10 02:00:00.0000000 , 0.1 ",  # padded field: trimmed first
    ]
    got = statuses(values)
    assert [r[2] for r in got] == [None, None, "off_grid_time", "unparseable_time", "unparseable_time", None]
    valid, _, _ = classified(values)
    assert [t.replace(tzinfo=None) for t in valid["interval_start_utc"].to_pylist()] == [
        dt.datetime(2013, 1, 10, 0, 30),
        dt.datetime(2013, 1, 10, 1, 0),
        dt.datetime(2013, 1, 10, 2, 0),
    ]


def test_fast_casts_agree_with_the_pattern_checks():
    """A block the casts accept alone gives what the regular expressions give (forced by one unparseable value)."""
    times = pa.array(
        ["2013-01-10 00:30:00", "2013-01-10T01:00:00.0", "2013-01-10 01:30:00.000000000", "2013-01-10 01:31:00"]
        + ["2013-01-10 02:00:00.5", "1969-12-31 23:30:00.0000000"]
    )
    fast, forced = parse_times(times), parse_times(pa.concat_arrays([times, pa.array(["x"])]))
    assert fast[0].equals(forced[0].slice(0, len(times))) and list(fast[1]) == list(forced[1][:-1])
    assert list(fast[1]) == [True, True, True, False, False, True]
    readings = pa.array(["0.25", ".5", "+1", "1e-3", "-0.1", "nan", "Infinity", "1e400"])
    fast, forced = parse_readings(readings), parse_readings(pa.concat_arrays([readings, pa.array(["Null"])]))
    assert list(fast[2]) == list(forced[2][:-1]) == [True] * 5 + [False] * 3  # finite
    assert fast[0].slice(0, 5).equals(forced[0].slice(0, 5))


@pytest.mark.parametrize("final_eol", [True, False])
def test_chunks_hand_out_every_line_once_in_order(tmp_path, final_eol):
    lines = [f"MAC000001,Std,2013-01-10 00:30:00,{i}" + ("x" * (i % 7)) for i in range(200)]
    path = tmp_path / "f.csv"
    path.write_bytes(("\r\n".join(lines) + ("\r\n" if final_eol else "")).encode())
    size = path.stat().st_size
    for step in (1, 13, 64, 500, size):
        got = []
        for start in range(0, size, step):
            c = chunk(path, start, min(start + step, size))
            for block in read_blocks(c, block_bytes=40):
                got += split_lines(block)[0].to_pylist()
        assert got == lines, step
    gz = tmp_path / "f.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    blocks = list(read_blocks(chunk(gz, 0, gz.stat().st_size, compressed=True), block_bytes=40))
    assert len(blocks) > 10 and [line for b in blocks for line in split_lines(b)[0].to_pylist()] == lines


HOUSEHOLDS = pa.array([f"MAC00000{i}" for i in range(1, 7)])  # the sorted household table rows() index


def rows(spec: list[tuple]) -> pa.Table:
    """Valid rows from (household, half hours after 2013-01-10 00:00 UTC, kWh, chunk_id, line)."""
    t0 = dt.datetime(2013, 1, 10, tzinfo=dt.UTC)
    return pa.table(
        {
            "household": [HOUSEHOLDS.to_pylist().index(s[0]) for s in spec],
            "tariff_group": ["Std"] * len(spec),
            "interval_start_utc": [t0 + dt.timedelta(minutes=30 * s[1]) for s in spec],
            "halfhour_local": [s[1] % 48 for s in spec],
            "energy_kwh": [s[2] for s in spec],
            "local_date": [(t0 + dt.timedelta(minutes=30 * s[1])).date() for s in spec],
            "chunk_id": [s[3] for s in spec],
            "line": [s[4] for s in spec],
        },
        schema=VALID_ROWS,
    )


def test_duplicates_keep_the_last_line_and_are_counted_by_kind():
    r = rows(
        [
            ("MAC000001", 1, 0.1, 0, 1),
            ("MAC000001", 1, 0.1, 0, 2),
            ("MAC000001", 2, 0.2, 0, 3),
            ("MAC000001", 2, 0.7, 1, 1),  # a later chunk of the input wins over an earlier line number
            ("MAC000002", 2, 0.5, 0, 9),
        ]
    )
    outcome, kept = resolve(r, len(HOUSEHOLDS), None, None, None)
    clean = clean_table(r, kept, HOUSEHOLDS, ["a.csv", "b.csv"])
    assert [OUTCOMES[o] for o in outcome] == [
        "duplicate_exact",
        "clean",
        "duplicate_conflict",
        "clean",
        "clean",
    ]
    assert clean["source_file"].to_pylist() == ["a.csv", "b.csv", "a.csv"]
    assert list(zip(clean["household_id"].to_pylist(), clean["energy_kwh"].to_pylist(), strict=True)) == [
        ("MAC000001", 0.1),
        ("MAC000001", 0.7),
        ("MAC000002", 0.5),
    ]


def test_each_duplicate_is_compared_with_the_kept_row_of_its_group():
    r = rows([("MAC000001", 5, 0.1, 0, 1), ("MAC000001", 5, 0.2, 0, 2), ("MAC000001", 5, 0.1, 0, 3)])
    r = pa.concat_tables([rows([("MAC000001", 4, 0.3, 0, 7)]), r, rows([("MAC000001", 6, 0.2, 0, 8)])])
    outcome, kept = resolve(r, len(HOUSEHOLDS), None, None, None)
    assert [OUTCOMES[o] for o in outcome] == ["clean", "duplicate_exact", "duplicate_conflict", "clean", "clean"]
    assert r["energy_kwh"].take(pa.array(kept)).to_pylist() == [0.3, 0.1, 0.2]


@pytest.mark.parametrize("shuffled", [False, True], ids=["input_order", "shuffled"])
def test_resolve_matches_the_rule_row_by_row_across_dst_days(shuffled):
    """Random rows over both 2013 clock changes, many duplicates: resolve agrees with the rule written plainly
    (per household and UTC time, the last line of the input is kept), in input order and shuffled."""
    rng = np.random.default_rng(7)
    n = 4000
    utc = rng.choice(np.r_[1364000000:1364500000:1800, 1382700000:1383100000:1800], n)  # Mar 31 and Oct 27
    hh, chunk, line = rng.integers(0, 3, n), rng.integers(0, 4, n), rng.permutation(n) + 1
    order = np.lexsort((line, chunk))  # input order
    kwh = rng.choice([0.1, 0.2], n)
    ts = pa.array(utc * 10**6, pa.timestamp("us", tz="UTC"))
    local_date, halfhour = local_day_and_slot(ts, "Europe/London")
    r = pa.table(
        {
            "household": hh.astype(np.int32),
            "tariff_group": ["Std"] * n,
            "interval_start_utc": ts,
            "halfhour_local": halfhour,
            "energy_kwh": kwh,
            "local_date": local_date,
            "chunk_id": chunk.astype(np.int32),
            "line": line,
        },
        schema=VALID_ROWS,
    )
    r = r.take(pa.array(rng.permutation(n) if shuffled else order))
    outcome, kept = resolve(r, 3, None, None, None)
    d = r.to_pydict()
    last: dict[tuple, int] = {}
    for i in sorted(range(n), key=lambda i: (d["chunk_id"][i], d["line"][i])):
        last[(d["household"][i], d["interval_start_utc"][i])] = i
    want = []
    for i in range(n):
        k = last[(d["household"][i], d["interval_start_utc"][i])]
        same = d["energy_kwh"][i] == d["energy_kwh"][k]
        want.append("clean" if k == i else "duplicate_exact" if same else "duplicate_conflict")
    assert [OUTCOMES[o] for o in outcome] == want
    assert sorted(kept.tolist()) == sorted(last.values())
    got = [(d["local_date"][i], d["household"][i], d["interval_start_utc"][i]) for i in kept]
    assert got == sorted(got) and len(set(got)) == len(got)


def test_local_day_and_slot_agree_with_arrows_per_row_conversion():
    every = np.arange(1332000000 // 1800, 1352000000 // 1800) * 1800 * 10**6  # half hours of 2012's changes
    ts = pa.array(every, pa.timestamp("us", tz="UTC"))
    for tz in ("Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"):  # +5:30 and a half-hour clock change
        local = pc.local_timestamp(ts.cast(pa.timestamp("us", tz=tz)))
        slot = pc.add(pc.multiply(pc.hour(local), 2), pc.if_else(pc.greater_equal(pc.minute(local), 30), 1, 0))
        day, halfhour = local_day_and_slot(ts, tz)
        assert day.equals(local.cast(pa.date32())), tz
        assert halfhour.equals(slot.cast(pa.int32())), tz


def test_date_range_marks_other_days_out_of_range():
    r = rows([("MAC000001", 1, 0.1, 0, 1), ("MAC000001", 49, 0.1, 0, 2), ("MAC000001", 49, 0.1, 0, 3)])
    outcome, kept = resolve(r, len(HOUSEHOLDS), None, dt.date(2013, 1, 11), dt.date(2013, 1, 11))
    assert [OUTCOMES[o] for o in outcome] == ["out_of_range", "duplicate_exact", "clean"]
    assert kept.tolist() == [2]


def test_household_sample_is_deterministic_nested_and_counted(spark):
    households = [f"MAC00000{i}" for i in range(1, 7)]
    two, two_again, four = (sample_households(spark, households, n, 7) for n in (2, 2, 4))
    assert two == two_again and len(two) == 2 and set(two) <= set(four) and len(four) == 4
    assert sample_households(spark, households, 2, 8) != two or sample_households(spark, households, 2, 9) != two
    spec = [(h, 1, 0.1, 0, i) for i, h in enumerate(households)] + [("MAC000001", 1, 0.1, 0, 99)]
    sample = pc.index_in(pa.array(two), value_set=HOUSEHOLDS).to_numpy()
    outcome, _ = resolve(rows(spec), len(HOUSEHOLDS), sample, None, None)
    got: dict[str, dict[str, int]] = {}
    for (h, *_), o in zip(spec, outcome, strict=True):
        got.setdefault(h, {}).setdefault(OUTCOMES[o], 0)
        got[h][OUTCOMES[o]] += 1
    for h in households:
        n = 2 if h == "MAC000001" else 1
        kept = {"clean": 1, **({"duplicate_exact": 1} if n == 2 else {})}
        assert got[h] == (kept if h in two else {"not_sampled": n}), h  # dropped before duplicates are resolved


def test_accounting_folder_is_named_as_spark_names_it(spark, tmp_path):
    run_id = "manual__2013-03-11T00:00:00+00:00 #1?"
    spark.createDataFrame([(1, run_id)], "n int, run_id string").write.partitionBy("run_id").parquet(
        str(tmp_path / "t")
    )
    (folder,) = [p.name for p in (tmp_path / "t").iterdir() if p.is_dir()]
    assert partition_folder("run_id", run_id) == folder
