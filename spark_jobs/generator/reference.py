"""Real reference inputs for the generator: household list, hourly weather and the 2013 dToU price schedule."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

TARIFF_CODES = {"Normal": 0, "Low": 1, "High": 2}


@lru_cache(maxsize=4)
def households(path: Path) -> pd.DataFrame:
    """``household_id, tariff_group, acorn, acorn_group`` sorted by id; the CSV quotes a stray CR into ``file``."""
    df = pd.read_csv(path, dtype=str, usecols=["LCLid", "stdorToU", "Acorn", "Acorn_grouped"])
    df = df.rename(
        columns={"LCLid": "household_id", "stdorToU": "tariff_group", "Acorn": "acorn", "Acorn_grouped": "acorn_group"}
    )
    for col in df.columns:
        df[col] = df[col].str.strip()
    return df.sort_values("household_id", kind="stable").reset_index(drop=True)


@lru_cache(maxsize=4)
def hourly_temperature(path: Path) -> pd.Series:
    """Temperature by UTC hour, sorted, with the two missing hours interpolated."""
    w = pd.read_csv(path, usecols=["time", "temperature"], parse_dates=["time"])
    s = w.drop_duplicates("time").set_index("time")["temperature"].sort_index()
    full = pd.date_range(s.index.min(), s.index.max(), freq="1h")
    return s.reindex(full).interpolate(limit_direction="both")


@lru_cache(maxsize=4)
def tariff_2013(path: Path) -> np.ndarray:
    """The 17,520 half-hour codes of 2013 (0 Normal, 1 Low, 2 High), indexed by half hour of the year (GMT)."""
    t = pd.read_csv(path, parse_dates=["TariffDateTime"]).sort_values("TariffDateTime")
    idx = ((t["TariffDateTime"] - pd.Timestamp("2013-01-01")) // pd.Timedelta("30min")).to_numpy()
    codes = np.zeros(17_520, dtype=np.int8)
    codes[idx] = t["Tariff"].map(TARIFF_CODES).to_numpy()
    return codes
