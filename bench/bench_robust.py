"""Benchmark of the robust anomaly detector: milliseconds per household of ``robust.detect_frame``.

    python bench/bench_robust.py [--households 300] [--label after] [--dump OUT.parquet] [--check BEFORE.parquet]
                                 [--baseline OLD_robust.py]

What is timed is the ``applyInPandas`` body alone (no Spark): one pandas frame per household, shaped as
``spark_jobs.anomalies.robust_events`` hands it over (household_id, local_date as ``datetime.date``, e00..e47 kWh
with NaN where missing, optionally the forecast band p10_kwh/p50_kwh/p90_kwh), with the daily heating degree days
of the weather file, as in the daily production run (5,566 households x 57 days: the day plus 56 context days).

Input: the project's generator model (spark_jobs/generator: households, timeline, injected anomalies at
``--anomaly-rate`` per household-year, missing days, enrolment) for 57 local days across the spring clock change,
rounded to the 1 Wh of the LCL files and folded into local days as ``daily_matrix`` does. It is built once and
cached in ``--data`` (/tmp/robust_bench/ by default; delete it to rebuild). Every household runs as the plain
frame (production default, timed) and every fourth once more with a forecast band, so both paths of the detector
are exercised.

``--dump`` writes all events (with a ``variant`` column) to parquet; ``--check`` compares them with an earlier
dump: same events, same columns and dtypes, equal strings and times, floats within 1e-9. Results are merged into
bench/results/robust.json under ``--label``. The machine is shared: wall times are per household medians, and the
CPU time of the process is reported too. ``--baseline`` times an earlier robust.py (e.g. ``git show
HEAD:spark_jobs/analytics/robust.py > /tmp/robust_bench/robust_orig.py``) alternately with the current one,
household by household, best of 3 rounds each, so load from other work hits both alike: the fair speed-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spark_jobs import generate as gen  # noqa: E402
from spark_jobs.analytics import robust  # noqa: E402
from spark_jobs.analytics.io import SLOT_COLS, SLOTS  # noqa: E402
from spark_jobs.common.settings import get_settings  # noqa: E402
from spark_jobs.generator import model, reference  # noqa: E402

RESULTS = REPO / "bench" / "results" / "robust.json"
START = date(2013, 2, 13)  # 57 local days, 2013-02-13 .. 2013-04-10, with the spring-forward day
DAYS = 57
PRODUCTION_HOUSEHOLDS = 5_566


def build_input(n_households: int, anomaly_rate: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Household-day rows (as ``daily_matrix`` builds them) and the ground truth of the injected anomalies."""
    settings = get_settings()
    info = reference.households(settings.household_information_csv)
    hh = model.build_households(model.select_households(info, n_households, seed), seed)
    end = START + timedelta(days=DAYS - 1)
    tl = model.build_timeline(
        START,
        end,
        seed,
        reference.hourly_temperature(settings.weather_csv),
        reference.tariff_2013(settings.tariff_csv),
        settings.local_timezone,
    )
    anomalies = model.schedule_anomalies(hh, tl, anomaly_rate)
    rows = np.arange(len(hh))
    x = model.synthesise(hh, rows, tl, 0, tl.n_slots)
    model.apply_anomalies(x, hh, rows, tl, 0, anomalies)
    x = np.rint(np.clip(x, 0, 65.535) * 1000) / 1000  # the files' 1 Wh resolution

    # Which household-days exist: enrolment and the missing-day quirk, as the generator writes them.
    active = gen._active_days(hh, rows, tl, True)
    keys = hh.key[rows][:, None]
    active &= model.uniform(keys, model.S_MISSING, tl.day_abs[None, :]) >= model.MISSING_DAY_P

    # Fold UTC half hours into (local day, local half hour); the repeated autumn hour would be summed.
    n_days = len(tl.days)
    cells = tl.slot_day * SLOTS + tl.hh_local
    mat = np.zeros((len(hh), n_days * SLOTS))
    seen = np.zeros(n_days * SLOTS)
    np.add.at(mat.T, cells, x.T)
    np.add.at(seen, cells, 1)
    mat[:, seen == 0] = np.nan  # the spring-forward day has 46 half hours
    mat = mat.reshape(len(hh), n_days, SLOTS)
    rng = np.random.default_rng(seed)
    mat[rng.random(mat.shape) < 0.002] = np.nan  # a few rejected readings

    r, d = np.nonzero(active)
    frame = pd.DataFrame(mat[r, d], columns=SLOT_COLS)
    frame.insert(0, "local_date", [tl.days[i] for i in d])
    frame.insert(0, "household_id", np.asarray(hh.ids, dtype=object)[r])
    truth = model.anomaly_frame(anomalies, hh, tl)
    return frame, truth


def add_band(pdf: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A forecast band for about 80 % of the days: P50 near the day's kWh, P10/P90 at -+25 % (NaN elsewhere)."""
    rng = np.random.default_rng(seed)
    total = pdf[SLOT_COLS].sum(axis=1, min_count=1).to_numpy()
    p50 = total * rng.lognormal(0, 0.1, len(pdf))
    p50[rng.random(len(pdf)) < 0.2] = np.nan
    return pdf.assign(p10_kwh=0.75 * p50, p50_kwh=p50, p90_kwh=1.25 * p50)


def load(data: Path, n_households: int, anomaly_rate: float, seed: int) -> tuple[list[pd.DataFrame], pd.Series]:
    """Per-household frames (cached input) and the daily HDD series of the weather file."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"input_{n_households}_{anomaly_rate:g}_{seed}.parquet"
    if not path.exists():
        frame, truth = build_input(n_households, anomaly_rate, seed)
        frame.to_parquet(path, index=False)
        truth.to_csv(path.with_suffix(".truth.csv"), index=False)
    frame = pd.read_parquet(path)  # local_date comes back as datetime.date objects, as from Spark
    settings = get_settings()
    hdd = robust.daily_hdd(settings.weather_csv, settings.local_timezone)
    # Spark hands groups over in no particular row order: shuffle the days of each household.
    rng = np.random.default_rng(seed)
    frames = [g.iloc[rng.permutation(len(g))].reset_index(drop=True) for _, g in frame.groupby("household_id")]
    return frames, hdd


def run(frames: list[pd.DataFrame], hdd: pd.Series, seed: int) -> tuple[np.ndarray, float, pd.DataFrame]:
    """Per-household wall seconds (plain frames), process CPU seconds, and all events of both variants."""
    for pdf in frames[:3]:  # warm-up: imports, caches
        robust.detect_frame(pdf, robust.DEFAULT_PARAMS, hdd)
    times = np.empty(len(frames))
    events = []
    cpu0 = time.process_time()
    for i, pdf in enumerate(frames):
        t0 = time.perf_counter()
        ev = robust.detect_frame(pdf, robust.DEFAULT_PARAMS, hdd)
        times[i] = time.perf_counter() - t0
        events.append(ev.assign(variant="plain"))
    cpu = time.process_time() - cpu0
    for i, pdf in enumerate(frames[::4]):
        ev = robust.detect_frame(add_band(pdf, seed + i), robust.DEFAULT_PARAMS, hdd)
        events.append(ev.assign(variant="band"))
    return times, cpu, pd.concat(events, ignore_index=True)


def interleaved(frames: list[pd.DataFrame], hdd: pd.Series, baseline: Path, rounds: int = 3) -> dict:
    """Median ms per household of ``baseline`` (an earlier copy of robust.py) and of the current module, timed
    alternately household by household, so that load from other work on the machine hits both alike."""
    spec = importlib.util.spec_from_file_location("robust_baseline", baseline)
    base = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = base  # dataclasses look their module up
    spec.loader.exec_module(base)
    old, new = np.empty((rounds, len(frames))), np.empty((rounds, len(frames)))
    for r in range(rounds):
        for i, pdf in enumerate(frames):
            t0 = time.perf_counter()
            base.detect_frame(pdf, base.DEFAULT_PARAMS, hdd)
            t1 = time.perf_counter()
            robust.detect_frame(pdf, robust.DEFAULT_PARAMS, hdd)
            old[r, i], new[r, i] = t1 - t0, time.perf_counter() - t1
    old, new = old.min(axis=0) * 1000, new.min(axis=0) * 1000  # best of the rounds per household
    return {
        "baseline": str(baseline),
        "rounds": rounds,
        "baseline_median_ms": round(float(np.median(old)), 3),
        "current_median_ms": round(float(np.median(new)), 3),
        "baseline_total_s": round(float(old.sum()) / 1000, 3),
        "current_total_s": round(float(new.sum()) / 1000, 3),
        "speedup_median": round(float(np.median(old) / np.median(new)), 2),
        "speedup_total": round(float(old.sum() / new.sum()), 2),
    }


def check(after: pd.DataFrame, before_path: Path) -> str:
    """Raise if the events differ from the earlier dump; a one-line summary otherwise."""
    before = pd.read_parquet(before_path)
    after = pd.read_parquet(_roundtrip(after))  # compare like with like (parquet types)
    if list(before.columns) != list(after.columns) or len(before) != len(after):
        raise AssertionError(f"shape differs: {before.shape} {list(before.columns)} vs {after.shape}")
    if (before.dtypes != after.dtypes).any():
        raise AssertionError(f"dtypes differ:\n{pd.concat([before.dtypes, after.dtypes], axis=1)}")
    floats = [c for c in before.columns if before[c].dtype.kind == "f"]
    others = [c for c in before.columns if c not in floats]
    pd.testing.assert_frame_equal(before[others], after[others], check_exact=True)
    worst = 0.0
    for c in floats:
        a, b = before[c].to_numpy(), after[c].to_numpy()
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            raise AssertionError(f"NaN pattern of {c} differs")
        ok = ~np.isnan(a)
        diff = float(np.max(np.abs(a[ok] - b[ok]), initial=0.0))
        if not np.allclose(a[ok], b[ok], rtol=1e-9, atol=1e-9):
            raise AssertionError(f"{c} differs by up to {diff}")
        worst = max(worst, diff)
    kinds = before.groupby(["variant", "kind"]).size().to_dict()
    return f"identical: {len(before)} events {kinds}, largest float difference {worst:.3g}"


def _roundtrip(events: pd.DataFrame) -> Path:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"robust_bench_after_{os.getpid()}.parquet"
    events.to_parquet(path, index=False)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--households", type=int, default=300)
    p.add_argument("--anomaly-rate", type=float, default=12.0, help="injected anomalies per household-year")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data", type=Path, default=Path("/tmp/robust_bench"))
    p.add_argument("--label", default="after", help="key of this run in bench/results/robust.json")
    p.add_argument("--dump", type=Path, help="write all events to this parquet file")
    p.add_argument("--check", type=Path, help="compare the events with this earlier --dump")
    p.add_argument("--baseline", type=Path, help="an earlier robust.py to time alternately with the current one")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/robust.json")
    args = p.parse_args(argv)

    frames, hdd = load(args.data, args.households, args.anomaly_rate, args.seed)
    times, cpu, events = run(frames, hdd, args.seed)
    ms = times * 1000
    result = {
        "households": len(frames),
        "days_per_household_median": int(np.median([len(f) for f in frames])),
        "events": int(len(events)),
        "median_ms_per_household": round(float(np.median(ms)), 3),
        "mean_ms_per_household": round(float(np.mean(ms)), 3),
        "p90_ms_per_household": round(float(np.percentile(ms, 90)), 3),
        "total_s": round(float(times.sum()), 3),
        "cpu_s": round(cpu, 3),
        "production_estimate_s": round(float(np.mean(ms)) * PRODUCTION_HOUSEHOLDS / 1000, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "git_revision": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "command": "nice -n 10 .venv/bin/python bench/bench_robust.py " + " ".join(argv or sys.argv[1:]),
    }
    if args.dump:
        events.to_parquet(args.dump, index=False)
    if args.baseline:
        result["interleaved"] = interleaved(frames, hdd, args.baseline)
    if args.check:
        result["check"] = check(events, args.check)
    print(json.dumps({args.label: result}, indent=1))
    if not args.no_save:
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        saved[args.label] = result
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(saved, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
