"""Synthetic LCL generator: byte layout, reproducibility, realism against the real MAC000002, anomalies, bad input.

Realism bands (documented in the README) are relative to statistics computed here from the real sample file,
never hard-coded results of the generator.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spark_jobs import generate as gen
from spark_jobs.generator import layout, model, reference

HEADER = b"LCLid,stdorToU,DateTime,KWH/hh (per half hour) \r\n"
LINE = re.compile(rb"^MAC\d{6},(Std|ToU),\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.0000000,( \d+(\.\d{1,7})? |Null)\r\n$")


def run(out: Path, **kw) -> gen.Result:
    kw.setdefault("truth", out.parent / f"{out.name}_truth.csv")
    return gen.generate(out=out, **kw)


def read_lcl(folder: Path) -> pd.DataFrame:
    """Parse generated (or real) LCL files the way a careful reader would: strip, Null -> NaN, local day."""
    files = sorted(folder.glob("LCL-June2015v2_*.csv"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    df = pd.concat([pd.read_csv(f, dtype=str) for f in files], ignore_index=True)
    return _tidy(df)


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    df.columns = [c.strip() for c in df.columns]
    df["kwh"] = pd.to_numeric(df["KWH/hh (per half hour)"].str.strip(), errors="coerce")
    df["t"] = pd.to_datetime(df["DateTime"].str[:19])
    local = df["t"].dt.tz_localize("UTC").dt.tz_convert("Europe/London")
    df["local_date"] = local.dt.tz_localize(None).dt.normalize()
    df["hh"] = local.dt.hour * 2 + local.dt.minute // 30
    return df


def clean(df: pd.DataFrame) -> pd.DataFrame:
    """Drop duplicates, Null and off-grid rows (what the pipeline does before statistics)."""
    df = df.drop_duplicates(subset=["LCLid", "DateTime", "KWH/hh (per half hour)"]).dropna(subset=["kwh"])
    return df[(df["t"].dt.second == 0) & (df["t"].dt.minute % 30 == 0)]


def household_stats(df: pd.DataFrame, temps: pd.Series) -> pd.DataFrame:
    """Per household: daily mean, daily CV, weekend/weekday ratio, correlation of daily kWh with temperature."""
    daily = clean(df).groupby(["LCLid", "local_date"]).agg(kwh=("kwh", "sum"), n=("kwh", "size")).reset_index()
    daily = daily[daily["n"] >= 46]
    tday = temps.groupby(temps.index.normalize()).mean()
    daily["temp"] = daily["local_date"].map(tday)
    daily["weekend"] = daily["local_date"].dt.dayofweek >= 5
    rows = []
    for hid, g in daily.groupby("LCLid"):
        rows.append(
            {
                "LCLid": hid,
                "mean": g["kwh"].mean(),
                "cv": g["kwh"].std() / g["kwh"].mean(),
                "weekend_ratio": g.loc[g["weekend"], "kwh"].mean() / g.loc[~g["weekend"], "kwh"].mean(),
                "temp_corr": g["kwh"].corr(g["temp"]),
                "winter_summer": g.loc[g["local_date"].dt.month.isin([12, 1, 2]), "kwh"].mean()
                / g.loc[g["local_date"].dt.month.isin([6, 7, 8]), "kwh"].mean(),
            }
        )
    return pd.DataFrame(rows).set_index("LCLid")


@pytest.fixture(scope="module")
def temps(reference_dir: Path) -> pd.Series:
    return reference.hourly_temperature(reference_dir / "weather_hourly_darksky.csv")


@pytest.fixture(scope="module")
def real_sample(reference_dir: Path) -> pd.DataFrame:
    return _tidy(pd.read_csv(reference_dir / "lcl_sample" / "MAC000002.csv", dtype=str))


@pytest.fixture(scope="module")
def year_run(tmp_path_factory) -> tuple[gen.Result, pd.DataFrame]:
    """80 households over a year: enough for shapes, seasonality and temperature response, ~1.4M rows."""
    out = tmp_path_factory.mktemp("year") / "landing"
    res = run(out, households=80, start=date(2012, 11, 1), end=date(2013, 10, 31), seed=11, anomaly_rate=0.0)
    return res, clean(read_lcl(out))


# ----------------------------------------------------------------------------------------------- layout
def test_line_format_reproduces_real_sample_byte_for_byte(reference_dir: Path):
    """Render every real MAC000002 reading with the generator's writer; the bytes must equal the real file."""
    raw = (reference_dir / "lcl_sample" / "MAC000002.csv").read_bytes()
    header, body = raw.split(b"\n", 1)
    assert header == b"LCLid,DateTime,KWH/hh (per half hour)"
    df = pd.read_csv(reference_dir / "lcl_sample" / "MAC000002.csv", dtype=str)
    values = df.iloc[:, 2]
    codes = np.where(
        values == "Null",
        layout.NULL_CODE,
        np.rint(pd.to_numeric(values.str.strip(), errors="coerce").fillna(0) * 1000).astype(np.int64),
    )
    seconds = (pd.to_datetime(df["DateTime"].str[:19]) - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    dts = layout.fixed_table(layout.datetime_strings(seconds.to_numpy()), layout.DATETIME_WIDTH)
    prefixes = layout.fixed_table(["MAC000002,Std,"], layout.PREFIX_WIDTH)
    n = len(df)
    data, ends = layout.LineRenderer().render(prefixes, dts, np.zeros(n, int), np.arange(n), codes)
    assert len(ends) == n
    rendered = data.tobytes().replace(b"MAC000002,Std,", b"MAC000002,").replace(b"\r\n", b"\n")
    assert rendered == body


def test_generated_files_follow_original_partition_layout(tmp_path: Path):
    out = tmp_path / "landing"
    res = run(out, households=4, start=date(2013, 3, 1), end=date(2013, 3, 3), seed=1, rows_per_file=100)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"LCL-June2015v2_{i}.csv" for i in range(len(names)))
    assert len(names) == -(-res.rows // 100)
    lines = []
    for i in range(len(names)):
        content = (out / f"LCL-June2015v2_{i}.csv").read_bytes()
        assert content.startswith(HEADER)
        file_lines = content[len(HEADER) :].splitlines(keepends=True)
        assert len(file_lines) == (100 if i < len(names) - 1 else res.rows - 100 * i)
        lines += file_lines
    bad = [ln for ln in lines if not LINE.match(ln)]
    assert not bad, bad[:3]
    ids = [ln[:9] for ln in lines]
    assert ids[0] == b"MAC000002" and ids == sorted(ids), "rows must be ordered by household"
    for hid in set(ids):
        times = [ln[14:41] for ln in lines if ln[:9] == hid]
        assert times == sorted(times), "rows must be ordered by time within a household"
    assert not (tmp_path / "landing_truth.csv").is_relative_to(out)


def test_synthetic_ids_past_the_real_list(tmp_path: Path, reference_dir: Path):
    n_real = len(reference.households(reference_dir / "household_information.csv"))
    out = tmp_path / "landing"
    run(out, households=n_real + 3, start=date(2013, 6, 1), end=date(2013, 6, 1), seed=2, quirks=False, enrolment=False)
    df = read_lcl(out)
    ids = df["LCLid"].unique().tolist()
    assert len(ids) == n_real + 3
    assert ids[-3:] == ["MAC100001", "MAC100002", "MAC100003"]
    assert (df.groupby("LCLid").size() == 48).all()
    share_tou = (df.drop_duplicates("LCLid")["stdorToU"] == "ToU").mean()
    assert 0.15 < share_tou < 0.26  # the real split is 1,123 / 5,566 = 0.20


# ----------------------------------------------------------------------------------------------- reproducibility
def test_seeded_reproducibility_and_live_day_matches_batch(tmp_path: Path):
    kw = {"households": 6, "start": date(2013, 3, 29), "end": date(2013, 4, 1), "anomaly_rate": 20.0}
    run(tmp_path / "a", seed=5, **kw)
    run(tmp_path / "b", seed=5, **kw)
    run(tmp_path / "c", seed=6, **kw)
    a = (tmp_path / "a" / "LCL-June2015v2_0.csv").read_bytes()
    assert a == (tmp_path / "b" / "LCL-June2015v2_0.csv").read_bytes()
    assert (tmp_path / "a_truth.csv").read_bytes() == (tmp_path / "b_truth.csv").read_bytes()
    assert a != (tmp_path / "c" / "LCL-June2015v2_0.csv").read_bytes()

    # The live feed for 2013-03-31 (spring forward: 46 half hours) equals that day's lines in the batch run.
    live = tmp_path / "live"
    live_kw = {"seed": 5, "households": 6, "anomaly_rate": 20.0, "start": date(2000, 1, 1), "end": date(2000, 1, 1)}
    res = run(live, live_day=date(2013, 3, 31), **live_kw)
    assert res.out_dir == live / "2013-03-31"
    live_bytes = (res.out_dir / "LCL-June2015v2_0.csv").read_bytes()
    batch = read_lcl(tmp_path / "a")
    day = batch[batch["local_date"] == pd.Timestamp("2013-03-31")]
    lines = a[len(HEADER) :].splitlines(keepends=True)
    expected = b"".join(lines[i] for i in day.index)
    assert live_bytes == HEADER + expected
    assert len(clean(day).groupby("LCLid").size().unique()) == 1
    # A rerun of the same day writes the same bytes (and replaces the folder atomically).
    run(live, live_day=date(2013, 3, 31), **live_kw)
    assert (res.out_dir / "LCL-June2015v2_0.csv").read_bytes() == live_bytes
    assert sorted(p.name for p in live.iterdir()) == ["2013-03-31"]


# ----------------------------------------------------------------------------------------------- realism
def test_realism_against_real_household(year_run, real_sample, temps):
    """Population medians sit within documented bands around the real MAC000002 statistics."""
    _, df = year_run
    real = household_stats(real_sample, temps).iloc[0]
    syn = household_stats(df, temps)
    med = syn.median()
    assert 0.6 * real["mean"] < med["mean"] < 1.4 * real["mean"], (med["mean"], real["mean"])
    assert 0.6 * real["cv"] < med["cv"] < 1.4 * real["cv"], (med["cv"], real["cv"])
    assert real["weekend_ratio"] - 0.08 < med["weekend_ratio"] < real["weekend_ratio"] + 0.08
    assert med["weekend_ratio"] > 1.0
    assert real["temp_corr"] - 0.2 < med["temp_corr"] < real["temp_corr"] + 0.2
    assert 0.75 * real["winter_summer"] < med["winter_summer"] < 1.25 * real["winter_summer"]
    # Heavy tail across households: the top 5% use far more than the median.
    assert syn["mean"].quantile(0.95) / med["mean"] > 1.8


def test_daily_load_shape_has_morning_and_evening_peaks(year_run, real_sample):
    _, df = year_run
    prof = df.groupby("hh")["kwh"].mean()
    real = clean(real_sample).groupby("hh")["kwh"].mean()
    # Evening peak between 17:00 and 21:00 local, like the real household (20:00).
    assert 34 <= int(prof.idxmax()) <= 42 and 34 <= int(real.idxmax()) <= 42
    # Night trough (02:00-05:00) well below the mean, as in the real sample.
    night = prof.loc[4:9].mean() / prof.mean()
    real_night = real.loc[4:9].mean() / real.mean()
    assert abs(night - real_night) < 0.2, (night, real_night)
    # A morning peak on weekdays: 07:00-09:00 above both the night and the early afternoon.
    weekday = df[df["local_date"].dt.dayofweek < 5].groupby("hh")["kwh"].mean()
    assert weekday.loc[14:17].mean() > 1.5 * weekday.loc[4:9].mean()
    assert weekday.loc[14:17].mean() > weekday.loc[26:29].mean()
    # Weekend mornings start later: 07:00 share smaller than on weekdays.
    weekend = df[df["local_date"].dt.dayofweek >= 5].groupby("hh")["kwh"].mean()
    assert weekend.loc[14] / weekend.mean() < weekday.loc[14] / weekday.mean()


def test_half_hour_values_are_plausible(year_run, real_sample):
    _, df = year_run
    syn = df["kwh"]
    real = clean(real_sample)["kwh"]
    assert syn.min() >= 0 and syn.max() <= 10.0
    assert 0.5 < syn.median() / real.median() < 1.5
    assert 0.5 < syn.quantile(0.99) / real.quantile(0.99) < 2.0


def test_acorn_group_levels(tmp_path: Path):
    """Group-specific consumption: Affluent > Comfortable > Adversity, each near its calibrated level."""
    out = tmp_path / "landing"
    run(out, households=1500, start=date(2013, 4, 8), end=date(2013, 4, 9), seed=3, anomaly_rate=0, quirks=False)
    info = reference.households(gen.get_settings().household_information_csv).set_index("household_id")
    df = read_lcl(out)
    per = df.groupby("LCLid")["kwh"].sum() / 2
    groups = per.groupby(info["acorn_group"].reindex(per.index)).mean()
    assert groups["Affluent"] > groups["Comfortable"] > groups["Adversity"]
    for g in ("Affluent", "Comfortable", "Adversity"):
        # April is a mild month: within 35% of the group's annual level.
        assert abs(groups[g] / model.GROUP_DAILY_KWH[g] - 1) < 0.35, (g, groups[g])


def test_tou_households_shift_load_from_high_to_low(tmp_path: Path, reference_dir: Path):
    out = tmp_path / "landing"
    run(out, households=500, start=date(2013, 1, 7), end=date(2013, 1, 31), seed=4, anomaly_rate=0, quirks=False)
    df = read_lcl(out)
    tariff = pd.read_csv(reference_dir / "dtou_tariff_2013.csv", parse_dates=["TariffDateTime"])
    df["price"] = df["t"].map(tariff.set_index("TariffDateTime")["Tariff"])

    def ratio(group: str, band: str) -> float:
        g = df[df["stdorToU"] == group]
        by_hh_normal = g[g["price"] == "Normal"].groupby("hh")["kwh"].mean()
        sel = g[g["price"] == band]
        return sel["kwh"].mean() / by_hh_normal.reindex(sel["hh"]).mean()

    assert ratio("ToU", "High") < ratio("Std", "High") - 0.05
    assert ratio("ToU", "Low") > ratio("Std", "Low") + 0.05


# ----------------------------------------------------------------------------------------------- quirks
def test_quirks_at_realistic_rates(tmp_path: Path):
    out = tmp_path / "landing"
    kw = {"households": 100, "start": date(2013, 1, 1), "end": date(2013, 3, 1), "seed": 8, "enrolment": False}
    res = run(out, anomaly_rate=0, **kw)
    df = read_lcl(out)
    household_days = 100 * 60
    dups = df.duplicated(subset=["LCLid", "DateTime", "KWH/hh (per half hour)"]).sum()
    assert 0.5 * household_days / 30 < dups < 1.5 * household_days / 30  # ~ monthly, as in MAC000002
    dup_rows = df[df.duplicated(subset=["LCLid", "DateTime"], keep=False)]
    assert (dup_rows["t"].dt.strftime("%H:%M") == "00:00").all()
    nulls = df[df["KWH/hh (per half hour)"] == "Null"]
    assert 1 <= len(nulls) <= 40
    assert (nulls["t"].dt.second != 0).any() or (nulls["t"].dt.minute % 30 != 0).all()
    counts = clean(df).groupby(["LCLid", "local_date"]).size()
    missing_days = household_days - len(counts)
    assert 1 <= missing_days <= 40
    plain = run(tmp_path / "plain", anomaly_rate=0, quirks=False, **kw)
    assert plain.rows == household_days * 48  # no DST change in the range, every household enrolled
    assert res.rows == plain.rows + dups + len(nulls) - 48 * missing_days


# ----------------------------------------------------------------------------------------------- anomalies
def test_injected_anomalies_are_where_the_truth_file_says(tmp_path: Path):
    kw = {"households": 25, "start": date(2013, 5, 1), "end": date(2013, 6, 29), "seed": 9, "quirks": False}
    res = run(tmp_path / "anom", anomaly_rate=25.0, **kw)
    run(tmp_path / "base", anomaly_rate=0.0, **kw)
    truth = pd.read_csv(res.truth_path, parse_dates=["start_utc", "end_utc"])
    assert list(truth.columns) == ["household_id", "start_utc", "end_utc", "kind"]
    assert set(truth["kind"]) == set(model.ANOMALY_KINDS)
    a = read_lcl(tmp_path / "anom").set_index(["LCLid", "t"])["kwh"]
    b = read_lcl(tmp_path / "base").set_index(["LCLid", "t"])["kwh"]
    assert a.index.equals(b.index)
    inside = pd.Series(False, index=a.index)
    for row in truth.itertuples():
        sel = (a.index.get_level_values(0) == row.household_id) & (a.index.get_level_values(1) >= row.start_utc)
        sel &= a.index.get_level_values(1) < row.end_utc
        assert sel.any()
        inside |= sel
        if row.kind == "spike":
            assert (a[sel] - b[sel] >= 2.5 - 1e-9).all()
        elif row.kind == "sustained_high":
            assert (a[sel] - b[sel] >= 0.5 - 1e-9).all()
        elif row.kind == "near_zero":
            assert (a[sel] <= 0.006).all()
        else:
            assert (a[sel] - b[sel]).abs().mean() > 0.02
    assert (a[~inside] == b[~inside]).all(), "no change outside the truth intervals"


def test_spike_size_stands_out_from_the_households_own_bursts():
    """Spikes are 1.5-2x the home's largest natural appliance burst (4 x its event size), never below the
    absolute 2.5-6 kWh and never above what a 100 A supply delivers in half an hour."""
    for m in (0.0, 0.5, 1.0):
        assert model.spike_kwh(0.2, m) == pytest.approx(2.5 + 3.5 * m)  # small bursts: the absolute size
        assert model.spike_kwh(1.0, m) == pytest.approx((1.5 + 0.5 * m) * 4.0)
        assert model.spike_kwh(3.0, m) == model.SPIKE_MAX_KWH
    ek = np.linspace(0.2, 1.9, 50)
    sizes = np.array([model.spike_kwh(e, 0.0) for e in ek])
    assert (sizes >= np.minimum(1.5 * model.SPIKE_BURST_CAP * ek, model.SPIKE_MAX_KWH) - 1e-12).all()
    assert (np.diff(sizes) >= 0).all()


# ----------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2013-02-01", "--end", "2013-01-01"], "before"),
        (["--households", "0"], "at least 1"),
        (["--start", "2013-13-01"], "not a date"),
    ],
)
def test_invalid_arguments_fail_clearly_and_write_nothing(tmp_path: Path, capsys, args, message):
    out = tmp_path / "landing"
    with pytest.raises(SystemExit) as exc:
        gen.main(["--out", str(out), "--truth", str(tmp_path / "t.csv"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_or_unsafe_locations(tmp_path: Path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit):
        gen.main(["--out", str(blocker / "landing"), "--truth", str(tmp_path / "t.csv"), "--households", "1"])
    assert "not writable" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gen.main(["--out", str(tmp_path / "l"), "--truth", str(tmp_path / "l" / "t.csv"), "--households", "1"])
    assert "outside" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_existing_output_needs_overwrite(tmp_path: Path):
    out = tmp_path / "landing"
    kw = {"households": 2, "start": date(2013, 1, 1), "end": date(2013, 1, 1)}
    run(out, **kw)
    with pytest.raises(gen.GenerateError, match="overwrite"):
        run(out, **kw)
    (out / "2013-01-02").mkdir()  # a live-day folder beside the batch files survives --overwrite
    run(out, overwrite=True, seed=3, **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing", "landing_truth.csv"]
    assert sorted(p.name for p in out.iterdir()) == ["2013-01-02", "LCL-June2015v2_0.csv"]


def test_runs_as_a_script_like_spark_submit(tmp_path: Path):
    """spark-submit executes the file as a script, without the package on sys.path."""
    script = Path(gen.__file__)
    out = tmp_path / "landing"
    args = [sys.executable, str(script), "--out", str(out), "--truth", str(tmp_path / "t.csv"), "--households", "2"]
    args += ["--start", "2013-01-01", "--end", "2013-01-01"]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "LCL-June2015v2_0.csv").read_bytes().startswith(HEADER)
