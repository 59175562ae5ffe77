"""How good a propensity is, measured honestly: on a later period the model never
saw (trained on the earlier part), beside a stratified split of all of it.

For each: ROC AUC, PR AUC (average precision), the Brier score, calibration
(observed rate against the mean prediction in ten bins of predictions), the
lift in the top decile, and the same per action where an action has both
outcomes on the test rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: the share of rows, latest first, kept as the later period
LATER = 0.25


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # row positions
    test: np.ndarray


def by_time(ts: pd.Series, share: float = LATER) -> Split:
    """The earlier rows to train on, the latest ``share`` of rows to test on (rows
    of the boundary's moment all go to the test side)."""
    order = np.argsort(ts.to_numpy(), kind="stable")
    cut = int(len(order) * (1 - share))
    if cut <= 0 or cut >= len(order):
        raise ValueError("too few rows to keep a later period apart")
    boundary = ts.iloc[order[cut]]
    later = (ts >= boundary).to_numpy()
    return Split(np.flatnonzero(~later), np.flatnonzero(later))


def stratified(y: np.ndarray, seed: int, share: float = LATER) -> Split:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=share, random_state=seed, stratify=y)
    return Split(np.sort(train), np.sort(test))


def lift(y: np.ndarray, score: np.ndarray, top: float = 0.1) -> float:
    n = max(1, int(len(y) * top))
    order = np.argsort(-score, kind="stable")[:n]
    base = y.mean()
    return float(y[order].mean() / base) if base > 0 else 0.0


def calibration(y: np.ndarray, score: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Observed rate against mean prediction, in bins of equal count."""
    order = np.argsort(score, kind="stable")
    out = []
    for part in np.array_split(order, bins):
        if len(part):
            out.append(
                {
                    "predicted": round(float(score[part].mean()), 4),
                    "observed": round(float(y[part].mean()), 4),
                    "rows": len(part),
                }
            )
    return out


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, score))


def measures(y: np.ndarray, score: np.ndarray, actions: np.ndarray | None = None) -> dict[str, Any]:
    """Every measure of ``score`` against ``y`` (1 = success)."""
    from sklearn.metrics import average_precision_score, brier_score_loss

    out: dict[str, Any] = {
        "rows": len(y),
        "positives": int(y.sum()),
        "roc_auc": _round(auc(y, score)),
        "pr_auc": _round(float(average_precision_score(y, score)) if y.sum() else None),
        "brier": _round(float(brier_score_loss(y, score))),
        "lift_top_decile": round(lift(y, score), 3),
        "calibration": calibration(y, score),
    }
    if actions is not None:
        per: dict[str, Any] = {}
        for a in sorted(set(actions.tolist())):
            mine = actions == a
            found = auc(y[mine], score[mine])
            if found is not None and mine.sum() >= 30:
                per[str(a)] = {
                    "rows": int(mine.sum()),
                    "positives": int(y[mine].sum()),
                    "roc_auc": _round(found),
                }
        out["per_action"] = per
    return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)
