"""The pure pieces of the ingestion job on tiny inputs: header detection, line classification, duplicate rule,
line numbers across splits."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from spark_jobs.ingestion.probe import parse_header
from spark_jobs.ingestion.transform import (
    classify,
    deduplicate,
    line_offsets,
    mark_not_sampled,
    parse_lines,
    sample_households,
)

LCL = parse_header("LCLid,stdorToU,DateTime,KWH/hh (per half hour) ")


def test_headers_are_detected_by_name():
    assert (LCL.name, LCL.ncols, LCL.household, LCL.tariff, LCL.time, LCL.kwh) == ("lcl_original", 4, 0, 1, 2, 3)
    no_tariff = parse_header("LCLid,DateTime,KWH/hh (per half hour),Acorn,Acorn_grouped")
    assert (no_tariff.tariff, no_tariff.kwh, no_tariff.ncols) == (None, 2, 5)
    kaggle = parse_header("LCLid,tstp,energy(kWh/hh)")
    assert (kaggle.name, kaggle.time, kaggle.kwh) == ("kaggle_halfhourly", 1, 2)
    assert parse_header("id,time,value").name == "bad_header"
    assert parse_header("LCLid,DateTime").name == "bad_header"


def lines_df(spark, values, block_start=0):
    return spark.createDataFrame(
        [(v, "f.csv", block_start, i) for i, v in enumerate(values)],
        "value string, source_file string, block_start long, row_id long",
    )


def info_df(spark):
    return spark.createDataFrame([("MAC000001", "Std", True)], "household_id string, info_tariff string, known boolean")


def classified(spark, values):
    parsed = parse_lines(
        lines_df(spark, values), LCL, ["LCLid,stdorToU,DateTime,KWH/hh (per half hour) "], "Europe/London"
    )
    return classify(parsed, info_df(spark), 10.0)


def test_each_line_gets_one_status_and_reason(spark):
    values = [
        "LCLid,stdorToU,DateTime,KWH/hh (per half hour) ",
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
    ]
    df = classified(spark, values).orderBy("row_id")
    got = df.select("row_id", "status", "reason", "energy_kwh")
    expected = spark.createDataFrame(
        [
            (0, "header", None, None),
            (1, "valid", None, 0.25),
            (2, "blank", None, None),
            (3, "rejected", "bad_column_count", None),
            (4, "rejected", "unknown_household", None),
            (5, "rejected", "unparseable_time", None),
            (6, "rejected", "off_grid_time", None),
            (7, "rejected", "null_reading", None),
            (8, "rejected", "unparseable_reading", None),
            (9, "rejected", "unparseable_reading", None),
            (10, "rejected", "negative_reading", None),
            (11, "rejected", "implausible_reading", None),
            (12, "valid", None, 10.0),  # the bound is inclusive
        ],
        "row_id long, status string, reason string, energy_kwh double",
    )
    assertDataFrameEqual(got, expected, checkRowOrder=True)
    tariffs = {r.row_id: r.tariff_group for r in df.filter("status = 'valid'").collect()}
    assert tariffs == {1: "Std", 12: "Std"}  # row 12: empty file tariff -> household information


def test_time_columns_follow_the_start_convention_across_dst(spark):
    values = [
        "MAC000001,Std,2013-03-31 00:30:00.0000000, 1 ",  # GMT 00:30 = local 00:30, slot 1
        "MAC000001,Std,2013-03-31 01:00:00.0000000, 1 ",  # GMT 01:00 = BST 02:00, slot 4 (slots 2, 3 do not exist)
        "MAC000001,Std,2013-10-26 23:00:00.0000000, 1 ",  # BST 00:00 on 27 Oct, slot 0
        "MAC000001,Std,2013-10-27 00:30:00.0000000, 1 ",  # BST 01:30, slot 3
        "MAC000001,Std,2013-10-27 01:30:00.0000000, 1 ",  # GMT 01:30 again, slot 3
    ]
    got = classified(spark, values).orderBy("row_id").select("interval_start_utc", "local_date", "halfhour_local")
    d = dt.date
    expected = [
        (dt.datetime(2013, 3, 31, 0, 30), d(2013, 3, 31), 1),
        (dt.datetime(2013, 3, 31, 1, 0), d(2013, 3, 31), 4),
        (dt.datetime(2013, 10, 26, 23, 0), d(2013, 10, 27), 0),
        (dt.datetime(2013, 10, 27, 0, 30), d(2013, 10, 27), 3),
        (dt.datetime(2013, 10, 27, 1, 30), d(2013, 10, 27), 3),
    ]
    assert [tuple(r) for r in got.collect()] == expected


def test_duplicates_keep_the_last_line_and_are_counted_by_kind(spark):
    values = [
        "MAC000001,Std,2013-01-10 00:30:00.0000000, 0.1 ",
        "MAC000001,Std,2013-01-10 00:30:00.0000000, 0.1 ",
        "MAC000001,Std,2013-01-10 01:00:00.0000000, 0.2 ",
        "MAC000001,Std,2013-01-10 01:00:00.0000000, 0.7 ",
        "MAC000001,Std,2013-01-10 01:00:00.0000000,Null",  # rejected rows never take part in duplicates
    ]
    out = deduplicate(classified(spark, values), 2).orderBy("row_id").select("row_id", "status", "energy_kwh")
    expected = spark.createDataFrame(
        [
            (0, "duplicate_exact", 0.1),
            (1, "clean", 0.1),
            (2, "duplicate_conflict", 0.2),
            (3, "clean", 0.7),
            (4, "rejected", None),
        ],
        "row_id long, status string, energy_kwh double",
    )
    assertDataFrameEqual(out, expected, checkRowOrder=True)


def test_date_range_marks_other_days_out_of_range(spark):
    values = ["MAC000001,Std,2013-01-10 00:30:00.0000000, 0.1 ", "MAC000001,Std,2013-01-11 00:30:00.0000000, 0.1 "]
    out = deduplicate(classified(spark, values), 2, dt.date(2013, 1, 11), dt.date(2013, 1, 11))
    assert [r.status for r in out.orderBy("row_id").collect()] == ["out_of_range", "clean"]
    assert out.filter(F.col("status") == "clean").count() == 1


def test_line_offsets_span_splits():
    # file a: split 0 has rows 100..104 (5 lines), split 1000 has rows 7..9; file b: one split starting at row 42
    stats = [
        {"source_file": "a", "block_start": 0, "n": 4, "min_row_id": 100},
        {"source_file": "a", "block_start": 0, "n": 1, "min_row_id": 103},
        {"source_file": "a", "block_start": 1000, "n": 3, "min_row_id": 7},
        {"source_file": "b", "block_start": 0, "n": 2, "min_row_id": 42},
    ]
    off = line_offsets(stats)
    assert 100 + off[("a", 0)] == 1 and 104 + off[("a", 0)] == 5
    assert 7 + off[("a", 1000)] == 6 and 9 + off[("a", 1000)] == 8
    assert 42 + off[("b", 0)] == 1


def test_time_parse_edge_cases(spark):
    """The cast-based parse: T separator and fractions read as UTC; a non-zero fraction is off grid."""
    values = [
        "MAC000001,Std,2013-01-10T00:30:00, 0.1 ",
        "MAC000001,Std,2013-01-10 01:00:00.000, 0.1 ",
        "MAC000001,Std,2013-01-10 01:30:00.0000001, 0.1 ",
        "MAC000001,Std,2013-02-29 01:30:00.0000000, 0.1 ",
        "MAC000001,Std,2013-01-10 24:00:00.0000000, 0.1 ",
        "MAC000001,Std, 2013-01-10 02:00:00.0000000 , 0.1 ",  # padded field: trimmed first
    ]
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")  # must not matter: the files are UTC
    try:
        got = classified(spark, values).orderBy("row_id").select("interval_start_utc", "reason").collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert [r.reason for r in got] == [None, None, "off_grid_time", "unparseable_time", "unparseable_time", None]
    assert [r.interval_start_utc for r in got if r.reason is None] == [
        dt.datetime(2013, 1, 10, 0, 30),
        dt.datetime(2013, 1, 10, 1, 0),
        dt.datetime(2013, 1, 10, 2, 0),
    ]


def test_household_sample_is_deterministic_nested_and_counted(spark):
    info = spark.createDataFrame(
        [(f"MAC00000{i}", "Std", True) for i in range(1, 7)], "household_id string, info_tariff string, known boolean"
    )
    values = [f"MAC00000{i},Std,2013-01-10 00:30:00.0000000, 0.1 " for i in range(1, 7)]
    values += ["MAC000001,Std,2013-01-10 00:30:00.0000000, 0.1 ", "MAC000002,Std,2013-01-10 01:00:00.0000000,Null"]
    parsed = parse_lines(lines_df(spark, values), LCL, [], "Europe/London")
    cl = classify(parsed, info, 10.0)
    two, two_again, four = (sample_households(cl, n, 7) for n in (2, 2, 4))
    assert two == two_again and len(two) == 2 and set(two) <= set(four) and len(four) == 4
    assert sample_households(cl, 2, 8) != two or sample_households(cl, 2, 9) != two  # the seed matters
    out = deduplicate(mark_not_sampled(cl, two), 2)
    counts = {(r.household_id, r.status): r["count"] for r in out.groupBy("household_id", "status").count().collect()}
    for hh in (f"MAC00000{i}" for i in range(1, 7)):
        n = 2 if hh == "MAC000001" else 1
        kept = {"clean": 1, **({"duplicate_exact": 1} if n == 2 else {})}
        expected = kept if hh in two else {"not_sampled": n}  # dropped before duplicates are resolved
        got = {s: c for (h, s), c in counts.items() if h == hh and s != "rejected"}
        assert got == expected, hh
    assert counts[("MAC000002", "rejected")] == 1  # quarantine checks run on every household
