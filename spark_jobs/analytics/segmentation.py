"""Household segmentation on one row per household (pandas + scikit-learn on the driver: 5,566 rows).

Features: the normalised 48-slot average day (shape, each slot as a multiple of the household's mean half hour)
plus the level, log mean daily kWh, z-scored and weighted so level and shape carry similar variance. k is the best
silhouette over ``k_range`` (k = 2 only splits big from small homes, so the default range starts at 3); inertia
is kept for the elbow view. Clusters are renumbered by mean daily kWh so ids and labels are stable across reruns
with the same seed and data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

SLOTS = 48
PERIODS = {  # local half-hour slots
    "night": range(0, 12),
    "morning": range(12, 20),
    "daytime": range(20, 32),
    "evening": range(32, 42),
    "late-evening": range(42, 48),
}
PERIOD_NAMES = {
    "night": "night-time users",
    "morning": "morning peakers",
    "daytime": "daytime at-home",
    "evening": "evening peakers",
    "late-evening": "late-evening users",
}
LEVEL_WEIGHT = 2.0


def features(profiles: np.ndarray, mean_daily_kwh: np.ndarray) -> np.ndarray:
    """Shape (slot kWh / mean slot kWh) and weighted z-scored log level."""
    shape = profiles / profiles.mean(axis=1, keepdims=True)
    level = np.log(np.maximum(mean_daily_kwh, 0.05))
    z = (level - level.mean()) / (level.std() or 1.0)
    return np.column_stack([shape, LEVEL_WEIGHT * z])


def choose_k(x: np.ndarray, k_range: tuple[int, int], seed: int) -> tuple[int, dict]:
    """Best silhouette in ``k_range`` (inclusive), with all scores for the report."""
    scores = {}
    n = len(x)
    for k in range(k_range[0], min(k_range[1], n - 1) + 1):
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
        sil = silhouette_score(x, km.labels_, sample_size=min(n, 3000), random_state=seed)
        scores[k] = {"silhouette": round(float(sil), 4), "inertia": round(float(km.inertia_), 2)}
    if not scores:
        raise ValueError(f"too few households ({n}) to segment")
    best = max(scores, key=lambda k: (scores[k]["silhouette"], -k))
    return best, scores


def label_segments(centroid_profiles: np.ndarray, mean_kwh: np.ndarray, population_median_kwh: float) -> list[str]:
    """Level word plus the period the segment over-uses most relative to everyone, e.g. "high-use evening peakers"."""
    shares = centroid_profiles / centroid_profiles.sum(axis=1, keepdims=True)
    overall = shares.mean(axis=0)
    ratios = np.array(
        [[shares[i, list(s)].sum() / overall[list(s)].sum() for s in PERIODS.values()] for i in range(len(shares))]
    )
    names = list(PERIODS)
    labels: list[str] = []
    for i in range(len(shares)):
        rel = mean_kwh[i] / population_median_kwh
        level = "low-use" if rel < 0.8 else "high-use" if rel > 1.25 else "mid-use"
        order = np.argsort(-ratios[i])
        label = f"{level} {PERIOD_NAMES[names[order[0]]]}"
        if label in labels:
            label = f"{label}, {names[order[1]]}"
        n = 2
        while label in labels:
            label = f"{label} ({n})"
            n += 1
        labels.append(label)
    return labels


def segment(
    households: pd.DataFrame,
    seed: int,
    min_days: int,
    k: int | None = None,
    k_range: tuple[int, int] = (3, 8),
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Assign segments.

    ``households``: household_id, complete_days, mean_daily_kwh, s00..s47 (mean kWh per local half hour).
    Returns (assignments with status, segment_id, segment_label, peak_halfhour_local, distance_to_centroid;
    per-segment profile table [segment_id, halfhour_local, mean_kwh, share_of_day]; facts).
    """
    slot_cols = [f"s{s:02d}" for s in range(SLOTS)]
    df = households.sort_values("household_id").reset_index(drop=True).copy()
    enough = (df["complete_days"] >= min_days) & (df["mean_daily_kwh"] > 0) & df[slot_cols].notna().all(axis=1)
    ok = df[enough].reset_index(drop=True)
    prof = ok[slot_cols].to_numpy(float)
    x = features(prof, ok["mean_daily_kwh"].to_numpy(float))
    scores = {}
    if k is None:
        k, scores = choose_k(x, k_range, seed)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    raw = km.labels_
    mean_kwh = np.array([ok["mean_daily_kwh"].to_numpy()[raw == c].mean() for c in range(k)])
    order = np.argsort(mean_kwh, kind="stable")
    remap = np.empty(k, dtype=int)
    remap[order] = np.arange(k)
    seg = remap[raw]
    centroid_prof = np.array([prof[seg == s].mean(axis=0) for s in range(k)])
    labels = label_segments(centroid_prof, mean_kwh[order], float(np.median(ok["mean_daily_kwh"])))
    dist = np.linalg.norm(x - km.cluster_centers_[raw], axis=1)

    df["status"] = np.where(enough, "segmented", "not_enough_data")
    df["segment_id"] = pd.array([pd.NA] * len(df), dtype="Int32")
    df.loc[enough, "segment_id"] = seg
    df["segment_label"] = None
    df.loc[enough, "segment_label"] = [labels[s] for s in seg]
    df["peak_halfhour_local"] = pd.array([pd.NA] * len(df), dtype="Int32")
    df.loc[enough, "peak_halfhour_local"] = prof.argmax(axis=1)
    df["distance_to_centroid"] = np.nan
    df.loc[enough, "distance_to_centroid"] = dist
    df.loc[~enough, "mean_daily_kwh"] = np.where(
        df.loc[~enough, "complete_days"] > 0, df.loc[~enough, "mean_daily_kwh"], np.nan
    )

    rows = []
    for s in range(k):
        share = centroid_prof[s] / centroid_prof[s].sum()
        for h in range(SLOTS):
            rows.append((s, labels[s], h, float(centroid_prof[s, h]), float(share[h])))
    profiles = pd.DataFrame(rows, columns=["segment_id", "segment_label", "halfhour_local", "mean_kwh", "share_of_day"])
    silhouette = scores.get(k, {}).get("silhouette")
    if silhouette is None and 1 < k < len(x):
        silhouette = round(float(silhouette_score(x, raw, sample_size=min(len(x), 3000), random_state=seed)), 4)
    facts = {
        "k": int(k),
        "silhouette": silhouette,
        "k_scores": scores,
        "households_segmented": int(enough.sum()),
        "households_not_enough_data": int((~enough).sum()),
        "labels": labels,
    }
    return df, profiles, facts


def summarise(assign: pd.DataFrame, facts: dict) -> pd.DataFrame:
    """Per segment: size, mean daily kWh, peak half hour, Acorn and tariff mix."""
    seg = assign[assign["status"] == "segmented"]
    rows = []
    for s, g in seg.groupby("segment_id"):
        acorn = g["acorn_group"]
        mean_prof = g[[f"s{i:02d}" for i in range(SLOTS)]].mean(axis=0).to_numpy()
        rows.append(
            {
                "segment_id": int(s),
                "segment_label": g["segment_label"].iloc[0],
                "households": len(g),
                "mean_daily_kwh": float(g["mean_daily_kwh"].mean()),
                "peak_halfhour_local": int(mean_prof.argmax()),
                "share_affluent": float((acorn == "Affluent").mean()),
                "share_comfortable": float((acorn == "Comfortable").mean()),
                "share_adversity": float((acorn == "Adversity").mean()),
                "share_other_acorn": float((~acorn.isin(["Affluent", "Comfortable", "Adversity"])).mean()),
                "share_tou": float((g["tariff_group"] == "ToU").mean()),
                "k": facts["k"],
                "silhouette": facts["silhouette"],
                "households_not_enough_data": facts["households_not_enough_data"],
            }
        )
    return pd.DataFrame(rows)
