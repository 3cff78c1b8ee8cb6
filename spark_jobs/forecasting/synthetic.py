"""Small, seeded readings in the ``readings_halfhourly`` layout for tests of the forecasting stages.

Not the platform's data generator (``spark_jobs.generate`` is): this one skips CSV/ingest entirely so unit tests
can build a few households x a few weeks in milliseconds, with structure a model can learn (daily shape, weekly
cycle, winter heating, household level) and noise it cannot.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def readings_frame(
    n_households: int = 3,
    start: dt.date = dt.date(2013, 1, 1),
    days: int = 60,
    seed: int = 0,
    tou_every: int = 3,
) -> pd.DataFrame:
    """Half-hourly readings on the GMT clock (UTC) with local dates/half hours for Europe/London."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start, tz="UTC")
    times = pd.date_range(t0, periods=days * 48, freq="30min")
    local = times.tz_convert("Europe/London")
    local_date = local.date
    halfhour_local = np.asarray(local.hour * 2 + local.minute // 30)
    hour = halfhour_local / 2.0
    doy = np.asarray(local.dayofyear)
    weekend = np.asarray(local.dayofweek >= 5)
    shape = 0.6 + 0.5 * np.exp(-((hour - 8) ** 2) / 3) + 1.0 * np.exp(-((hour - 19) ** 2) / 5)
    season = 1.0 + 0.35 * np.cos(2 * np.pi * (doy - 15) / 365.25)
    frames = []
    for i in range(n_households):
        level = rng.uniform(0.1, 0.4)
        day_noise = np.repeat(rng.lognormal(0.0, 0.15, days), 48)
        kwh = level * shape * season * (1.15 * weekend + 1.0 * ~weekend) * day_noise
        kwh = kwh * rng.lognormal(0.0, 0.35, kwh.size)
        frames.append(
            pd.DataFrame(
                {
                    "household_id": f"SYN{i:06d}",
                    "tariff_group": "ToU" if tou_every and i % tou_every == tou_every - 1 else "Std",
                    "interval_start_utc": times,
                    "halfhour_local": halfhour_local.astype("int32"),
                    "energy_kwh": np.round(kwh, 3),
                    "source_file": "synthetic",
                    "local_date": local_date,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
