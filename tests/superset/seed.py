"""Synthetic base serving collections, following the serving contract, for the dashboard tests and benchmark.

``base_frames`` makes DataFrames (one per base collection) for N households x D days with realistic shapes: an
evening-peak daily profile, winter-high seasonality, weekend lift, a few incomplete days, anomalies, forecasts with
a P10-P90 band, segments and tariff comparisons. ``insert_base`` writes them with pymongo.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

LOCAL_TZ = "Europe/London"
SEGMENTS = ["Evening peakers", "Daytime users", "Low and flat", "Night owls"]
KINDS = ["spike", "flatline", "night_usage"]
MODELS = ["lightgbm_quantile", "seasonal_naive"]


def _profile() -> np.ndarray:
    """Mean kWh per household per half hour of a local day: night low, morning bump, evening peak."""
    h = np.arange(48) / 2
    return 0.12 + 0.10 * np.exp(-((h - 8) ** 2) / 2) + 0.28 * np.exp(-((h - 19) ** 2) / 4)


def households(reference_csv: Path | None, n: int) -> pd.DataFrame:
    rows = []
    if reference_csv and reference_csv.is_file():
        with open(reference_csv, newline="") as f:
            for row in csv.DictReader(f):
                rows.append((row["LCLid"], row["stdorToU"], row["Acorn"], row["Acorn_grouped"]))
    if len(rows) < n:
        rng = np.random.default_rng(1)
        groups = ["Affluent", "Comfortable", "Adversity"]
        rows += [
            (f"MAC{900000 + i:06d}", rng.choice(["Std", "ToU"], p=[0.8, 0.2]), "ACORN-E", groups[i % 3])
            for i in range(len(rows), n)
        ]
    frame = pd.DataFrame(rows[:n], columns=["household_id", "tariff_group", "acorn", "acorn_group"])
    return frame.sort_values("household_id").reset_index(drop=True)


def base_frames(
    n_households: int = 120,
    n_days: int = 60,
    start: str = "2013-01-01",
    reference_csv: Path | None = None,
    seed: int = 7,
    with_household_forecasts: int = 20,
) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    hh = households(reference_csv, n_households)
    n = len(hh)
    days = pd.date_range(start, periods=n_days, freq="D")
    profile = _profile()
    daily_base = profile.sum()

    # household_daily: level x season x weekend x noise; a few days partly missing
    scale = rng.lognormal(0, 0.35, n)
    season = 1 + 0.3 * np.cos((days.dayofyear.values - 15) / 365 * 2 * np.pi)
    weekend = np.where(days.dayofweek >= 5, 1.12, 1.0)
    energy = daily_base * scale[:, None] * (season * weekend)[None, :] * rng.normal(1, 0.12, (n, n_days)).clip(0.3)
    present = np.where(rng.random((n, n_days)) < 0.03, rng.integers(0, 47, (n, n_days)), 48)
    hd = pd.DataFrame(
        {
            "household_id": np.repeat(hh["household_id"].values, n_days),
            "local_date": np.tile(days.strftime("%Y-%m-%d"), n),
            "tariff_group": np.repeat(hh["tariff_group"].values, n_days),
            "acorn_group": np.repeat(hh["acorn_group"].values, n_days),
            "energy_kwh": (energy * present / 48).ravel().round(3),
            "readings_present": present.ravel(),
            "readings_expected": 48,
        }
    )
    hd["completeness"] = hd["readings_present"] / hd["readings_expected"]

    # group_halfhourly for all / tariff / acorn groups on the UTC half-hour grid
    utc = pd.date_range(pd.Timestamp(start, tz=LOCAL_TZ).tz_convert("UTC"), periods=n_days * 48, freq="30min")
    local = utc.tz_convert(LOCAL_TZ)
    hh_local = (local.hour * 2 + local.minute // 30).values
    seas = 1 + 0.3 * np.cos((local.dayofyear.values - 15) / 365 * 2 * np.pi)
    wk = np.where(local.dayofweek >= 5, 1.12, 1.0)
    groups = [("all", "all", n)]
    groups += [("tariff", t, int((hh["tariff_group"] == t).sum())) for t in sorted(hh["tariff_group"].unique())]
    groups += [("acorn", a, int((hh["acorn_group"] == a).sum())) for a in sorted(hh["acorn_group"].unique())]
    gh_parts = []
    for i, (kind, name, size) in enumerate(groups):
        mean = profile[hh_local] * seas * wk * (1 + 0.05 * i) * rng.normal(1, 0.05, len(utc))
        gh_parts.append(
            pd.DataFrame(
                {
                    "group_kind": kind,
                    "group_name": name,
                    "interval_start_utc": utc.tz_localize(None),
                    "halfhour_local": hh_local,
                    "mean_energy_kwh": mean.round(4),
                    "total_energy_kwh": (mean * size).round(3),
                    "households_reporting": size,
                    "local_date": local.strftime("%Y-%m-%d"),
                }
            )
        )
    gh = pd.concat(gh_parts, ignore_index=True)

    # forecasts: last 14 days, group series at 30 minutes and a few households daily
    cut = n_days - min(14, n_days)
    fc_parts = []
    for model, noise in zip(MODELS, (0.06, 0.15), strict=True):
        for kind, name, _ in groups[:3]:
            part = gh[(gh["group_kind"] == kind) & (gh["group_name"] == name)].iloc[cut * 48 :]
            p50 = part["total_energy_kwh"].values * rng.normal(1, noise, len(part))
            fc_parts.append(
                pd.DataFrame(
                    {
                        "task": "group_halfhourly",
                        "series_id": f"{kind}:{name}",
                        "model": model,
                        "model_version": "1",
                        "target_time_utc": part["interval_start_utc"].values,
                        "p10_kwh": p50 * 0.8,
                        "p50_kwh": p50,
                        "p90_kwh": p50 * 1.2,
                        "actual_kwh": part["total_energy_kwh"].values,
                        "local_date": part["local_date"].values,
                    }
                )
            )
        part = hd[hd["household_id"].isin(hh["household_id"].iloc[:with_household_forecasts])]
        part = part[part["local_date"] >= days[cut].strftime("%Y-%m-%d")]
        p50 = part["energy_kwh"].values * rng.normal(1, noise * 2, len(part))
        fc_parts.append(
            pd.DataFrame(
                {
                    "task": "household_daily",
                    "series_id": part["household_id"].values,
                    "model": model,
                    "model_version": "1",
                    "target_time_utc": pd.to_datetime(part["local_date"]),
                    "p10_kwh": p50 * 0.7,
                    "p50_kwh": p50,
                    "p90_kwh": p50 * 1.3,
                    "actual_kwh": part["energy_kwh"].values,
                    "local_date": part["local_date"].values,
                }
            )
        )
    forecasts = pd.concat(fc_parts, ignore_index=True)
    metrics = pd.DataFrame(
        [
            {
                "model": model,
                "task": task,
                "fold": fold,
                "fold_end": datetime(2013, 1, 1, tzinfo=UTC) + timedelta(days=14 * fold),
                "mae": (0.05 if model == MODELS[0] else 0.09) * (1 + 0.1 * fold),
                "rmse": (0.08 if model == MODELS[0] else 0.13) * (1 + 0.1 * fold),
                "r2": 0.8 if model == MODELS[0] else 0.55,
                "mase": 0.7 if model == MODELS[0] else 1.0,
                "mape": 12.0 if model == MODELS[0] else 20.0,
                "coverage_p10_p90": 0.79 if model == MODELS[0] else 0.6,
            }
            for model in MODELS
            for task in ("group_halfhourly", "household_daily")
            for fold in range(1, 5)
        ]
    )

    # anomalies: about 1 in 60 household-days
    hit = hd.sample(frac=1 / 60, random_state=seed)
    start_utc = pd.to_datetime(hit["local_date"]) + pd.to_timedelta(rng.integers(0, 48, len(hit)) * 30, unit="min")
    anomalies = pd.DataFrame(
        {
            "household_id": hit["household_id"].values,
            "start_utc": start_utc,
            "end_utc": (start_utc + pd.Timedelta(hours=2)),
            "kind": rng.choice(KINDS, len(hit)),
            "severity": rng.choice(["low", "medium", "high"], len(hit), p=[0.5, 0.35, 0.15]),
            "detector": "robust_zscore",
            "local_date": hit["local_date"].values,
        }
    )

    seg_ids = rng.integers(0, len(SEGMENTS), n)
    segments = pd.DataFrame(
        {
            "household_id": hh["household_id"],
            "segmentation_version": "v1",
            "segment_id": seg_ids,
            "segment_label": [SEGMENTS[i] for i in seg_ids],
        }
    )
    shapes = [np.roll(profile, s) * f for s, f in ((0, 1.2), (-8, 1.0), (0, 0.5), (6, 0.9))]
    segment_profiles = pd.DataFrame(
        [
            {"segment_id": i, "segment_label": label, "halfhour_local": h, "mean_energy_kwh": float(shapes[i][h])}
            for i, label in enumerate(SEGMENTS)
            for h in range(48)
        ]
    )

    # tariff comparison per household-month; about a third of households win on dToU
    hd_month = hd.assign(month=hd["local_date"].str[:7]).groupby(["household_id", "month"])["energy_kwh"].sum()
    tariff = hd_month.reset_index()
    flat = tariff["energy_kwh"] * 14.228
    tariff["flat_cost_pence"] = flat.round(2)
    tariff["dtou_cost_pence"] = (flat * rng.normal(1.02, 0.06, len(tariff))).round(2)
    tariff["shifted_dtou_cost_pence"] = (tariff["dtou_cost_pence"] * 0.95).round(2)
    tariff["saving_pence"] = tariff["flat_cost_pence"] - tariff["dtou_cost_pence"]

    run_day = days[-1].to_pydatetime() + timedelta(days=1, hours=2)
    runs = pd.DataFrame(
        [
            {
                "dag_id": dag,
                "run_id": f"scheduled__{(run_day - timedelta(days=d)).date()}",
                "data_interval_start": run_day - timedelta(days=d + 1),
                "data_interval_end": run_day - timedelta(days=d),
                "status": "failed" if (dag, d) == ("smartmeter_daily", 2) else "success",
                "started_at": run_day - timedelta(days=d),
                "ended_at": run_day - timedelta(days=d) + timedelta(minutes=12),
                "duration_s": 720.0,
            }
            for dag in ("smartmeter_daily", "smartmeter_weekly_models")
            for d in range(5)
        ]
    )
    dq = pd.DataFrame(
        [
            {
                "suite": suite,
                "run_id": r["run_id"],
                "dag_id": r["dag_id"],
                "success": not (suite == "readings_clean" and r["status"] == "failed"),
                "expectations_evaluated": 12,
                "expectations_failed": 1 if (suite == "readings_clean" and r["status"] == "failed") else 0,
                "rows_validated": 250_000,
                "validated_at": r["started_at"] + timedelta(minutes=5),
            }
            for _, r in runs[runs["dag_id"] == "smartmeter_daily"].iterrows()
            for suite in ("readings_raw", "readings_clean", "household_daily")
        ]
    )
    files = [f"LCL-June2015v2_{i}.csv" for i in range(3)]
    ingest = pd.DataFrame(
        [
            {
                "source_file": f,
                "run_id": "manual__1",
                "rows_read": 1_000_000,
                "rows_clean": 998_500,
                "rows_quarantined": 1_200,
                "duplicates_dropped": 300,
            }
            for f in files
        ]
    )
    rejected = pd.DataFrame(
        [
            {"source_file": f, "reason": reason, "rows": rows}
            for f in files
            for reason, rows in (("null_reading", 900), ("off_grid_timestamp", 200), ("implausible_value", 100))
        ]
    )
    return {
        "households": hh,
        "household_daily": hd,
        "group_halfhourly": gh,
        "forecasts": forecasts,
        "forecast_metrics": metrics,
        "anomalies": anomalies,
        "segments": segments,
        "segment_profiles": segment_profiles,
        "tariff_comparison_monthly": tariff,
        "pipeline_runs": runs,
        "dq_results": dq,
        "ingest_accounting": ingest,
        "readings_rejected_summary": rejected,
    }


def _bucketed_docs(name: str, frame: pd.DataFrame) -> list[dict] | None:
    """The documents of a bucketed collection (forecasts), grouped as the loader serves them."""
    import pyarrow as pa

    from plugins.serving.loader import ROW_HASH, bucket_rows, serving_table
    from plugins.serving.registry import REGISTRY

    s = REGISTRY.get(name)
    if s is None or s.bucket is None:
        return None
    table = serving_table(pa.Table.from_pandas(frame, preserve_index=False), s)
    return bucket_rows(table, s).drop_columns([ROW_HASH]).to_pylist()


def insert_base(db, frames: dict[str, pd.DataFrame]) -> None:
    """Replace each base collection of ``db`` with its frame (datetimes stay BSON dates), in the serving shape."""
    for name, frame in frames.items():
        db.drop_collection(name)
        docs = _bucketed_docs(name, frame)
        if docs is not None:
            if docs:
                db[name].insert_many(docs, ordered=False)
            continue
        docs = frame.to_dict("records")
        for doc in docs:
            for key, value in doc.items():
                if isinstance(value, np.generic):
                    doc[key] = value.item()
                elif isinstance(value, pd.Timestamp):
                    doc[key] = value.to_pydatetime()
        for start in range(0, len(docs), 10000):
            db[name].insert_many(docs[start : start + 10000], ordered=False)
