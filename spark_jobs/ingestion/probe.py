"""Driver-side probing of input files: expand globs, read each file's header, pick its layout.

Probing reads one line per file (plus a streaming integrity check of gzip files), so the Spark read can use a
fixed column mapping per layout instead of schema inference, and a file that cannot be read at all is named in
the accounting instead of failing the whole run inside an executor.
"""

from __future__ import annotations

import glob
import gzip
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
GZIP_SUFFIXES = (".gz", ".gzip")

# Header column names (stripped, lower-cased) -> role. Both the original LCL layout and the Kaggle
# "Smart meters in London" halfhourly_dataset layout map onto the same roles.
COLUMN_ROLES = {
    "lclid": "household",
    "stdortou": "tariff",
    "datetime": "time",
    "tstp": "time",
    "kwh/hh (per half hour)": "kwh",
    "energy(kwh/hh)": "kwh",
    "acorn": "extra",
    "acorn_grouped": "extra",
}

# File statuses in the accounting.
STATUS_OK = "ok"
STATUS_EMPTY = "empty"  # zero bytes: nothing to read, not an error
STATUS_BAD_HEADER = "bad_header"  # readable text whose header is not a known layout: every line quarantined
STATUS_UNREADABLE = "unreadable"  # not text / corrupt gzip / missing: not read at all, error names the file


@dataclass(frozen=True)
class Layout:
    """Positions of the fields in a split line; ``tariff`` is None when the file lacks ``stdorToU``."""

    name: str  # "lcl_original" | "kaggle_halfhourly" | "bad_header"
    ncols: int
    household: int = -1
    time: int = -1
    kwh: int = -1
    tariff: int | None = None

    @property
    def key(self) -> tuple:
        return (self.name, self.ncols, self.household, self.time, self.kwh, self.tariff)


@dataclass
class ProbedFile:
    path: str
    source_file: str  # base name: the key of the file in every output
    size_bytes: int
    status: str
    layout: Layout | None = None
    header: str | None = None  # first line as Spark will see it (no BOM, no CR)
    error: str | None = None
    compressed: bool = False
    text_bytes: int = 0  # bytes of CSV text: the file's size, or its decompressed size if gzip (sizes the tasks)
    extra: dict = field(default_factory=dict)


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files named by folders, globs or plain paths; sorted, de-duplicated. Hidden and ``_`` files skipped."""
    found: list[str] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            candidates = [str(c) for c in p.iterdir() if c.is_file()]
        elif any(ch in pattern for ch in "*?["):
            candidates = [c for c in glob.glob(pattern, recursive=True) if os.path.isfile(c)]
        else:
            candidates = [pattern]  # a missing plain path is reported as unreadable, not silently dropped
        found.extend(c for c in candidates if not os.path.basename(c).startswith((".", "_")))
    return sorted({os.path.abspath(c) for c in found})


def parse_header(header: str) -> Layout:
    """Layout of a header line, or a ``bad_header`` layout when it is not a known one."""
    names = [c.strip().strip('"').lower() for c in header.split(",")]
    roles = [COLUMN_ROLES.get(n) for n in names]
    required = ("household", "time", "kwh")
    if None in roles or any(roles.count(r) != 1 for r in required) or roles.count("tariff") > 1:
        return Layout(name="bad_header", ncols=len(names))
    name = "kaggle_halfhourly" if "tstp" in names else "lcl_original"
    return Layout(
        name=name,
        ncols=len(names),
        household=roles.index("household"),
        time=roles.index("time"),
        kwh=roles.index("kwh"),
        tariff=roles.index("tariff") if "tariff" in roles else None,
    )


def _check_gzip(path: str) -> int:
    """Decompress the whole stream (C speed, constant memory) so a truncated gzip fails here, not in Spark;
    returns the decompressed size (the gzip trailer's ISIZE is only that size modulo 4 GiB, of the last member)."""
    total = 0
    with gzip.open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            total += len(block)
    return total


def probe_file(path: str) -> ProbedFile:
    name = os.path.basename(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except OSError as exc:
        return ProbedFile(path, name, 0, STATUS_UNREADABLE, error=f"{name}: cannot open: {exc}")
    if size == 0:
        return ProbedFile(path, name, 0, STATUS_EMPTY, error=None)
    compressed = magic == GZIP_MAGIC
    if compressed and not path.lower().endswith(GZIP_SUFFIXES):
        return ProbedFile(
            path,
            name,
            size,
            STATUS_UNREADABLE,
            compressed=True,
            error=f"{name}: gzip content without a .gz suffix (Spark would read it as text); rename it to *.gz",
        )
    text_bytes = size
    try:
        if compressed:
            text_bytes = _check_gzip(path)
            opener = gzip.open
        else:
            opener = open
        with opener(path, "rb") as fh:
            head = fh.read(65536)
    except (OSError, EOFError, zlib.error) as exc:
        return ProbedFile(
            path, name, size, STATUS_UNREADABLE, compressed=compressed, error=f"{name}: corrupt or unreadable: {exc}"
        )
    if b"\x00" in head:
        return ProbedFile(
            path,
            name,
            size,
            STATUS_UNREADABLE,
            compressed=compressed,
            error=f"{name}: not a text CSV file (NUL bytes in the first 64 KiB)",
        )
    if not head.strip():
        # Only whitespace: no header at all. Read as a bad-header file so its lines are still accounted.
        return ProbedFile(path, name, size, STATUS_EMPTY, compressed=compressed)
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    header = first.decode("utf-8", errors="replace").lstrip("\ufeff")
    layout = parse_header(header)
    status = STATUS_OK if layout.name != "bad_header" else STATUS_BAD_HEADER
    error = None if status == STATUS_OK else f"{name}: unknown header {header[:200]!r}; all lines quarantined"
    return ProbedFile(
        path,
        name,
        size,
        status,
        layout=layout,
        header=header,
        error=error,
        compressed=compressed,
        text_bytes=text_bytes,
    )


def probe_inputs(patterns: list[str]) -> list[ProbedFile]:
    files = [probe_file(p) for p in expand_inputs(patterns)]
    seen: dict[str, str] = {}
    for f in files:
        if f.source_file in seen:
            raise ValueError(
                f"two input files share the name {f.source_file!r} ({seen[f.source_file]}, {f.path}); "
                "source_file is the key of a file's rows, so names must be unique within a run"
            )
        seen[f.source_file] = f.path
    return files
