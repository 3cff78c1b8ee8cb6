"""Tariff bill simulation: ``tariff_comparison_monthly`` (household x month), partitioned by ``month``.

    python -m spark_jobs.tariffs [--from-date D --to-date D] [--shift-share 0.2]

Every half hour is priced on the flat standard tariff (14.228 p/kWh) and on the real 2013 dToU schedule
(dtou_tariff_2013.csv: High 67.20, Normal 11.76, Low 3.99 p/kWh). The schedule only exists for 2013, so other
years get it BY CALENDAR POSITION: the band of the same month, day and GMT clock time in 2013 (29 February takes
28 February's); such rows have ``schedule_mapped = true``. The schedule's timestamps are on the GMT clock (START
of the half hour). The job reads ``household_daily_halfhours`` (one row per household-day, 48 local half hours)
rather than the readings, so each local half hour of a day is given the band of its UTC start; on the fall-back
day the two readings of the repeated local hour share a slot and are priced at the band of the first of them.

Load shifting: ``--shift-share`` of each month's High-price kWh is moved to that month's Normal and Low half
hours in proportion to how many of each the month has (a household cannot choose only the rare Low slots), and
the bill is recomputed as ``shifted_dtou_cost_pence``. A month is billed on local months (``local_date``);
``--from-date/--to-date`` are widened to whole months, and those month partitions are replaced.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.analytics.io import (
    SLOT_COLS,
    SLOTS,
    add_interval_args,
    add_months,
    conform,
    job_session,
    month_end,
    month_start,
    read_daily_halfhours,
)
from spark_jobs.analytics.schemas import TARIFF_COMPARISON_MONTHLY
from spark_jobs.common.partitions import replace_partitions
from spark_jobs.common.settings import get_settings

SCHEDULE_YEAR = 2013
NEUTRAL_SHARE = 0.01  # |saving| below 1 % of the flat bill is "neutral"
BAND_COLS = [f"b{s:02d}" for s in range(SLOTS)]  # band of local half hour 00:00 .. 23:30, beside SLOT_COLS


def schedule_key(ts: F.Column) -> F.Column:
    """Calendar position month*10^6 + day*10^4 + hour*100 + minute; 29 Feb falls back to 28 Feb."""
    day = F.when((F.month(ts) == 2) & (F.dayofmonth(ts) == 29), F.lit(28)).otherwise(F.dayofmonth(ts))
    return F.month(ts) * 1_000_000 + day * 10_000 + F.hour(ts) * 100 + F.minute(ts)


def load_schedule(spark: SparkSession, csv_path: Path) -> DataFrame:
    """``key, band`` for the 17,520 half hours of 2013."""
    pdf = pd.read_csv(csv_path)
    pdf.columns = [c.strip() for c in pdf.columns]
    pdf = pdf.rename(columns={"TariffDateTime": "ts", "Tariff": "band"})
    pdf["ts"] = pd.to_datetime(pdf["ts"].str.strip())
    pdf["band"] = pdf["band"].str.strip()
    sched = spark.createDataFrame(pdf[["ts", "band"]], "ts timestamp, band string")
    return sched.select(schedule_key(F.col("ts")).alias("key"), F.month("ts").alias("cal_month"), "band")


def month_shift_price(schedule: DataFrame, prices: dict[str, float]) -> DataFrame:
    """Per calendar month, the price of kWh spread over its Normal and Low half hours by their counts."""
    n_normal = F.sum((F.col("band") == "Normal").cast("int"))
    n_low = F.sum((F.col("band") == "Low").cast("int"))
    return schedule.groupBy("cal_month").agg(
        ((n_normal * prices["Normal"] + n_low * prices["Low"]) / (n_normal + n_low)).alias("shift_price")
    )


def slot_bands(days: DataFrame, schedule: DataFrame, timezone: str) -> DataFrame:
    """``local_date, b00..b47``: the band of each local half hour's UTC start, for the dates in ``days``."""
    dates = days.select("local_date").distinct()
    slots = dates.select("local_date", F.explode(F.sequence(F.lit(0), F.lit(SLOTS - 1))).alias("slot"))
    local_start = F.col("local_date").cast("timestamp") + F.make_dt_interval(mins=F.col("slot") * 30)
    keyed = slots.withColumn("key", schedule_key(F.to_utc_timestamp(local_start, timezone)))
    banded = keyed.join(F.broadcast(schedule.select("key", "band")), "key", "left")
    wide = banded.groupBy("local_date").pivot("slot", list(range(SLOTS))).agg(F.first("band"))
    return wide.select("local_date", *[F.col(str(s)).alias(c) for s, c in enumerate(BAND_COLS)])


def compare(
    days: DataFrame,
    schedule: DataFrame,
    flat_price: float,
    prices: dict[str, float],
    shift_share: float,
    timezone: str = "Europe/London",
) -> DataFrame:
    """Monthly flat vs dToU bills per household from household-days with their 48 local half hours
    (``household_daily_halfhours``); pure transform, prices in pence per kWh."""
    priced = days.join(F.broadcast(slot_bands(days, schedule, timezone)), "local_date", "left")
    kwh = [F.coalesce(F.col(c), F.lit(0.0)) for c in SLOT_COLS]
    bands = [F.col(c) for c in BAND_COLS]

    def band_sum(band: str) -> F.Column:
        return sum((F.when(b == band, e).otherwise(0.0) for e, b in zip(kwh, bands, strict=True)), F.lit(0.0))

    unpriced = sum(
        (F.when(F.col(c).isNotNull() & b.isNull(), 1).otherwise(0) for c, b in zip(SLOT_COLS, bands, strict=True)),
        F.lit(0),
    )
    monthly = priced.groupBy("household_id", F.trunc("local_date", "month").alias("month")).agg(
        F.first("tariff_group", ignorenulls=True).alias("tariff_group"),
        F.sum(sum(kwh, F.lit(0.0))).alias("energy_kwh"),
        F.sum(band_sum("High")).alias("high_kwh"),
        F.sum(band_sum("Normal")).alias("normal_kwh"),
        F.sum(band_sum("Low")).alias("low_kwh"),
        F.sum("readings_present").cast("int").alias("readings_present"),
        F.max((F.year("local_date") != SCHEDULE_YEAR).cast("int")).cast("boolean").alias("schedule_mapped"),
        F.sum(unpriced).alias("unpriced"),
    )
    sp = month_shift_price(schedule, prices)
    m = monthly.join(F.broadcast(sp), F.month("month") == F.col("cal_month"), "left")
    flat = F.col("energy_kwh") * flat_price
    # Unpriced half hours (not expected: the schedule covers every calendar position) are billed at Normal.
    dtou = (
        F.col("high_kwh") * prices["High"]
        + (F.col("energy_kwh") - F.col("high_kwh") - F.col("low_kwh")) * prices["Normal"]
        + F.col("low_kwh") * prices["Low"]
    )
    moved = F.col("high_kwh") * shift_share
    shifted = F.col("dtou_cost_pence") - moved * prices["High"] + moved * F.col("shift_price")
    days = F.dayofmonth(F.last_day("month"))
    saving = F.col("flat_cost_pence") - F.col("dtou_cost_pence")
    out = (
        m.withColumn("flat_cost_pence", flat)
        .withColumn("dtou_cost_pence", dtou)
        .withColumn("saving_pence", saving)
        .withColumn(
            "dtou_outcome",
            F.when(F.abs(saving) < NEUTRAL_SHARE * F.col("flat_cost_pence"), "neutral")
            .when(saving > 0, "winner")
            .otherwise("loser"),
        )
        .withColumn("shift_share", F.lit(float(shift_share)))
        .withColumn("shifted_dtou_cost_pence", shifted)
        .withColumn("shift_saving_pence", F.col("dtou_cost_pence") - F.col("shifted_dtou_cost_pence"))
        .withColumn("readings_expected", (days * 48).cast("int"))
        .withColumn("completeness", F.least(F.lit(1.0), F.col("readings_present") / F.col("readings_expected")))
        .withColumn("schedule_year", F.lit(SCHEDULE_YEAR))
    )
    return conform(out, TARIFF_COMPARISON_MONTHLY)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    s = get_settings()
    p = argparse.ArgumentParser(prog="python -m spark_jobs.tariffs", description=__doc__.splitlines()[0])
    add_interval_args(p)
    p.add_argument("--shift-share", type=float, default=s.tariff_shift_share, help="share of High kWh moved, 0..1")
    p.add_argument("--lake", type=Path, default=s.lake_dir)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not 0.0 <= args.shift_share <= 1.0:
        raise SystemExit(f"--shift-share must be within 0..1, got {args.shift_share}")
    s = get_settings()
    spark = job_session("tariffs")
    start = month_start(args.from_date) if args.from_date else None
    end = month_end(args.to_date) if args.to_date else None
    out = compare(
        read_daily_halfhours(spark, args.lake, start, end),
        load_schedule(spark, s.tariff_csv),
        s.flat_tariff_pence_per_kwh,
        s.dtou_prices_pence_per_kwh,
        args.shift_share,
        s.local_timezone,
    )
    replace = None
    if start and end:
        replace, m = [], start
        while m <= end:
            replace.append(m.isoformat())
            m = add_months(m, 1)
    out = out.cache()
    replace_partitions(out, args.lake / "tariff_comparison_monthly", "month", replace)
    facts = out.agg(
        F.count("*").alias("household_months"),
        F.sum((F.col("dtou_outcome") == "winner").cast("int")).alias("winners"),
        F.sum((F.col("dtou_outcome") == "loser").cast("int")).alias("losers"),
        F.sum("saving_pence").alias("total_saving_pence"),
        F.sum("shift_saving_pence").alias("total_shift_saving_pence"),
    ).first()
    print(
        json.dumps({**facts.asDict(), "schedule": "2013 dToU applied by calendar position to other years"}, default=str)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
