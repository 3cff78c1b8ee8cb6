"""Lines of one input chunk -> classified rows, with Arrow compute (the per-row work of the ingest job).

Why Arrow and not Spark SQL expressions: on this 2-core machine Spark's text scan, split and casts cost ~13 CPU-µs
per line (15x DuckDB on the same files); Arrow's vectorised kernels do the same checks in ~0.6 µs. Spark still
plans and schedules the work: each chunk is one task on the cluster, and the tasks run this module's functions
in the executors' Python workers (see spark_jobs/ingest.py). A block is cut into fields by Arrow's CSV parser
when it is regular (``csv_fields``), else by splitting its lines (``line_fields``, which handles every quirk);
``classify`` then works on either.

Conventions (README text):
- The LCL ``DateTime`` / Kaggle ``tstp`` is on the GMT clock all year, i.e. UTC, and is read as the START of the
  half hour it labels (``interval_start_utc``), as schemas.py states. ``local_date``/``halfhour_local`` are the
  Europe/London wall-clock day and slot of that start: a spring-forward day has 46 slots (2 and 3 absent), a
  fall-back day 50 (slots 2 and 3 twice).
- Lines end at LF, CRLF or a lone CR. A UTF-8 BOM at the start of a line is ignored.
- A timestamp is on the grid when minute is 0 or 30, second 0 and any fraction all zeros (``.0000000``).
- Fields are split at every comma (LCL has no quoting) and trimmed of spaces.
- Reason codes, first failing check wins, in this order: bad_header, bad_column_count, bad_encoding,
  unknown_household, unparseable_time, off_grid_time, null_reading, unparseable_reading, negative_reading,
  implausible_reading (kWh > settings.max_halfhour_kwh per half hour). A reading is a plain decimal number
  (``-1.5``, ``.25``, ``2e-3``); ``NaN``/``Infinity`` or numbers that overflow are unparseable.
"""

from __future__ import annotations

import gzip
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from spark_jobs.ingestion.probe import Layout

REASONS = (
    "bad_header",
    "bad_column_count",
    "bad_encoding",
    "unknown_household",
    "unparseable_time",
    "off_grid_time",
    "null_reading",
    "unparseable_reading",
    "negative_reading",
    "implausible_reading",
)

TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?$"
HALF_HOUR_NS = 30 * 60 * 10**9
GRID_PATTERN = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:(00|30):00(\.0+)?$"
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
BOM = "\ufeff"
BLOCK_BYTES = 32 << 20  # lines are parsed in blocks of about this size: bounded memory per task

# Rows that passed every check, as a chunk hands them to the duplicate resolution (spark_jobs/ingestion/dedup.py).
VALID_ROWS = pa.schema(
    [
        ("household", pa.int32()),  # position of the household id in Reference.household_ids (sorted ids)
        ("tariff_group", pa.string()),
        ("interval_start_utc", pa.timestamp("us", tz="UTC")),
        ("halfhour_local", pa.int32()),
        ("energy_kwh", pa.float64()),
        ("local_date", pa.date32()),
        ("chunk_id", pa.int32()),
        ("line", pa.int64()),  # line number within the chunk, 1-based: with chunk_id, the input order
    ]
)
REJECTED_ROWS = pa.schema(
    [
        ("chunk_id", pa.int32()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("raw_line", pa.string()),
        ("household_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class Chunk:
    """A task's share of one input file: the lines that START in bytes [start, end) (a whole file if gzip)."""

    chunk_id: int  # ordinal in (source_file, start) order: the input order of the duplicate rule
    path: str
    source_file: str
    start: int
    end: int
    compressed: bool
    layout: Layout
    headers: tuple[str, ...]  # header lines of this layout's files: such lines anywhere are headers, not rows


@dataclass
class Reference:
    """What every chunk checks rows against: household information and the run's settings."""

    household_ids: pa.Array  # string, sorted, unique
    info_tariffs: pa.Array  # string, aligned with household_ids
    max_kwh: float
    tz: str


def plan_chunks(files, chunk_bytes: int) -> list[Chunk]:
    """Split readable probed files into chunks of about ``chunk_bytes`` (gzip files stay whole)."""
    headers: dict[tuple, set[str]] = {}
    for f in files:
        if f.status == "ok":
            headers.setdefault(f.layout.key, set()).add(f.header)
    chunks: list[Chunk] = []
    for f in sorted(files, key=lambda f: f.source_file):
        hs = tuple(sorted(headers.get(f.layout.key, ())))
        bounds = [(0, f.size_bytes)]
        if not f.compressed and f.size_bytes > chunk_bytes:
            n = -(-f.size_bytes // chunk_bytes)
            step = -(-f.size_bytes // n)
            bounds = [(s, min(s + step, f.size_bytes)) for s in range(0, f.size_bytes, step)]
        for start, end in bounds:
            chunks.append(Chunk(len(chunks), f.path, f.source_file, start, end, f.compressed, f.layout, hs))
    return chunks


def read_blocks(chunk: Chunk, block_bytes: int = BLOCK_BYTES) -> Iterator[pa.Buffer]:
    """Whole lines of the chunk in blocks of about ``block_bytes``; each ends at a line end or the file's end.

    A line belongs to the chunk holding its first byte: a chunk after the first skips the line that began before
    it, and every chunk finishes the line it is in at its end (lines are cut at LF here; split_lines also cuts
    at a lone CR). A plain file's blocks are slices of a memory map of it: no copy of the bytes.
    """
    if chunk.compressed:
        with gzip.open(chunk.path, "rb") as fh:
            while data := fh.read(block_bytes):
                yield pa.py_buffer(data if data.endswith(b"\n") else data + fh.readline())
        return
    with open(chunk.path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if chunk.start >= min(chunk.end, size):
            return
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    whole = pa.py_buffer(mm)
    pos = 0 if chunk.start == 0 else _line_end(mm, chunk.start - 1, size)
    while pos < min(chunk.end, size):
        stop = _line_end(mm, min(pos + block_bytes, chunk.end) - 1, size)
        yield whole.slice(pos, stop - pos)
        pos = stop


def _line_end(mm: mmap.mmap, i: int, size: int) -> int:
    """Position after the first LF at or after ``i`` (the file's size if there is none)."""
    nl = mm.find(b"\n", i)
    return size if nl < 0 else nl + 1


def split_lines(data: bytes | pa.Buffer) -> tuple[pa.Array, np.ndarray | None]:
    """A block's lines as a string array and a mask of lines that are not UTF-8.

    Lines end at LF, CRLF or a lone CR (as Hadoop's line reader and Arrow's CSV parser end them). Invalid UTF-8
    is rare, so the whole block is validated at once; only a block that fails is decoded line by line, with
    U+FFFD for the bad bytes (the raw line kept in the quarantine is then valid text).
    """
    if isinstance(data, pa.Buffer):  # this path is for irregular blocks only: a copy is cheap enough
        data = data.to_pybytes()
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    size = len(data) - 1 if data.endswith(b"\n") else len(data)  # no line after the last line end
    # One binary value over the block's bytes without a copy (pa.array([data]) copies slowly: 0.8 s per 50 MB).
    whole = pa.Array.from_buffers(
        pa.binary(), 1, [None, pa.py_buffer(np.array([0, size], np.int32)), pa.py_buffer(data)]
    )
    lines = pc.split_pattern(whole, b"\n").flatten()
    bad = None
    try:
        text = lines.cast(pa.string())
    except pa.ArrowInvalid:
        raw = lines.to_pylist()
        bad = np.zeros(len(raw), dtype=bool)
        decoded = []
        for i, b in enumerate(raw):
            try:
                decoded.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                decoded.append(b.decode("utf-8", errors="replace"))
                bad[i] = True
        text = pa.array(decoded, pa.string())
    return text, bad


def column(table: pa.Table, name: str) -> pa.Array:
    """A table's column as one array, without the copy ``combine_chunks`` makes even of a single chunk."""
    c = table[name]
    return c.chunk(0) if c.num_chunks == 1 else c.combine_chunks()


def _mask(a) -> np.ndarray:
    """Boolean Arrow array -> numpy bool, null = False."""
    return pc.fill_null(a, False).to_numpy(zero_copy_only=False)


def _on_the_grid(ns: pa.Array) -> tuple[pa.Array, np.ndarray]:
    on_grid = np.mod(pc.fill_null(ns.cast(pa.int64()), 1).to_numpy(), HALF_HOUR_NS) == 0
    return ns.cast(pa.timestamp("us", tz="UTC"), safe=False), on_grid


def parse_times(t: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """UTC start times of trimmed time fields (null where unparseable) and the on-grid mask.

    Arrow's ISO-8601 cast reads the values to the nanosecond, and a value is on the grid (minute 00 or 30, second
    00, fraction all zeros) when it is a whole multiple of 30 minutes since the epoch. A block whose values the
    cast refuses goes through TIME_PATTERN first (unparseable: null); if the cast still refuses some (Feb 30,
    hour 24, more than 9 fraction digits), the slowest path parses the first 19 characters with strptime, keeps
    only values that format back to the same text (strptime alone rolls Feb 30 to Mar 2), and checks the grid
    on the text.
    """
    if (pc.min(pc.utf8_length(t)).as_py() or 0) >= 19:
        # Fast path, no regex: for strings of 19+ characters Arrow's cast is exactly as strict as TIME_PATTERN
        # (it refuses a zone, a trailing space or dot, a comma fraction), so a block it accepts is well shaped.
        try:
            return _on_the_grid(t.cast(pa.timestamp("ns")))
        except pa.ArrowInvalid:
            pass
    shaped = pc.fill_null(pc.match_substring_regex(t, TIME_PATTERN), False)
    t = pc.if_else(shaped, t, pa.scalar(None, pa.string()))
    try:
        return _on_the_grid(t.cast(pa.timestamp("ns")))
    except pa.ArrowInvalid:
        on_grid = _mask(pc.match_substring_regex(t, GRID_PATTERN))
        t19 = pc.utf8_slice_codeunits(t, 0, 19)
        if pc.any(pc.equal(pc.utf8_slice_codeunits(t19, 10, 11), "T")).as_py():
            t19 = pc.replace_substring(t19, "T", " ")
        ts = pc.strptime(t19, "%Y-%m-%d %H:%M:%S", "us", error_is_null=True)
        same = pc.equal(pc.strftime(ts.cast(pa.timestamp("s")), "%Y-%m-%d %H:%M:%S"), t19)  # "%S" of us: fraction
        ts = pc.if_else(pc.fill_null(same, False), ts, pa.scalar(None, pa.timestamp("us")))
    return ts.cast(pa.timestamp("us", tz="UTC")), on_grid


def parse_readings(k: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """kWh values of trimmed reading fields, the null-reading mask and the finite-number mask."""
    is_null = _mask(pc.equal(k, "")) | _mask(pc.equal(pc.utf8_lower(k), "null")) | _mask(pc.is_null(k))
    if is_null.any():  # nulls, not "Null" texts, for the cast: a block's few Nulls must not refuse it
        k = pc.if_else(pa.array(is_null), pa.scalar(None, pa.string()), k)
    try:  # fast path, no regex: Arrow's cast takes NUMBER_PATTERN's numbers, plus NaN/Inf (not finite: rejected)
        kwh = k.cast(pa.float64())
    except pa.ArrowInvalid:
        numeric = pc.fill_null(pc.match_substring_regex(k, NUMBER_PATTERN), False)
        kwh = pc.if_else(numeric, k, pa.scalar(None, pa.string())).cast(pa.float64())
    finite = _mask(pc.is_finite(kwh))
    return kwh, is_null, finite


@dataclass
class Fields:
    """A block's lines cut into fields, by either path (``line_fields`` or ``csv_fields``)."""

    n: int
    lines: np.ndarray  # chunk-local line number of each entry
    header: np.ndarray
    blank: np.ndarray
    bad_columns: np.ndarray
    bad_encoding: np.ndarray
    field: Callable[[int | None], pa.Array]  # the trimmed field of every entry (null where the layout has none)
    raw: Callable[[pa.Array], pa.Array]  # the text of the lines at these indices (kept in the quarantine)


def line_fields(text: pa.Array, bad_encoding: np.ndarray | None, chunk: Chunk, first_line: int) -> Fields:
    """Fields of split lines: works on any block (BOMs, blank lines, wrong field counts, bad UTF-8)."""
    n = len(text)
    bom = pc.starts_with(text, BOM)
    raw = text
    if pc.any(bom).as_py():
        text = pc.if_else(bom, pc.utf8_slice_codeunits(text, 1), text)
    header = _mask(pc.is_in(text, pa.array(chunk.headers, pa.string()))) if chunk.headers else np.zeros(n, bool)
    blank = ~header & _mask(pc.equal(pc.utf8_trim(text, " "), ""))
    ncols = chunk.layout.ncols
    if chunk.layout.name == "bad_header":  # every row is rejected as such: no fields needed
        split, bad_columns = None, np.zeros(n, bool)
    else:
        # Pad with commas so every field index exists; the real field count is the split length minus the pad.
        split = pc.split_pattern(pc.binary_join_element_wise(text, "," * ncols, ""), ",")
        bad_columns = pc.subtract(pc.list_value_length(split), ncols).to_numpy() != ncols

    def field(i: int | None) -> pa.Array:
        if split is None or i is None or i < 0:
            return pa.nulls(n, pa.string())
        return pc.utf8_trim(pc.list_element(split, i), " ")

    return Fields(
        n,
        np.arange(first_line + 1, first_line + 1 + n, dtype=np.int64),
        header,
        blank,
        bad_columns,
        bad_encoding if bad_encoding is not None else np.zeros(n, bool),
        field,
        raw.take,
    )


def _is_utf8(buf: pa.Buffer) -> bool:
    """Whether a block is valid UTF-8, checked once over all its bytes (then so is each field: the parser cuts
    at ASCII bytes, which never occur inside a multi-byte character)."""
    whole = pa.Array.from_buffers(pa.binary(), 1, [None, pa.py_buffer(np.array([0, buf.size], np.int32)), buf])
    try:
        whole.cast(pa.string())
    except pa.ArrowInvalid:
        return False
    return True


def csv_fields(data: bytes | pa.Buffer, chunk: Chunk, first_line: int) -> Fields | None:
    """Fields of a regular block read by Arrow's CSV parser (3-4x cheaper than splitting lines), or None.

    Regular: valid UTF-8, no BOM, every line with the layout's field count and no empty line (Arrow's parser
    reads an empty line as a row of empty fields, which a line of bare commas also gives). Anything else (rare: a
    few blocks of a damaged file, or a file's first block with a BOM) goes to ``line_fields``.
    """
    layout = chunk.layout
    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    if layout.name == "bad_header" or buf.slice(0, 3).equals(pa.py_buffer(BOM.encode())) or not _is_utf8(buf):
        return None
    irregular = []

    def on_invalid(row) -> str:
        irregular.append(row.number)
        return "skip"

    names = [f"c{i}" for i in range(layout.ncols)]
    try:
        table = pcsv.read_csv(
            buf,
            read_options=pcsv.ReadOptions(use_threads=False, column_names=names, block_size=buf.size + 1),
            parse_options=pcsv.ParseOptions(
                quote_char=False,
                escape_char=False,
                double_quote=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, strings_can_be_null=False, check_utf8=False
            ),
        )
    except pa.ArrowInvalid:  # whatever the parser refuses goes to the line path
        return None
    if irregular:
        return None
    cols = [column(table, c) for c in names]
    n = table.num_rows
    if pc.any(pc.starts_with(cols[0], BOM)).as_py():
        return None
    empty = _mask(pc.equal(cols[0], ""))
    if empty.any():
        for col in cols[1:]:
            empty &= _mask(pc.equal(col, ""))
        if empty.any():
            return None
    header = np.zeros(n, bool)
    for h in chunk.headers:
        parts = h.split(",")
        first = _mask(pc.equal(cols[0], parts[0]))
        if first.any():
            same = first.copy()
            for col, part in zip(cols[1:], parts[1:], strict=True):
                same &= _mask(pc.equal(col, part))
            header |= same

    def field(i: int | None) -> pa.Array:
        return pa.nulls(n, pa.string()) if i is None or i < 0 else pc.utf8_trim(cols[i], " ")

    def raw(idx: pa.Array) -> pa.Array:
        return pc.binary_join_element_wise(*[c.take(idx) for c in cols], ",")

    zeros = np.zeros(n, bool)
    return Fields(
        n, np.arange(first_line + 1, first_line + 1 + n, dtype=np.int64), header, zeros, zeros, zeros, field, raw
    )


DAY_US, SLOT_US = 86_400 * 10**6, 1_800 * 10**6
MAX_SLOT_SPAN = 1 << 22  # half hours (~240 years) a block's times may span for the offset table below


def local_day_and_slot(ts: pa.Array, tz: str) -> tuple[pa.Array, pa.Array]:
    """Local date and half-hour slot of on-grid UTC start times (no nulls).

    The zone's offset is looked up once per half hour of the block's span (a table of ~35k entries for two
    years) instead of once per row: offsets change only on whole half hours, so every on-grid time of a half
    hour has the offset of its start. Falls back to Arrow's per-row conversion for an absurd span.
    """
    us = ts.cast(pa.int64()).to_numpy()
    slots = us // SLOT_US
    lo, hi = (int(slots.min()), int(slots.max())) if len(us) else (0, 0)
    if hi - lo > MAX_SLOT_SPAN:
        local = pc.local_timestamp(ts.cast(pa.timestamp("us", tz=tz)))
        halfhour = pc.add(pc.multiply(pc.hour(local), 2), pc.if_else(pc.greater_equal(pc.minute(local), 30), 1, 0))
        return local.cast(pa.date32()), halfhour.cast(pa.int32())
    starts = np.arange(lo, hi + 1, dtype=np.int64) * SLOT_US
    utc = pa.array(starts, pa.timestamp("us", tz="UTC"))
    offsets = pc.local_timestamp(utc.cast(pa.timestamp("us", tz=tz))).cast(pa.int64()).to_numpy() - starts
    local_us = us + offsets[slots - lo]
    days = local_us // DAY_US
    halfhour = (local_us - days * DAY_US) // SLOT_US
    return pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32()), pa.array(halfhour.astype(np.int32))


def classify(f: Fields, chunk: Chunk, ref: Reference):
    """Status of every line of a block: header, blank, rejected (with reason) or valid.

    Returns (valid rows as VALID_ROWS, rejected rows as REJECTED_ROWS, counts dict).
    """
    n, header, blank = f.n, f.header, f.blank
    row = ~header & ~blank
    layout = chunk.layout
    reason = np.zeros(n, dtype=np.int8)  # 0 = valid, else 1 + index in REASONS
    household = f.field(layout.household)
    if layout.name == "bad_header":
        reason[:] = 1 + REASONS.index("bad_header")
        checks = []
    else:
        idx = pc.index_in(household, value_set=ref.household_ids)
        # Header and blank lines get no time or reading: their text would send the whole block down the casts'
        # slow paths (every file's first block holds its header).
        not_row = None if row.all() else pa.array(~row)

        def row_field(i: int | None) -> pa.Array:
            v = f.field(i)
            return v if not_row is None else pc.if_else(not_row, pa.scalar(None, pa.string()), v)

        ts, on_grid = parse_times(row_field(layout.time))
        kwh, null_reading, finite = parse_readings(row_field(layout.kwh))
        kwh_np = pc.fill_null(kwh, 0.0).to_numpy()
        checks = [
            ("bad_column_count", f.bad_columns),
            ("bad_encoding", f.bad_encoding),
            ("unknown_household", _mask(pc.is_null(idx))),
            ("unparseable_time", _mask(pc.is_null(ts))),
            ("off_grid_time", ~on_grid),
            ("null_reading", null_reading),
            ("unparseable_reading", ~finite),
            ("negative_reading", kwh_np < 0),
            ("implausible_reading", kwh_np > ref.max_kwh),
        ]
    for name, failed in reversed(checks):  # first failing check wins: apply them last to first
        reason[failed] = 1 + REASONS.index(name)
    reason[~row] = 0
    rejected = row & (reason > 0)
    valid = row & (reason == 0)
    counts = {
        "header": int(header.sum()),
        "blank": int(blank.sum()),
        "valid": int(valid.sum()),
        **{
            r: int(c)
            for r, c in zip(REASONS, np.bincount(reason[rejected], minlength=len(REASONS) + 1)[1:], strict=True)
        },
    }
    rej_idx = pa.array(np.flatnonzero(rejected))
    rejected_tbl = pa.table(
        {
            "chunk_id": pa.array(np.full(len(rej_idx), chunk.chunk_id, np.int32)),
            "line": pa.array(f.lines[rejected]),
            "reason": pa.array([REASONS[c - 1] for c in reason[rejected]], pa.string()),
            "raw_line": f.raw(rej_idx),
            "household_id": household.take(rej_idx),
        },
        schema=REJECTED_ROWS,
    )
    if not valid.any():
        return VALID_ROWS.empty_table(), rejected_tbl, counts
    keep = pa.array(np.flatnonzero(valid))
    file_tariff = f.field(layout.tariff).take(keep)
    info_tariff = ref.info_tariffs.take(idx.take(keep))
    tariff = pc.coalesce(pc.if_else(pc.equal(file_tariff, ""), pa.scalar(None, pa.string()), file_tariff), info_tariff)
    ts = ts.take(keep)
    local_date, halfhour = local_day_and_slot(ts, ref.tz)
    valid_tbl = pa.table(
        {
            "household": idx.take(keep),
            "tariff_group": tariff,
            "interval_start_utc": ts,
            "halfhour_local": halfhour,
            "energy_kwh": kwh.take(keep),
            "local_date": local_date,
            "chunk_id": pa.array(np.full(len(keep), chunk.chunk_id, np.int32)),
            "line": pa.array(f.lines[valid]),
        },
        schema=VALID_ROWS,
    )
    return valid_tbl, rejected_tbl, counts


def parse_chunk(chunk: Chunk, ref: Reference, write_valid, households: bool = False, block_bytes: int = BLOCK_BYTES):
    """Every block of a chunk classified; valid rows go to ``write_valid(table)`` block by block.

    Returns (rejected rows, counts incl. ``lines``, households with valid rows if ``households`` - a sampled run
    needs them - else []): memory stays at a few blocks
    whatever the chunk's size (a gzip file is one chunk).
    """
    rejected, seen = [], set()
    totals = {"lines": 0, "header": 0, "blank": 0, "valid": 0, **{r: 0 for r in REASONS}}
    for data in read_blocks(chunk, block_bytes):
        f = csv_fields(data, chunk, totals["lines"]) or line_fields(*split_lines(data), chunk, totals["lines"])
        v, r, counts = classify(f, chunk, ref)
        totals["lines"] += f.n
        for k, c in counts.items():
            totals[k] += c
        write_valid(v)
        if households:
            seen.update(ref.household_ids.take(pc.unique(v["household"])).to_pylist())
        if r.num_rows:
            rejected.append(r)
    rejected_tbl = pa.concat_tables(rejected) if rejected else REJECTED_ROWS.empty_table()
    return rejected_tbl, totals, sorted(seen)
