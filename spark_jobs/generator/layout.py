"""The original LCL partition-file layout, reproduced byte for byte with vectorised NumPy.

Lines look like ``MAC000002,Std,2012-10-12 00:30:00.0000000, 0.233 \\r\\n``. The reading is stored as a
float32 printed with 7 decimals and trailing zeros stripped (that is why the real files show ``1.2180001``
but ``1.085``), wrapped in one space on each side; the missing-value token ``Null`` has no spaces.
"""

from __future__ import annotations

import numpy as np

HEADER = b"LCLid,stdorToU,DateTime,KWH/hh (per half hour) \r\n"
NEWLINE = b"\r\n"
FILE_PATTERN = "LCL-June2015v2_{index}.csv"
MAX_CODE = 15_000  # readings are whole watt-hours, 0 .. 15 kWh per half hour
NULL_CODE = MAX_CODE + 1
PREFIX_WIDTH = 14  # "MAC000002,Std,"
DATETIME_WIDTH = 28  # "2012-10-12 00:30:00.0000000,"


def format_reading(wh: int) -> str:
    """Text of one reading exactly as the LCL export wrote it (float32, 7 decimals, zeros stripped)."""
    text = f"{float(np.float32(wh / 1000.0)):.7f}".rstrip("0").rstrip(".")
    return f" {text} "


def value_table() -> tuple[np.ndarray, np.ndarray]:
    """Fixed-width byte rows (value field + CRLF) for every code, and their true lengths."""
    texts = [format_reading(code).encode() + NEWLINE for code in range(MAX_CODE + 1)]
    texts.append(b"Null" + NEWLINE)
    width = max(len(t) for t in texts)
    table = np.zeros((len(texts), width), dtype=np.uint8)
    lengths = np.empty(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        table[i, : len(t)] = np.frombuffer(t, dtype=np.uint8)
        lengths[i] = len(t)
    return table, lengths


def fixed_table(strings: list[str], width: int) -> np.ndarray:
    """Rows of equal-width ASCII strings as a (n, width) uint8 matrix."""
    data = "".join(strings).encode("ascii")
    if len(data) != len(strings) * width:
        raise ValueError(f"strings are not all {width} bytes wide")
    return np.frombuffer(data, dtype=np.uint8).reshape(len(strings), width)


def datetime_strings(epoch_seconds: np.ndarray) -> list[str]:
    """``YYYY-MM-DD HH:MM:SS.0000000,`` for UTC epoch seconds (the LCL files are on the GMT clock)."""
    stamps = np.asarray(epoch_seconds, dtype="datetime64[s]").astype(str)
    return [s.replace("T", " ") + ".0000000," for s in stamps]


class LineRenderer:
    """Turns (household row, datetime row, value code) triples into CSV bytes without a Python loop per line.

    Lines are assembled as fixed-width records (gathers on void views are several times faster than on 2-D
    uint8 rows), then the padding after each line's CRLF is dropped with one boolean compress.
    """

    def __init__(self) -> None:
        self.values, self.value_lengths = value_table()
        vw = self.values.shape[1]
        self.width = PREFIX_WIDTH + DATETIME_WIDTH + vw
        self._value_void = _as_void(self.values)
        keep = np.arange(self.width)[None, :] < (PREFIX_WIDTH + DATETIME_WIDTH + self.value_lengths)[:, None]
        self._keep_void = _as_void(keep.view(np.uint8))
        self._dtype = np.dtype([("p", f"V{PREFIX_WIDTH}"), ("d", f"V{DATETIME_WIDTH}"), ("v", f"V{vw}")])

    def render(
        self, prefixes: np.ndarray, datetimes: np.ndarray, row_h: np.ndarray, row_t: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bytes of all lines (uint8) and the byte offset where each line ends, for splitting into files."""
        rec = np.empty(len(codes), dtype=self._dtype)
        rec["p"] = _as_void(prefixes)[row_h]
        rec["d"] = _as_void(datetimes)[row_t]
        rec["v"] = self._value_void[codes]
        keep = self._keep_void[codes].view(np.bool_)
        lengths = PREFIX_WIDTH + DATETIME_WIDTH + self.value_lengths[codes]
        return rec.view(np.uint8)[keep], np.cumsum(lengths)


def _as_void(table: np.ndarray) -> np.ndarray:
    """A (n, w) uint8 matrix as n opaque w-byte records, so row gathers are single memcpy-like copies."""
    table = np.ascontiguousarray(table, dtype=np.uint8)
    return table.view(np.dtype((np.void, table.shape[1]))).ravel()


class PartitionWriter:
    """Writes lines into ``LCL-June2015v2_<i>.csv`` files of exactly ``rows_per_file`` data rows (last one shorter)."""

    def __init__(self, folder, rows_per_file: int) -> None:
        self.folder = folder
        self.rows_per_file = rows_per_file
        self.index = 0
        self.rows_in_file = 0
        self.handle = None
        self.files: list[str] = []
        self.rows = 0

    def _open(self) -> None:
        name = FILE_PATTERN.format(index=self.index)
        self.handle = open(self.folder / name, "wb")  # noqa: SIM115 - closed in _close/close
        self.handle.write(HEADER)
        self.files.append(name)
        self.rows_in_file = 0

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            self.index += 1

    def write(self, data: np.ndarray, line_ends: np.ndarray) -> None:
        view = memoryview(data)
        n = len(line_ends)
        done = 0
        start_byte = 0
        while done < n:
            if self.handle is None:
                self._open()
            take = min(self.rows_per_file - self.rows_in_file, n - done)
            end_byte = int(line_ends[done + take - 1])
            self.handle.write(view[start_byte:end_byte])
            start_byte = end_byte
            done += take
            self.rows_in_file += take
            self.rows += take
            if self.rows_in_file >= self.rows_per_file:
                self._close()

    def close(self) -> None:
        if self.handle is None and not self.files:
            self._open()  # an empty run still yields one file with the header, so readers see the layout
        self._close()
