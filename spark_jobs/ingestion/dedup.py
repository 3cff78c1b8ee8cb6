"""Valid rows of a run -> duplicates resolved -> one Parquet file per local day (Arrow, in the executors).

The chunks of a run hash their valid rows by ``local_date`` into buckets (Arrow IPC files under the run's
staging folder); a bucket holds whole days, so a household's duplicates - even across files - meet in one task.

Rules (README text):
- Sampling (``--households N``): valid rows of households outside the sample become ``not_sampled`` before
  duplicates are resolved (the sample itself is chosen on the driver, see spark_jobs/ingest.py).
- Duplicates (same household and interval_start_utc among rows that passed every check): the row from the LAST
  line in input order is kept (input order = source_file name, then line). Dropped rows with the same kWh as the
  kept one count as duplicate_exact, others as duplicate_conflict.
- Kept rows outside the run's date range count as out_of_range and are not written.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from spark_jobs.ingestion.lake import write_day
from spark_jobs.ingestion.parse import VALID_ROWS

OUTCOMES = ("not_sampled", "duplicate_exact", "duplicate_conflict", "out_of_range", "clean")
EPOCH = date(1970, 1, 1)


def bucket_of(local_date: pa.Array, buckets: int) -> np.ndarray:
    """Bucket of each row: days since 1970 modulo the bucket count (whole days per bucket)."""
    return np.mod(local_date.cast(pa.int32()).to_numpy(zero_copy_only=False), buckets)


class BucketWriter:
    """A chunk's valid rows into ``folder/b<bucket>/c<chunk>.arrow``, one file per non-empty bucket.

    Files are written under a temporary name and renamed on ``close``: a retried task rewrites the same names,
    and a bucket task never reads half a file.
    """

    def __init__(self, folder: Path, chunk_id: int, buckets: int) -> None:
        self.folder, self.chunk_id, self.buckets = folder, chunk_id, buckets
        self.open: dict[int, tuple] = {}

    def write(self, valid: pa.Table) -> None:
        if not valid.num_rows:
            return
        b = bucket_of(valid["local_date"].combine_chunks(), self.buckets)
        order = np.argsort(b, kind="stable")
        sorted_b = b[order]
        table = valid.take(pa.array(order))
        cuts = np.flatnonzero(np.diff(sorted_b)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(sorted_b)], strict=True):
            self._writer(int(sorted_b[lo])).write_table(table.slice(lo, hi - lo))

    def _writer(self, bucket: int):
        if bucket not in self.open:
            out = self.folder / f"b{bucket:05d}"
            out.mkdir(parents=True, exist_ok=True)
            part = out / f"c{self.chunk_id:06d}.arrow"
            sink = pa.OSFile(str(part.with_suffix(".tmp")), "wb")
            self.open[bucket] = (part, sink, ipc.new_file(sink, VALID_ROWS))
        return self.open[bucket][2]

    def close(self) -> None:
        for part, sink, writer in self.open.values():
            writer.close()
            sink.close()
            part.with_suffix(".tmp").rename(part)
        self.open.clear()


def read_bucket(folder: Path) -> pa.Table:
    tables = []
    for p in sorted(folder.glob("c*.arrow")):
        with pa.memory_map(str(p)) as src:
            tables.append(ipc.open_file(src).read_all())
    return pa.concat_tables(tables) if tables else VALID_ROWS.empty_table()


def resolve(
    rows: pa.Table, sample: pa.Array | None, from_date: date | None, to_date: date | None
) -> tuple[pa.Table, np.ndarray]:
    """Outcome of every valid row (index into OUTCOMES) and the clean rows sorted by day, household and time."""
    clean_code = OUTCOMES.index("clean")
    outcome = np.full(rows.num_rows, clean_code, dtype=np.int8)
    idx = None  # positions of the sampled rows in ``rows``; None: all of them
    if sample is not None:
        sampled = pc.is_in(rows["household_id"], value_set=sample).to_numpy(zero_copy_only=False)
        outcome[~sampled] = OUTCOMES.index("not_sampled")
        idx = np.flatnonzero(sampled)
        rows = rows.take(pa.array(idx))
    order = pc.sort_indices(
        rows,
        sort_keys=[
            ("local_date", "ascending"),
            ("household_id", "ascending"),
            ("interval_start_utc", "ascending"),
            ("chunk_id", "descending"),
            ("line", "descending"),
        ],
    ).to_numpy()
    s = rows.take(pa.array(order))
    n = s.num_rows
    sorted_outcome = np.full(n, clean_code, dtype=np.int8)
    if n > 1:
        hh = s["household_id"].combine_chunks()
        ts = s["interval_start_utc"].combine_chunks().cast(pa.int64()).to_numpy()
        same_hh = pc.equal(hh.slice(1), hh.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        dups = np.flatnonzero(same_hh & (ts[1:] == ts[:-1])) + 1
        if len(dups):  # rare: look up each duplicate's kept row (its group's first) instead of scanning all rows
            is_dup = np.zeros(n, dtype=bool)
            is_dup[dups] = True
            starts = np.flatnonzero(~is_dup)
            kept = starts[np.searchsorted(starts, dups, side="right") - 1]
            kwh = s["energy_kwh"].combine_chunks().to_numpy()
            exact = kwh[dups] == kwh[kept]
            sorted_outcome[dups] = np.where(
                exact, OUTCOMES.index("duplicate_exact"), OUTCOMES.index("duplicate_conflict")
            )
    if from_date is not None or to_date is not None:
        day = s["local_date"].combine_chunks().cast(pa.int32()).to_numpy()
        lo = (from_date - EPOCH).days if from_date is not None else np.iinfo(np.int32).min
        hi = (to_date - EPOCH).days if to_date is not None else np.iinfo(np.int32).max
        sorted_outcome[(sorted_outcome == clean_code) & ((day < lo) | (day > hi))] = OUTCOMES.index("out_of_range")
    positions = order if idx is None else idx[order]
    outcome[positions] = sorted_outcome
    is_clean = sorted_outcome == clean_code
    clean = s if is_clean.all() else s.filter(pa.array(is_clean))
    return clean, outcome


def write_days(clean: pa.Table, chunk_files: list[str], out: Path, part_name: str) -> None:
    """Clean rows (sorted by local_date) as ``out/local_date=D/<part_name>.parquet``.

    ``chunk_files[chunk_id]`` is the source file of a chunk.
    """
    if not clean.num_rows:
        return
    names = pa.array(chunk_files, pa.string())
    table = pa.table(
        {
            "household_id": clean["household_id"],
            "tariff_group": clean["tariff_group"],
            "interval_start_utc": clean["interval_start_utc"],
            "halfhour_local": clean["halfhour_local"],
            "energy_kwh": clean["energy_kwh"],
            "source_file": names.take(clean["chunk_id"].combine_chunks()),
        }
    )
    day = clean["local_date"].combine_chunks().cast(pa.int32()).to_numpy()
    cuts = np.flatnonzero(np.diff(day)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(day)], strict=True):
        write_day(table.slice(lo, hi - lo), out, date.fromordinal(EPOCH.toordinal() + int(day[lo])), part_name)


def outcome_counts(rows: pa.Table, outcome: np.ndarray, chunks: int) -> dict[str, list[int]]:
    """Per outcome, the number of rows of each chunk."""
    chunk = rows["chunk_id"].combine_chunks().to_numpy(zero_copy_only=False) if rows.num_rows else np.array([], int)
    return {name: np.bincount(chunk[outcome == i], minlength=chunks).tolist() for i, name in enumerate(OUTCOMES)}
