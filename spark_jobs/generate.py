"""Synthetic LCL smart-meter readings in the original LCL partition-file layout (issue 5).

Why NumPy and not Spark: the model is embarrassingly parallel per household and the output is a few large text
files, so a vectorised single-process writer is faster than a Spark job on 2 cores (no JVM round trip, no
shuffle, exact control of bytes). It still runs under ``spark-submit spark_jobs/generate.py`` (driver only).

Batch:  python -m spark_jobs.generate --out DIR --households 200 --start 2013-01-01 --end 2013-03-31 --seed 7
Live:   python -m spark_jobs.generate --out LANDING --live-day 2014-03-01   -> LANDING/2014-03-01/*.csv

Output is written to a hidden temporary folder and renamed into place, so readers never see a partial run.
The ground-truth anomaly file goes to ``--truth`` (never inside ``--out``): household_id, start_utc, end_utc
(half-open, UTC, start of half hour), kind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script: make ``spark_jobs`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from spark_jobs.common.settings import get_settings
from spark_jobs.generator import layout, model, reference

BLOCK_CELLS = 1_000_000  # household x half-hour cells synthesised at once (bounds memory, ~0.3 GB peak)
DEFAULT_HOUSEHOLDS = 5_566


class GenerateError(Exception):
    """Invalid arguments or an unusable output location; reported as a clear message, nothing written."""


@dataclass
class Result:
    out_dir: Path
    truth_path: Path | None
    rows: int
    files: list[str]
    anomalies: int
    seconds: float


def _active_days(hh: model.Households, rows: np.ndarray, tl: model.Timeline, enrolment: bool) -> np.ndarray:
    """(rows x days) True where the household reports: enrolled (inside the trial window only)."""
    if not enrolment:
        return np.ones((len(rows), len(tl.days)), dtype=bool)
    d = tl.day_abs[None, :]
    in_trial = (d >= model.day_number(model.TRIAL_START)) & (d <= model.day_number(model.TRIAL_END))
    enrolled = (d >= hh.join_day[rows][:, None]) & (d <= hh.leave_day[rows][:, None])
    return ~in_trial | enrolled


def _write_rows(
    folder: Path,
    hh: model.Households,
    tl: model.Timeline,
    anomalies: model.Anomalies,
    rows_per_file: int,
    quirks: bool,
    enrolment: bool,
) -> tuple[layout.PartitionWriter, np.ndarray]:
    """Synthesise block by block (households in id order) and stream lines into partition files."""
    renderer = layout.LineRenderer()
    prefixes = layout.fixed_table([f"{i},{t}," for i, t in zip(hh.ids, hh.tariff_group, strict=True)], 14)
    datetimes = layout.fixed_table(layout.datetime_strings(tl.slot_seconds), layout.DATETIME_WIDTH)
    writer = layout.PartitionWriter(folder, rows_per_file)
    n_slots = tl.n_slots
    block = max(1, min(len(hh), BLOCK_CELLS // n_slots))
    anomaly_kept = np.zeros(len(anomalies.row), dtype=bool)
    abs0 = int(tl.slot_abs[0])
    for b0 in range(0, len(hh), block):
        rows = np.arange(b0, min(b0 + block, len(hh)))
        x = model.synthesise(hh, rows, tl, 0, n_slots)
        model.apply_anomalies(x, hh, rows, tl, 0, anomalies)
        codes = np.rint(np.clip(x, 0, layout.MAX_CODE / 1000) * 1000).astype(np.int32)
        active_day = _active_days(hh, rows, tl, enrolment)
        keys = hh.key[rows][:, None]
        if quirks:
            active_day &= model.uniform(keys, model.S_MISSING, tl.day_abs[None, :]) >= model.MISSING_DAY_P
        in_block = (anomalies.row >= b0) & (anomalies.row < b0 + len(rows))
        idx = np.nonzero(in_block)[0]
        anomaly_kept[idx] = active_day[anomalies.row[idx] - b0, tl.slot_day[anomalies.lo[idx]]]

        active = active_day[:, tl.slot_day]
        flat = np.flatnonzero(active)
        row_h = flat // n_slots + b0
        row_t = flat % n_slots
        row_c = codes.ravel()[flat]
        table = datetimes
        if quirks:
            flat, row_h, row_t, row_c, table = _add_quirk_rows(
                keys, active, active_day, codes, tl, abs0, b0, flat, row_h, row_t, row_c, datetimes
            )
        data, ends = renderer.render(prefixes, table, row_h, row_t, row_c)
        writer.write(data, ends)
    writer.close()
    return writer, anomaly_kept


def _add_quirk_rows(keys, active, active_day, codes, tl, abs0, b0, flat, row_h, row_t, row_c, datetimes):
    """Exact duplicate rows at 00:00 GMT (about monthly) and off-grid ``Null`` rows like 12:37:27 (rare)."""
    n_slots = tl.n_slots
    dup_r, dup_d = np.nonzero(
        active_day & (model.uniform(keys, model.S_DUP, tl.day_abs[None, :]) < model.DUPLICATE_DAY_P)
    )
    dup_s = tl.day_abs[dup_d] * 48 - abs0  # the 00:00 GMT half hour of that date
    ok = (dup_s >= 0) & (dup_s < n_slots)
    dup_r, dup_s = dup_r[ok], dup_s[ok]
    ok = active[dup_r, dup_s]
    dup_r, dup_s = dup_r[ok], dup_s[ok]

    u_off = model.uniform(keys, model.S_OFFGRID, tl.day_abs[None, :])
    off_r, off_d = np.nonzero(active_day & (u_off < model.OFFGRID_NULL_DAY_P))
    frac = u_off[off_r, off_d] / model.OFFGRID_NULL_DAY_P  # reuse the draw: uniform again below p
    first, count = tl.day_first_slot[off_d], np.diff(tl.day_first_slot)[off_d]
    off_s = first + np.minimum((frac * count).astype(np.int64), count - 1)
    second = 1 + (model.uniform(keys[off_r, 0], model.S_OFFGRID, tl.day_abs[off_d], 1) * 1798).astype(np.int64)
    off_table = layout.fixed_table(layout.datetime_strings(tl.slot_seconds[off_s] + second), layout.DATETIME_WIDTH)

    ins_key = np.concatenate([dup_r * n_slots + dup_s, off_r * n_slots + off_s])
    order = np.lexsort((np.r_[np.zeros(len(dup_r)), np.ones(len(off_r))], ins_key))
    ins_key = ins_key[order]
    ins_h = np.concatenate([dup_r, off_r])[order] + b0
    ins_t = np.concatenate([dup_s, n_slots + np.arange(len(off_r))])[order]
    ins_c = np.concatenate([codes[dup_r, dup_s], np.full(len(off_r), layout.NULL_CODE)])[order]
    pos = np.searchsorted(flat, ins_key, side="right")
    table = np.concatenate([datetimes, off_table]) if len(off_r) else datetimes
    return (
        np.insert(flat, pos, ins_key),
        np.insert(row_h, pos, ins_h),
        np.insert(row_t, pos, ins_t),
        np.insert(row_c, pos, ins_c.astype(row_c.dtype)),
        table,
    )


def _publish(tmp: Path, final: Path) -> None:
    """Swap a finished temporary folder into place (rename is atomic on one filesystem)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def generate(
    out: Path,
    households: int,
    start: date,
    end: date,
    seed: int = 42,
    truth: Path | None = None,
    rows_per_file: int = 1_000_000,
    anomaly_rate: float = 2.0,
    quirks: bool = True,
    enrolment: bool = True,
    overwrite: bool = False,
    live_day: date | None = None,
) -> Result:
    """Write the files; ``live_day`` switches to one day into ``out/<day>/`` (always replaced: same bytes)."""
    t0 = time.perf_counter()
    if live_day is not None:
        start = end = live_day
    if end < start:
        raise GenerateError(f"--end {end} is before --start {start}")
    if households < 1:
        raise GenerateError(f"--households must be at least 1, got {households}")
    if rows_per_file < 1:
        raise GenerateError(f"--rows-per-file must be at least 1, got {rows_per_file}")
    if anomaly_rate < 0:
        raise GenerateError(f"--anomaly-rate must be >= 0, got {anomaly_rate}")
    out = Path(out).resolve()
    final = out / live_day.isoformat() if live_day is not None else out
    if truth is not None:
        truth = Path(truth).resolve()
        if live_day is not None:
            truth = truth.with_name(f"{truth.stem}_{live_day.isoformat()}{truth.suffix or '.csv'}")
        if truth == out or out in truth.parents:
            raise GenerateError(f"--truth {truth} must be outside the landing folder {out}")
    if live_day is None and final.exists() and any(final.iterdir()) and not overwrite:
        raise GenerateError(f"{final} exists and is not empty; pass --overwrite to replace it")

    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if truth is not None:
            truth.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(truth.parent, os.W_OK):
                raise PermissionError(f"cannot write to {truth.parent}")
    except OSError as exc:
        raise GenerateError(f"output location is not writable: {exc}") from exc

    try:
        settings = get_settings()
        info = reference.households(settings.household_information_csv)
        chosen = model.select_households(info, households, seed)
        hh = model.build_households(chosen, seed)
        tl = model.build_timeline(
            start,
            end,
            seed,
            reference.hourly_temperature(settings.weather_csv),
            reference.tariff_2013(settings.tariff_csv),
            settings.local_timezone,
        )
        anomalies = model.schedule_anomalies(hh, tl, anomaly_rate)
        writer, kept = _write_rows(tmp, hh, tl, anomalies, rows_per_file, quirks, enrolment)
        truth_df = model.anomaly_frame(anomalies, hh, tl)[kept]
        truth_tmp = None
        if truth is not None:
            truth_tmp = truth.with_name(f".{truth.name}.tmp-{os.getpid()}")
            truth_df.to_csv(truth_tmp, index=False, date_format="%Y-%m-%d %H:%M:%S")
        if live_day is None and final.exists():
            # --overwrite replaces the generator's partition files only; keep anything else (e.g. live-day folders).
            for entry in final.iterdir():
                if not (entry.name.startswith("LCL-June2015v2_") and entry.suffix == ".csv"):
                    entry.rename(tmp / entry.name)
        _publish(tmp, final)
        if truth_tmp is not None:
            os.replace(truth_tmp, truth)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if truth is not None:
            Path(truth.with_name(f".{truth.name}.tmp-{os.getpid()}")).unlink(missing_ok=True)
        raise
    return Result(final, truth, writer.rows, writer.files, len(truth_df), time.perf_counter() - t0)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    settings = get_settings()
    p = argparse.ArgumentParser(prog="python -m spark_jobs.generate", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=settings.landing_dir, help="landing folder (default: settings)")
    p.add_argument("--households", type=int, default=DEFAULT_HOUSEHOLDS, help="real ids first, then MAC100001...")
    p.add_argument("--start", type=_parse_date, default=date(2013, 1, 1), help="first local day (Europe/London)")
    p.add_argument("--end", type=_parse_date, default=date(2013, 1, 31), help="last local day, inclusive")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--truth",
        type=Path,
        default=settings.state_dir / "ground_truth" / "anomalies.csv",
        help="anomaly ground-truth CSV, outside --out (live mode appends _<day> to the name)",
    )
    p.add_argument("--live-day", type=_parse_date, default=None, help="write one day into <out>/<YYYY-MM-DD>/")
    p.add_argument("--rows-per-file", type=int, default=1_000_000)
    p.add_argument("--anomaly-rate", type=float, default=2.0, help="injected anomalies per household-year")
    p.add_argument("--quirks", action=argparse.BooleanOptionalAction, default=True, help="duplicates, Null, gaps")
    p.add_argument(
        "--enrolment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="households join/leave at realistic dates inside the trial window 2011-11-23..2014-02-28",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="batch mode: replace the LCL files in a non-empty --out (others kept)"
    )
    return p


def main(argv: list[str] | None = None) -> Result:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = generate(
            out=args.out,
            households=args.households,
            start=args.start,
            end=args.end,
            seed=args.seed,
            truth=args.truth,
            rows_per_file=args.rows_per_file,
            anomaly_rate=args.anomaly_rate,
            quirks=args.quirks,
            enrolment=args.enrolment,
            overwrite=args.overwrite,
            live_day=args.live_day,
        )
    except GenerateError as exc:
        parser.error(str(exc))
    rate = result.rows / max(result.seconds, 1e-9)
    print(
        f"wrote {result.rows:,} rows in {len(result.files)} file(s) to {result.out_dir} "
        f"in {result.seconds:.1f} s ({rate:,.0f} rows/s); {result.anomalies} anomalies -> {result.truth_path}"
    )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
