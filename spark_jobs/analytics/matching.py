"""Event-level scoring of detected anomalies against an injected ground truth.

Matching rule: a detected event matches a truth event when both are for the same household and the detected
interval, widened by ``tolerance`` (1 day) on each side, overlaps the truth interval (all intervals half-open,
UTC). One detection may match several truth events and the reverse (a two-week vacancy found as two events is
one recalled truth event and two correct detections).

- precision = matched detections / detections; recall = matched truth events / truth events.
- per kind: both sides restricted to that kind ("kind-aware").
- overall ``kind_aware``: micro-average where a match also needs the same kind; ``kind_agnostic``: any kind.
The K-means baseline does not name kinds (it flags ``day_outlier`` days), so it is scored kind-agnostic, with
recall per truth kind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KIND_ALIASES = {"shifted_profile": "profile_shift", "sustained": "sustained_high", "vacancy": "near_zero"}


def normalise_truth(truth: pd.DataFrame) -> pd.DataFrame:
    """Truth file columns household_id, start_utc, end_utc, kind; kind names of the generator mapped to ours."""
    out = truth[["household_id", "start_utc", "end_utc", "kind"]].copy()
    out["start_utc"] = pd.to_datetime(out["start_utc"])
    out["end_utc"] = pd.to_datetime(out["end_utc"])
    out["kind"] = out["kind"].str.strip().replace(KIND_ALIASES)
    return out.reset_index(drop=True)


def match_matrix(
    detected: pd.DataFrame, truth: pd.DataFrame, tolerance: pd.Timedelta, same_kind: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(detected matched?, truth matched?) boolean arrays, joining per household."""
    det_hit = np.zeros(len(detected), dtype=bool)
    tru_hit = np.zeros(len(truth), dtype=bool)
    if detected.empty or truth.empty:
        return det_hit, tru_hit
    d = detected.reset_index(drop=True).assign(_d=lambda f: np.arange(len(f)))
    t = truth.reset_index(drop=True).assign(_t=lambda f: np.arange(len(f)))
    pairs = d[["household_id", "start_utc", "end_utc", "kind", "_d"]].merge(
        t[["household_id", "start_utc", "end_utc", "kind", "_t"]], on="household_id", suffixes=("_d", "_t")
    )
    ok = (pairs["start_utc_d"] - tolerance < pairs["end_utc_t"]) & (
        pairs["end_utc_d"] + tolerance > pairs["start_utc_t"]
    )
    if same_kind:
        ok &= pairs["kind_d"] == pairs["kind_t"]
    hits = pairs[ok]
    det_hit[hits["_d"].unique()] = True
    tru_hit[hits["_t"].unique()] = True
    return det_hit, tru_hit


def _prf(tp_det: int, n_det: int, tp_truth: int, n_truth: int) -> dict:
    precision = tp_det / n_det if n_det else None
    recall = tp_truth / n_truth if n_truth else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )
    return {
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "f1": None if f1 is None else round(f1, 4),
        "detected": n_det,
        "detected_matched": tp_det,
        "truth": n_truth,
        "truth_matched": tp_truth,
    }


def evaluate(detected: pd.DataFrame, truth: pd.DataFrame, kinds: tuple[str, ...], tolerance_days: float = 1.0) -> dict:
    """Precision, recall and F1 per kind and overall for one detector's events."""
    tol = pd.Timedelta(days=tolerance_days)
    truth = normalise_truth(truth)
    detected = detected[["household_id", "start_utc", "end_utc", "kind"]].copy()
    detected["start_utc"] = pd.to_datetime(detected["start_utc"])
    detected["end_utc"] = pd.to_datetime(detected["end_utc"])
    det_any, tru_any = match_matrix(detected, truth, tol, same_kind=False)
    det_kind, tru_kind = match_matrix(detected, truth, tol, same_kind=True)
    per_kind = {}
    for k in kinds:
        dk = (detected["kind"] == k).to_numpy()
        tk = (truth["kind"] == k).to_numpy()
        per_kind[k] = _prf(int(det_kind[dk].sum()), int(dk.sum()), int(tru_kind[tk].sum()), int(tk.sum()))
    recall_agnostic = {
        k: _prf(0, 0, int(tru_any[(truth["kind"] == k).to_numpy()].sum()), int((truth["kind"] == k).sum()))["recall"]
        for k in kinds
    }
    return {
        "per_kind": per_kind,
        "overall_kind_aware": _prf(int(det_kind.sum()), len(detected), int(tru_kind.sum()), len(truth)),
        "overall_kind_agnostic": _prf(int(det_any.sum()), len(detected), int(tru_any.sum()), len(truth)),
        "recall_by_truth_kind_kind_agnostic": recall_agnostic,
    }
