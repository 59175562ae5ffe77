"""Propensity: the chance an action succeeds with a customer. Learnt from logged
outcomes (gradient-boosted trees) once there are enough of them, else the
playbook's prior for the action. Training is a command; each model is
versioned, stored, and its lift over the priors reported."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from sqlalchemy import select, update

from kequn.core.errors import KequnError
from kequn.playbook import LoadedPlaybook
from kequn.store import Store
from kequn.store.cards import Cards
from kequn.store.models import PropensityModel

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

CATEGORICAL = ["action", "kind", "channel", "tier", "lifecycle", "life_stage"]
NUMERIC = ["age", "log_aum", "health_score", "risk_valid", "n_segments", "prior"]
POSITIVE = ("interested", "sold")
MIN_OUTCOMES = 500
MIN_POSITIVES = 30


@dataclass(frozen=True)
class Model:
    version: str
    pipeline: Pipeline
    actions: frozenset[str]  # actions with enough outcomes to trust the model for


def feature_frame(pairs: pd.DataFrame, pb: LoadedPlaybook) -> pd.DataFrame:
    """Model inputs from pairs carrying action, kind, channel and profile facts."""
    priors = {a.name: a.prior for a in pb.playbook.actions}
    out = pd.DataFrame(
        {
            "action": pairs["action"].astype(str),
            "kind": pairs["kind"].astype(str),
            "channel": pairs["channel"].fillna("none").astype(str),
            "tier": pairs["tier"].fillna("none").astype(str),
            "lifecycle": pairs["lifecycle"].fillna("none").astype(str),
            "life_stage": pairs["life_stage"].fillna("none").astype(str),
            "age": pd.to_numeric(pairs["age"], errors="coerce").fillna(40).astype(float),
            "log_aum": np.log10(
                pd.to_numeric(pairs["aum_month_end"], errors="coerce").fillna(0).astype(float).clip(lower=0)
                + 1
            ),
            "health_score": pd.to_numeric(pairs["health_score"], errors="coerce").fillna(50).astype(float),
            "risk_valid": pairs["risk_valid"].fillna(False).astype(bool).astype(float),
            "n_segments": pairs["segments"]
            .map(lambda s: len(s) if isinstance(s, (list, tuple, np.ndarray)) else 0)
            .astype(float),
        }
    )
    out["prior"] = out["action"].map(priors).fillna(0.1).astype(float)
    return out


def _pipeline() -> Pipeline:
    # scikit-learn loads in a second: only training pays for it, not the web app's start
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = ColumnTransformer(
        [
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CATEGORICAL),
            ("num", "passthrough", NUMERIC),
        ]
    )
    model = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.08,
        max_leaf_nodes=31,
        l2_regularization=1.0,
        categorical_features=list(range(len(CATEGORICAL))),
        random_state=7,
    )
    return Pipeline([("encode", encode), ("model", model)])


def _lift(y: np.ndarray, score: np.ndarray, top: float = 0.1) -> float:
    n = max(1, int(len(y) * top))
    order = np.argsort(-score, kind="stable")[:n]
    base = y.mean()
    return float(y[order].mean() / base) if base > 0 else 0.0


def train(
    ops: Store, cards: Cards, pb: LoadedPlaybook, models_dir: Path, now: datetime, seed: int = 7
) -> dict[str, Any]:
    """Trains on every logged outcome of a contact; returns the report."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    with ops.engine.connect() as con:
        outcomes = pd.read_sql(
            "SELECT o.customer_id, o.action, o.kind, o.channel, o.outcome, c.tier, c.lifecycle, c.life_stage "
            "FROM outcomes o JOIN customers c ON c.customer_id = o.customer_id "
            "WHERE o.outcome NOT IN ('not_reached', 'survey')",
            con,
        )
    if len(outcomes) < MIN_OUTCOMES:
        raise KequnError(
            f"only {len(outcomes)} outcomes logged; {MIN_OUTCOMES} are needed to "
            "train (until then decisions use the playbook's priors)"
        )
    with ops.session() as s:
        known = cards.many(s, outcomes["customer_id"].unique().tolist())
    facts = outcomes["customer_id"].map(lambda c: known.get(c, {}))
    for col in ("age", "aum_month_end", "health_score", "risk_valid", "segments"):
        outcomes[col] = facts.map(lambda f, c=col: f.get(c))
    y = outcomes["outcome"].isin(POSITIVE).to_numpy().astype(int)
    if y.sum() < MIN_POSITIVES:
        raise KequnError(f"only {int(y.sum())} successful outcomes; {MIN_POSITIVES} are needed")
    x = feature_frame(outcomes, pb)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    pipe = _pipeline().fit(x_train, y_train)
    scored = pipe.predict_proba(x_test)[:, 1]
    prior = x_test["prior"].to_numpy()
    counts = outcomes["action"].value_counts()
    trusted = sorted(counts[counts >= 50].index)
    report = {
        "outcomes": len(outcomes),
        "positives": int(y.sum()),
        "base_rate": round(float(y.mean()), 4),
        "auc_model": round(float(roc_auc_score(y_test, scored)), 4),
        "auc_prior": round(float(roc_auc_score(y_test, prior)), 4),
        "lift10_model": round(_lift(y_test, scored), 3),
        "lift10_prior": round(_lift(y_test, prior), 3),
        "actions": trusted,
    }
    digest = hashlib.sha256(pd.util.hash_pandas_object(x).values.tobytes()).hexdigest()[:8]
    version = f"{now:%Y%m%d%H%M%S}-{digest}"
    models_dir.mkdir(parents=True, exist_ok=True)
    artifact = models_dir / f"propensity-{version}.joblib"
    joblib.dump({"pipeline": pipe, "actions": trusted, "version": version}, artifact)
    with ops.session() as s:
        s.execute(update(PropensityModel).values(active=False))
        s.add(
            PropensityModel(
                version=version,
                trained_at=now,
                algorithm="HistGradientBoostingClassifier",
                outcomes_used=len(x),
                metrics=report,
                artifact=str(artifact),
                active=True,
            )
        )
    return {"version": version, "artifact": str(artifact), **report}


def active_model(ops: Store) -> Model | None:
    with ops.session() as s:
        row = s.scalars(
            select(PropensityModel).where(PropensityModel.active).order_by(PropensityModel.trained_at.desc())
        ).first()
    if row is None or not Path(row.artifact).exists():
        return None
    saved = joblib.load(row.artifact)
    return Model(row.version, saved["pipeline"], frozenset(saved["actions"]))


def propensity(pairs: pd.DataFrame, pb: LoadedPlaybook, model: Model | None) -> np.ndarray:
    """The model's estimate where it has learnt the action, else the prior."""
    if model is None:  # priors only: no features to build (the real-time path's common case)
        priors = {a.name: a.prior for a in pb.playbook.actions}
        return pairs["action"].map(priors).fillna(0.1).to_numpy(dtype=float)
    x = feature_frame(pairs, pb)
    out = x["prior"].to_numpy(copy=True)
    if model is not None and len(x):
        known = x["action"].isin(model.actions).to_numpy()
        if known.any():
            out[known] = model.pipeline.predict_proba(x[known])[:, 1]
    return out
