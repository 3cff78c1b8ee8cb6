"""The consumption model: timeline, household parameters, half-hourly synthesis, quirks and injected anomalies.

Why hashing instead of a stateful RNG: every draw is ``splitmix64(seed, household, absolute half hour or day)``,
so a value never depends on which range, household subset or chunk is being generated. A live-feed day is
therefore byte-identical to the same day inside a 27-month batch, and blocks can be processed in any order.

Calibration (see tests/spark_jobs/test_generate.py for the checks against the real MAC000002 household):
- group levels: mean daily kWh by Acorn group, approximately as published for LCL (Affluent > Comfortable >
  Adversity), spread by heavy-tailed household size and a log-normal household factor;
- shapes: morning and evening peaks on weekdays, a later and broader day on weekends and bank holidays
  (``holidays`` library, England), per-household chronotype shift, at-home share and timer appliances;
- season: heating-degree-day response on the real hourly London temperature (climatology outside 2011-2014)
  plus lighting after sunset, giving winter/summer ratios like the real sample;
- ToU households use less in the real 2013 High half hours and more in Low ones (the 2013 schedule is replayed
  after the trial ended so live days have prices too; before 2013 everyone was on the flat tariff);
- a few electric-heating and night-storage (Economy 7) homes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import holidays
import numpy as np
import pandas as pd

EPOCH_DAY = date(2000, 1, 1)
TRIAL_START = date(2011, 11, 23)  # first LCL readings
TRIAL_END = date(2014, 2, 28)  # last LCL readings
TOU_YEAR = 2013  # the only year the real dToU prices applied
SYNTHETIC_ID_BASE = 100_000  # household ids past the real list: MAC100001, MAC100002, ...

GROUP_DAILY_KWH = {"Affluent": 11.9, "Comfortable": 10.1, "Adversity": 8.6, "ACORN-U": 10.0}
DEFAULT_DAILY_KWH = 10.0  # the two rows with the empty group "ACORN-"
HOUSEHOLD_SIZE_P = np.array([0.29, 0.35, 0.16, 0.13, 0.05, 0.02])  # 1..6+ occupants, England & Wales
HDD_BASE_C = 15.5
HDD_MEAN = 5.6  # mean daily heating degree days in London 2011-2014, normalises the temperature response
EVENT_SIZE_MEAN = 1 - 5 * math.exp(-4)  # mean of min(Exp(1), 4)
DARK_MEAN = 0.30  # mean share of half hours that need lighting (awake and dark)

# Anomaly kinds: share of the total rate, duration in half hours (min, max).
ANOMALY_KINDS = {
    "spike": (0.40, 1, 2),
    "sustained_high": (0.25, 48, 240),
    "near_zero": (0.20, 144, 1008),
    "shifted_profile": (0.15, 336, 1344),
}
SPIKE_BURST_CAP = 4.0  # natural appliance events are min(Exp(1), 4) x the household's event size
SPIKE_MAX_KWH = 11.5  # 23 kW for half an hour: about the limit of a 100 A single-phase supply
ANOMALY_EPOCH_DAYS = 32  # anomalies are drawn per (household, 32-day epoch, kind), independent of the range

# Quirk rates, from the real files (MAC000002: 17 duplicate midnight rows and 1 missing day in 505 days).
MISSING_DAY_P = 0.002
DUPLICATE_DAY_P = 1 / 30
OFFGRID_NULL_DAY_P = 0.002

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# Streams: one constant per kind of draw, so draws never collide.
S_PARAM, S_NOISE, S_DAY, S_MISSING, S_DUP, S_OFFGRID, S_ANOM, S_WEATHER, S_ENROL = range(1, 10)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _u64(values) -> np.ndarray:
    return np.asarray(values).astype(np.int64).astype(np.uint64)


def hash_keys(seed: int, numbers: np.ndarray) -> np.ndarray:
    """One 64-bit key per household number."""
    return mix64(_u64(numbers) * _GOLDEN + mix64(_u64([seed]))[0])


def uniform(keys: np.ndarray, stream: int, *counters) -> np.ndarray:
    """Uniforms in (0, 1) for keys broadcast against counters (e.g. keys[:, None] and days[None, :])."""
    x = keys + np.uint64((stream * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    for c in counters:
        x = mix64(x ^ (_u64(c) * _M1))
    x = mix64(x)
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def std_normal(u: np.ndarray) -> np.ndarray:
    """Unit-variance logistic variate: close to normal, one log per value, slightly heavier tails."""
    return np.log(u / (1.0 - u)) * (math.sqrt(3.0) / math.pi)


def day_number(d: date) -> int:
    return (d - EPOCH_DAY).days


# --------------------------------------------------------------------------------------------------- timeline
@dataclass
class Timeline:
    """All half hours of the local (Europe/London) days start..end, with the per-slot drivers of the model."""

    days: list[date]
    day_abs: np.ndarray  # days since 2000-01-01, per local day
    day_first_slot: np.ndarray  # slot offset of each day, len(days) + 1
    slot_abs: np.ndarray  # absolute UTC half hour since 2000-01-01 00:00
    slot_seconds: np.ndarray  # UTC epoch seconds of each slot start
    slot_day: np.ndarray  # index into days
    hh_local: np.ndarray  # local half hour of day 0..47
    daytype: np.ndarray  # 0 weekday, 1 Saturday, 2 Sunday or bank holiday
    temp: np.ndarray  # deg C at the slot
    hdd_day: np.ndarray  # heating degree days per local day
    tariff: np.ndarray  # 0 Normal, 1 Low, 2 High
    dark: np.ndarray  # 0..1 lighting need (awake and dark)
    heat_sched: np.ndarray  # 0..1 space-heating schedule by local time

    @property
    def n_slots(self) -> int:
        return len(self.slot_abs)


def _climatology(temps: pd.Series):
    """Least-squares annual + diurnal harmonics of the real temperature, for days outside the weather file."""
    t = temps.index
    doy = 2 * np.pi * t.dayofyear.to_numpy() / 365.25
    hod = 2 * np.pi * t.hour.to_numpy() / 24

    def design(doy_, hod_):
        return np.column_stack(
            [
                np.ones_like(doy_),
                np.cos(doy_),
                np.sin(doy_),
                np.cos(2 * doy_),
                np.sin(2 * doy_),
                np.cos(hod_),
                np.sin(hod_),
            ]
        )

    coef, *_ = np.linalg.lstsq(design(doy, hod), temps.to_numpy(), rcond=None)
    return lambda doy_, hod_: design(doy_, hod_) @ coef


def build_timeline(start: date, end: date, seed: int, temps: pd.Series, tariff2013: np.ndarray, tz: str) -> Timeline:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    local = pd.date_range(
        pd.Timestamp(start).tz_localize(tz),
        pd.Timestamp(end + timedelta(days=1)).tz_localize(tz),
        freq="30min",
        inclusive="left",
    )
    utc = local.tz_convert("UTC").tz_localize(None)
    slot_seconds = (utc - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    slot_seconds = np.asarray(slot_seconds, dtype=np.int64)
    slot_abs = (slot_seconds - int((pd.Timestamp(EPOCH_DAY) - pd.Timestamp("1970-01-01")).total_seconds())) // 1800
    local_dates = local.tz_localize(None).normalize()
    day_idx = ((local_dates - pd.Timestamp(start)) // pd.Timedelta("1D")).to_numpy().astype(np.int64)
    first = np.searchsorted(day_idx, np.arange(len(days) + 1))
    hh_local = (local.hour * 2 + local.minute // 30).to_numpy().astype(np.int64)

    years = range(start.year, end.year + 1)
    bank = set(holidays.country_holidays("GB", subdiv="ENG", years=years).keys())
    dow = np.array([d.weekday() for d in days])
    daytype_day = np.where((dow == 6) | np.array([d in bank for d in days]), 2, np.where(dow == 5, 1, 0))
    day_abs = np.array([day_number(d) for d in days], dtype=np.int64)

    # Temperature: the real hourly series where it exists, else climatology plus a smooth seeded daily anomaly.
    hours = utc.floor("h")
    temp = temps.reindex(hours).to_numpy()
    missing = np.isnan(temp)
    if missing.any():
        clim = _climatology(temps)
        doy = 2 * np.pi * hours.dayofyear.to_numpy()[missing] / 365.25
        hod = 2 * np.pi * hours.hour.to_numpy()[missing] / 24
        key = hash_keys(seed, np.array([0]))
        lag_days = day_abs[day_idx[missing]][:, None] - np.arange(4)[None, :]
        z = std_normal(uniform(key, S_WEATHER, lag_days))
        anomaly = 2.6 * (z @ (0.6 ** np.arange(4))) / math.sqrt(np.sum(0.36 ** np.arange(4)))
        temp[missing] = clim(doy, hod) + anomaly
    tday = np.bincount(day_idx, weights=temp, minlength=len(days)) / np.bincount(day_idx, minlength=len(days))
    hdd_day = np.clip(HDD_BASE_C - tday, 0, None)

    # dToU: real 2013 prices; replayed by calendar day after the trial so live days have a signal; flat before.
    month, dom = utc.month.to_numpy(), utc.day.to_numpy()
    dom = np.where((month == 2) & (dom == 29), 28, dom)
    doy2013 = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])[month - 1] + dom - 1
    hh_utc = (utc.hour * 2 + utc.minute // 30).to_numpy()
    use = (utc.year.to_numpy() == TOU_YEAR) | np.asarray(utc >= pd.Timestamp(TRIAL_END) + pd.Timedelta("1D"))
    tariff = np.where(use, tariff2013[doy2013 * 48 + hh_utc], 0).astype(np.int64)

    # Lighting: dark between sunset and sunrise (London, simple solar geometry, solar noon ~12:00 UTC),
    # only while people are awake (06:30-23:30 local), ramped over half an hour around sunrise/sunset.
    doy_utc = utc.dayofyear.to_numpy()
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy_utc) / 365)
    omega = np.degrees(np.arccos(np.clip(-np.tan(np.radians(51.5)) * np.tan(decl), -1, 1)))
    half_day = omega / 15.0
    hour_utc = utc.hour.to_numpy() + utc.minute.to_numpy() / 60 + 0.25
    dist = np.minimum(hour_utc - (12 - half_day), (12 + half_day) - hour_utc)  # >0 in daylight (hours)
    dark = np.clip(0.5 - dist / 1.0, 0, 1)
    dark *= np.where((hh_local >= 13) & (hh_local <= 45), 1.0, np.where((hh_local >= 46) | (hh_local <= 1), 0.5, 0.0))

    hl = hh_local / 2.0
    heat_sched = np.where(((hl >= 6) & (hl < 9)) | ((hl >= 16.5) & (hl < 22.5)), 1.0, 0.25)

    return Timeline(
        days=days,
        day_abs=day_abs,
        day_first_slot=first,
        slot_abs=np.asarray(slot_abs, dtype=np.int64),
        slot_seconds=slot_seconds,
        slot_day=day_idx,
        hh_local=hh_local,
        daytype=daytype_day[day_idx],
        temp=temp,
        hdd_day=hdd_day,
        tariff=tariff,
        dark=dark,
        heat_sched=heat_sched,
    )


# --------------------------------------------------------------------------------------------------- households
def _gauss(h: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((h - mu) / sd) ** 2)


def base_templates() -> np.ndarray:
    """Population activity shapes (3 day types x 48 local half hours), before household variation."""
    h = (np.arange(48) + 0.5) / 2
    wrap = np.concatenate([h, h + 24])  # let the late-evening bump spill past midnight
    night = 0.15
    weekday = night + 0.9 * _gauss(h, 7.4, 0.9) + 0.35 * _gauss(h, 12.5, 2.8) + 1.8 * _gauss(h, 18.9, 1.6)
    weekday += 0.8 * (_gauss(wrap, 21.9, 1.5)[:48] + _gauss(wrap, 21.9, 1.5)[48:])
    saturday = night + 0.8 * _gauss(h, 9.4, 1.3) + 0.8 * _gauss(h, 13.0, 2.4) + 1.6 * _gauss(h, 18.6, 1.8)
    saturday += 0.8 * (_gauss(wrap, 22.2, 1.6)[:48] + _gauss(wrap, 22.2, 1.6)[48:])
    sunday = night + 0.7 * _gauss(h, 9.8, 1.4) + 1.0 * _gauss(h, 13.2, 1.8) + 1.6 * _gauss(h, 18.2, 1.8)
    sunday += 0.7 * (_gauss(wrap, 21.7, 1.5)[:48] + _gauss(wrap, 21.7, 1.5)[48:])
    return np.stack([weekday, saturday, sunday])


@dataclass
class Households:
    """Per-household parameters; arrays are aligned with ``ids``."""

    ids: list[str]
    number: np.ndarray
    tariff_group: np.ndarray  # "Std" | "ToU"
    acorn_group: np.ndarray
    key: np.ndarray
    body_kwh: np.ndarray  # mean kWh per half hour of the activity body at HDD 0
    base_frac: np.ndarray
    noise_a: np.ndarray
    noise_norm: np.ndarray
    day_sd: np.ndarray
    beta: np.ndarray  # relative increase per heating degree day
    light_kwh: np.ndarray
    event_p: np.ndarray
    event_kwh: np.ndarray
    weekend_mult: np.ndarray
    shift: np.ndarray  # chronotype, half hours
    templates: np.ndarray  # (H, 3, 48), mean 1 per day type
    tou_mult: np.ndarray  # (H, 3): Normal, Low, High
    heat_kw: np.ndarray  # electric space heating, 0 for most
    storage_kwh_per_hdd: np.ndarray  # night storage, 0 for most
    storage_base_kwh: np.ndarray  # Economy-7 water heating per night
    join_day: np.ndarray  # day number; enrolment applies inside the trial window only
    leave_day: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def select_households(info: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """The first n real households by id, then synthetic MAC100001... drawn with the real tariff and Acorn mix."""
    real = info.iloc[: min(n, len(info))].copy()
    real["number"] = real["household_id"].str[3:].astype(np.int64)
    extra = n - len(real)
    if extra <= 0:
        return real.reset_index(drop=True)
    numbers = SYNTHETIC_ID_BASE + 1 + np.arange(extra, dtype=np.int64)
    keys = hash_keys(seed, numbers)
    pick = (uniform(keys, S_PARAM, 1) * len(info)).astype(np.int64)  # tariff and Acorn of a random real home
    tou = uniform(keys, S_PARAM, 2) < (info["tariff_group"] == "ToU").mean()
    synth = pd.DataFrame(
        {
            "household_id": [f"MAC{x:06d}" for x in numbers],
            "tariff_group": np.where(tou, "ToU", "Std"),
            "acorn": info["acorn"].to_numpy()[pick],
            "acorn_group": info["acorn_group"].to_numpy()[pick],
            "number": numbers,
        }
    )
    return pd.concat([real, synth], ignore_index=True)


def build_households(chosen: pd.DataFrame, seed: int) -> Households:
    numbers = chosen["number"].to_numpy()
    keys = hash_keys(seed, numbers)
    n = len(numbers)

    def u(i: int) -> np.ndarray:
        return uniform(keys, S_PARAM, 100 + i)

    group = chosen["acorn_group"].to_numpy()
    level = np.array([GROUP_DAILY_KWH.get(g, DEFAULT_DAILY_KWH) for g in group])
    # Heavy-tailed size: occupants with the census mix, energy ~ size^0.5, times a log-normal household factor.
    size = np.searchsorted(np.cumsum(HOUSEHOLD_SIZE_P), u(0)) + 1.0
    size_norm = np.sum(HOUSEHOLD_SIZE_P * (np.arange(1, 7) / 2.4) ** 0.5) * math.exp(0.42**2 / 2)
    level = level * (size / 2.4) ** 0.5 * np.exp(0.42 * std_normal(u(1))) / size_norm

    base_frac = 0.22 + 0.3 * u(2)
    beta = 0.03 * np.exp(0.5 * std_normal(u(3)))
    f_light = 0.05 + 0.08 * u(4)
    f_event = 0.10 + 0.15 * u(5)
    mean_hh = level / 48
    # Appliance events (kettle, oven, shower, washer): 0.3-1.2 kWh each, frequency sized to their energy share.
    event_kwh = (0.3 + 0.9 * u(6)) * np.sqrt(level / 10.0)
    event_p = f_event * mean_hh / (event_kwh * EVENT_SIZE_MEAN)
    light_kwh = f_light * mean_hh / DARK_MEAN
    body_kwh = mean_hh * (1 - f_light - f_event) / (1 + beta * HDD_MEAN)
    noise_sd = 0.35 + 0.3 * u(7)
    noise_a = noise_sd * math.sqrt(3) / math.pi
    noise_norm = np.pi * noise_a / np.sin(np.pi * noise_a)
    day_sd = 0.25 + 0.15 * u(8)
    weekend_mult = 1.0 + 0.14 * u(23)  # more time at home on weekends and bank holidays
    shift = np.clip(np.rint(1.4 * std_normal(u(9))), -4, 4).astype(np.int64)

    # Household shapes: blend toward an at-home weekday, optional timer appliance, then normalise to mean 1.
    base = base_templates()
    home = u(10) ** 2
    templates = np.repeat(base[None], n, axis=0)
    templates[:, 0, :] = (1 - home)[:, None] * base[0] + home[:, None] * base[1]
    timer = u(11) < 0.35
    timer_hh = (u(12) * 48).astype(np.int64)
    timer_amp = np.where(timer, 1.0 + 3.0 * u(13), 0.0)
    templates[np.arange(n), :, timer_hh] += timer_amp[:, None]
    templates /= templates.mean(axis=2, keepdims=True)

    tou = chosen["tariff_group"].to_numpy() == "ToU"
    tou_mult = np.ones((n, 3))
    tou_mult[:, 1] = np.where(tou, 1.1 + 0.3 * u(14), 1.0)  # Low: run appliances now
    tou_mult[:, 2] = np.where(tou, 0.92 - 0.2 * u(15), 1.0)  # High: avoid

    kind = u(16)
    heat_kw = np.where(kind < 0.03, 1.5 + 2.0 * u(17), 0.0)  # ~3% electric space heating
    storage = (kind >= 0.03) & (kind < 0.05)  # ~2% night storage heaters on Economy 7
    storage_kwh_per_hdd = np.where(storage, 0.8 + 0.8 * u(18), 0.0)
    storage_base_kwh = np.where(storage, 2.0 + 3.0 * u(19), 0.0)

    trial0, trial1 = day_number(TRIAL_START), day_number(TRIAL_END)
    join = trial0 + (u(20) * 370).astype(np.int64)
    early = u(21) < 0.07
    leave = np.where(early, join + 90 + (u(22) * np.maximum(trial1 - join - 90, 1)).astype(np.int64), trial1)

    return Households(
        ids=chosen["household_id"].tolist(),
        number=numbers,
        tariff_group=chosen["tariff_group"].to_numpy(),
        acorn_group=group,
        key=keys,
        body_kwh=body_kwh,
        base_frac=base_frac,
        noise_a=noise_a,
        noise_norm=noise_norm,
        day_sd=day_sd,
        beta=beta,
        light_kwh=light_kwh,
        event_p=event_p,
        event_kwh=event_kwh,
        weekend_mult=weekend_mult,
        shift=shift,
        templates=templates,
        tou_mult=tou_mult,
        heat_kw=heat_kw,
        storage_kwh_per_hdd=storage_kwh_per_hdd,
        storage_base_kwh=storage_base_kwh,
        join_day=join,
        leave_day=np.minimum(leave, trial1),
    )


# --------------------------------------------------------------------------------------------------- synthesis
def day_factor(hh: Households, rows: np.ndarray, day_abs: np.ndarray) -> np.ndarray:
    """(rows x days) multiplicative day-to-day variation, mildly persistent (AR-like blend with yesterday)."""
    keys = hh.key[rows][:, None]
    z0 = std_normal(uniform(keys, S_DAY, day_abs[None, :]))
    z1 = std_normal(uniform(keys, S_DAY, day_abs[None, :] - 1))
    z = (z0 + 0.6 * z1) / math.sqrt(1.36)
    sd = hh.day_sd[rows][:, None]
    return np.exp(sd * z - sd**2 / 2)


def synthesise(hh: Households, rows: np.ndarray, tl: Timeline, lo: int, hi: int, extra_shift: int = 0) -> np.ndarray:
    """kWh for households ``rows`` over slots lo..hi (a 2-D array), before quirks and anomalies."""
    sl = slice(lo, hi)
    nr = len(rows)
    keys = hh.key[rows][:, None]
    bits = mix64(keys ^ (_u64(tl.slot_abs[sl]) * _M1)[None, :] ^ np.uint64(S_NOISE))
    u1 = ((bits >> np.uint64(43)).astype(np.float64) + 0.5) * (1.0 / 2097152.0)
    u2 = (((bits >> np.uint64(22)) & np.uint64(0x1FFFFF)).astype(np.float64) + 0.5) * (1.0 / 2097152.0)
    u3 = (((bits >> np.uint64(1)) & np.uint64(0x1FFFFF)).astype(np.float64) + 0.5) * (1.0 / 2097152.0)

    hh_eff = (tl.hh_local[sl][None, :] - hh.shift[rows][:, None] - extra_shift) % 48
    act = hh.templates[rows].reshape(nr, 144)[np.arange(nr)[:, None], tl.daytype[sl][None, :] * 48 + hh_eff]
    act *= hh.tou_mult[rows][:, tl.tariff[sl]]

    day_idx = tl.slot_day[sl]
    d0, d1 = int(day_idx[0]), int(day_idx[-1]) + 1
    daily = day_factor(hh, rows, tl.day_abs[d0:d1]) * (1 + hh.beta[rows][:, None] * tl.hdd_day[None, d0:d1])
    weekend = np.asarray(tl.daytype[tl.day_first_slot[d0:d1]] > 0)
    daily *= hh.body_kwh[rows][:, None] * np.where(weekend[None, :], hh.weekend_mult[rows][:, None], 1.0)
    per_slot = daily[:, day_idx - d0]

    base = hh.base_frac[rows][:, None]
    a = hh.noise_a[rows][:, None]
    noise = np.exp(a * np.clip(np.log(u1 / (1 - u1)), -5.0, 5.0)) / hh.noise_norm[rows][:, None]
    # Standby load (fridge cycling) varies +-25%; the activity part carries the heavy multiplicative noise.
    x = per_slot * (base * (0.75 + 0.5 * u3) + (1 - base) * act * noise)
    x += hh.light_kwh[rows][:, None] * tl.dark[sl][None, :]
    event = u2 < hh.event_p[rows][:, None] * np.minimum(act, 3.0)
    x += np.where(event, np.minimum(-np.log(u3), 4.0) * hh.event_kwh[rows][:, None], 0.0)

    heat_rows = np.nonzero(hh.heat_kw[rows] > 0)[0]
    if len(heat_rows):
        need = np.clip((16.0 - tl.temp[sl]) / 12.0, 0, 1) * tl.heat_sched[sl]
        x[heat_rows] += (hh.heat_kw[rows][heat_rows] / 2)[:, None] * need[None, :]
    store_rows = np.nonzero(hh.storage_kwh_per_hdd[rows] > 0)[0]
    if len(store_rows):
        e7 = ((tl.slot_abs[sl] % 48) >= 1) & ((tl.slot_abs[sl] % 48) <= 14)  # 00:30-07:30 GMT
        nightly = (
            hh.storage_kwh_per_hdd[rows][store_rows][:, None] * tl.hdd_day[None, day_idx]
            + hh.storage_base_kwh[rows][store_rows][:, None]
        )
        x[store_rows] += nightly / 14 * e7[None, :]
    return x


# --------------------------------------------------------------------------------------------------- anomalies
@dataclass
class Anomalies:
    row: np.ndarray  # household position in Households
    lo: np.ndarray  # first slot (timeline index)
    hi: np.ndarray  # one past the last slot
    kind: np.ndarray  # index into ANOMALY_KINDS
    magnitude: np.ndarray  # 0..1, scaled by kind


def schedule_anomalies(hh: Households, tl: Timeline, rate_per_year: float) -> Anomalies:
    """Anomalies overlapping the timeline, drawn per (household, 32-day epoch, kind) so they do not depend on it."""
    kinds = list(ANOMALY_KINDS.values())
    if rate_per_year <= 0 or len(hh) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Anomalies(empty, empty, empty, empty, np.zeros(0))
    max_days = max(k[2] for k in kinds) // 48 + 1
    # Candidates start early enough that every anomaly able to overlap one reaching the range is seen too.
    e0 = (int(tl.day_abs[0]) - 2 * max_days) // ANOMALY_EPOCH_DAYS - 1
    e1 = int(tl.day_abs[-1]) // ANOMALY_EPOCH_DAYS
    epochs = np.arange(e0, e1 + 1)
    abs0 = int(tl.slot_abs[0])
    out = []
    for k, (share, dmin, dmax) in enumerate(kinds):
        p = rate_per_year * share * ANOMALY_EPOCH_DAYS / 365.25
        keys = hh.key[:, None]
        occurs = uniform(keys, S_ANOM, epochs[None, :], k, 0) < p
        r, e = np.nonzero(occurs)
        if len(r) == 0:
            continue
        kk = hh.key[r]
        start_slot = (epochs[e] * ANOMALY_EPOCH_DAYS) * 48 + (
            uniform(kk, S_ANOM, epochs[e], k, 1) * ANOMALY_EPOCH_DAYS * 48
        ).astype(np.int64)
        dur = dmin + (uniform(kk, S_ANOM, epochs[e], k, 2) * (dmax - dmin + 1)).astype(np.int64)
        mag = uniform(kk, S_ANOM, epochs[e], k, 3)
        out.append((r, start_slot, start_slot + dur, np.full(len(r), k), mag))
    if not out:
        return schedule_anomalies(hh, tl, 0)
    row, a0, a1, kind, mag = (np.concatenate(c) for c in zip(*out, strict=True))
    order = np.lexsort((kind, a0, row))
    row, a0, a1, kind, mag = row[order], a0[order], a1[order], kind[order], mag[order]
    # One anomaly at a time per household: drop any that overlaps an earlier-starting candidate (a local rule,
    # so the outcome does not depend on the generated range), keeping the truth file unambiguous.
    big = np.int64(1) << np.int64(40)
    reach = np.maximum.accumulate(a1 + row * big)
    overlap = np.r_[False, (a0 + row * big)[1:] < reach[:-1]]
    lo = np.clip(a0 - abs0, 0, tl.n_slots)
    hi = np.clip(a1 - abs0, 0, tl.n_slots)
    keep = ~overlap & (hi > lo)
    return Anomalies(row[keep], lo[keep], hi[keep], kind[keep], mag[keep])


def spike_kwh(event_kwh: float, m: float) -> float:
    """kWh a spike adds to each of its half hours: 1.5-2x the household's largest natural appliance burst
    (``SPIKE_BURST_CAP`` x its event size), at least the absolute 2.5-6 kWh, at most ``SPIKE_MAX_KWH``.

    Why relative: a home whose kettle-and-shower bursts reach 5 kWh makes 2.5-6 kWh half hours every week, so an
    absolute size would inject "spikes" that are that home's normal behaviour; what a utility cares about is a
    half hour that stands out from the home's own bursts (a fault, an unusual heavy load).
    """
    relative = (1.5 + 0.5 * m) * SPIKE_BURST_CAP * event_kwh
    return float(min(max(2.5 + 3.5 * m, relative), SPIKE_MAX_KWH))


def apply_anomalies(x: np.ndarray, hh: Households, rows: np.ndarray, tl: Timeline, lo0: int, an: Anomalies) -> None:
    """Modify the block ``x`` (rows x all slots from lo0) in place; order: shift, sustained, spike, near-zero."""
    names = list(ANOMALY_KINDS)
    first_row = int(rows[0])
    sel = np.nonzero((an.row >= first_row) & (an.row < first_row + len(rows)))[0]
    for kind_name in ("shifted_profile", "sustained_high", "spike", "near_zero"):
        k = names.index(kind_name)
        for i in sel[an.kind[sel] == k]:
            r = int(an.row[i]) - first_row
            lo, hi, m = int(an.lo[i]), int(an.hi[i]), float(an.magnitude[i])
            if kind_name == "shifted_profile":
                shift = 12 + int(m * 13)  # 6..12 hours later, e.g. night shifts
                x[r, lo - lo0 : hi - lo0] = synthesise(hh, rows[r : r + 1], tl, lo, hi, extra_shift=shift)[0]
            elif kind_name == "sustained_high":
                x[r, lo - lo0 : hi - lo0] += 0.5 + 1.0 * m  # a 1-3 kW appliance left on
            elif kind_name == "spike":
                x[r, lo - lo0 : hi - lo0] += spike_kwh(hh.event_kwh[int(rows[r])], m)
            else:
                x[r, lo - lo0 : hi - lo0] = np.where(m < 0.5, 0.0, 0.002 + 0.004 * m)  # fault: 0, vacancy: tiny


def anomaly_frame(an: Anomalies, hh: Households, tl: Timeline) -> pd.DataFrame:
    """Ground truth: half-open [start_utc, end_utc) intervals in UTC (start of the first affected half hour)."""
    names = np.array(list(ANOMALY_KINDS))
    start = pd.to_datetime(tl.slot_seconds[an.lo], unit="s")
    end = pd.to_datetime(tl.slot_seconds[np.minimum(an.hi, tl.n_slots) - 1] + 1800, unit="s")
    return pd.DataFrame(
        {
            "household_id": np.array(hh.ids, dtype=object)[an.row],
            "start_utc": start,
            "end_utc": end,
            "kind": names[an.kind],
        }
    )
