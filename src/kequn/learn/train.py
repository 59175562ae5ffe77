"""``kequn train``: a propensity model from every past contact, judged honestly,
in force only when it is better.

The rows are the bank's own history and the outcomes logged in Kequn, each
with what was known the day before (``kequn.learn.examples``). The model is
trained on the earlier three quarters of them by time and judged on the latest
quarter, beside a stratified split of all; the playbook's priors and the model
in force are judged on the same later rows. The new model is kept either way,
but goes into force only if it beats both there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kequn.core.errors import KequnError
from kequn.learn import evaluate, registry
from kequn.learn.examples import Examples, examples
from kequn.learn.model import SHAPES, Model, Spec, fit, spec_for
from kequn.playbook import LoadedPlaybook
from kequn.store import Store

MIN_CONTACTS = 500
MIN_POSITIVES = 30
#: an action with this many rows is one the model speaks for (else its prior)
TRUSTED = 50
#: two AUCs on the validation rows closer than this are the same (its noise)
SAME_SCORE = 0.002


@dataclass
class TrainReport:
    version: str
    rows: int
    positives: int
    base_rate: float
    later: dict[str, Any]  # model, priors and the model in force on the later period
    stratified: dict[str, Any]
    features: list[str]
    activated: bool
    reason: str
    replaced: str | None = None
    periods: dict[str, list[str]] = field(default_factory=dict)

    @property
    def auc_model(self) -> float | None:
        return self.later["model"]["roc_auc"]


def priors_of(actions: pd.Series, pb: LoadedPlaybook, fallback: float) -> np.ndarray:
    """Each row's prior: its action's in the playbook, else the earlier period's rate."""
    known = {a.name: a.prior for a in pb.playbook.actions}
    return actions.map(known).fillna(fallback).to_numpy(dtype=float)


def train(
    store: Path, ops: Store, pb: LoadedPlaybook, now: datetime, seed: int = 7, by: str = "system:train"
) -> TrainReport:
    with ops.engine.connect() as con:
        ex = examples(store, con)
    return fit_and_judge(ex, ops, pb, now, seed, by)


def fit_and_judge(
    ex: Examples, ops: Store, pb: LoadedPlaybook, now: datetime, seed: int, by: str
) -> TrainReport:
    f = ex.frame
    y = f["label"].astype(bool).to_numpy().astype(int)
    if len(f) < MIN_CONTACTS:
        raise KequnError(
            f"only {len(f):,} past contacts; {MIN_CONTACTS} are needed to train (until then decisions "
            "use the playbook's priors). Import the bank's history with `kequn history import`."
        )
    if y.sum() < MIN_POSITIVES:
        raise KequnError(f"only {int(y.sum())} successful contacts; {MIN_POSITIVES} are needed")
    spec = spec_for(f, ex.named)
    ts = pd.to_datetime(f["ts"], utc=True)

    # the later period: what the model never saw
    split = evaluate.by_time(ts)
    earlier, later = f.iloc[split.train], f.iloc[split.test]
    y_earlier, y_later = y[split.train], y[split.test]
    # the shape of tree and the rounds, by early stopping on the last part of the
    # earlier period (never on the later one); then the whole earlier period with them
    inner = evaluate.by_time(ts.iloc[split.train], 0.15)
    tried = []
    for shape in SHAPES:
        b, r = fit(
            earlier.iloc[inner.train],
            y_earlier[inner.train],
            spec,
            seed=seed,
            valid=(earlier.iloc[inner.test], y_earlier[inner.test]),
            shape=shape,
        )
        score = evaluate.auc(
            y_earlier[inner.test], Model("x", spec, b, frozenset()).predict(earlier.iloc[inner.test])
        )
        tried.append((score or 0.0, r, shape))
    # the simplest shape within noise of the best (shapes go from simple to deep)
    best = max(score for score, _, _ in tried)
    _, rounds, shape = next(t for t in tried if t[0] >= best - SAME_SCORE)
    rounds = max(1, int(rounds / 0.85))
    booster, _ = fit(earlier, y_earlier, spec, rounds=rounds, seed=seed, shape=shape)
    on_later = Model("candidate", spec, booster, frozenset()).predict(later)
    base = float(y_earlier.mean())
    prior_later = priors_of(later["action"], pb, base)
    judged: dict[str, Any] = {
        "model": evaluate.measures(y_later, on_later, later["action"].to_numpy()),
        "priors": evaluate.measures(y_later, prior_later),
    }
    current = registry.active(ops)
    if current is not None:
        judged["in_force"] = {
            "version": current.version,
            **evaluate.measures(y_later, current.predict(later)),
        }

    # beside it, a stratified split of every row (the figure a random split gives)
    strat = evaluate.stratified(y, seed)
    booster_s, _ = fit(f.iloc[strat.train], y[strat.train], spec, rounds=rounds, seed=seed, shape=shape)
    on_strat = Model("stratified", spec, booster_s, frozenset()).predict(f.iloc[strat.test])
    stratified = evaluate.measures(y[strat.test], on_strat, f["action"].iloc[strat.test].to_numpy())

    ok, reason = _better(judged)
    # what goes into force is trained on every row, with the rounds the later period chose
    final, _ = fit(f, y, spec, rounds=max(1, int(rounds / 0.75)), seed=seed, shape=shape)
    counts = f["action"].value_counts()
    spec = Spec(
        spec.inputs,
        rounds,
        float(y.mean()),
        {
            "actions": sorted(str(a) for a in counts[counts >= TRUSTED].index),
            "named": ex.named,
            "shape": shape,
        },
    )
    digest = hashlib.sha256(pd.util.hash_pandas_object(f[["key", "label"]]).values.tobytes()).hexdigest()[:8]
    version = f"{now:%Y%m%d%H%M%S}-{digest}"
    periods = {
        "earlier": [str(ts.iloc[split.train].min().date()), str(ts.iloc[split.train].max().date())],
        "later": [str(ts.iloc[split.test].min().date()), str(ts.iloc[split.test].max().date())],
    }
    metrics = {
        "later": judged,
        "stratified": stratified,
        "rows": len(f),
        "positives": int(y.sum()),
        "periods": periods,
        "reason": reason,
    }
    replaced = None
    with ops.session() as s:
        row = registry.keep(s, version, final.model_to_string(), _spec_dict(spec), metrics, len(f), now)
        if ok:
            replaced = registry.activate(s, version, by, now)
        else:
            row.status = "refused"
    return TrainReport(
        version,
        len(f),
        int(y.sum()),
        round(float(y.mean()), 4),
        judged,
        stratified,
        spec.names,
        ok,
        reason,
        replaced,
        periods,
    )


def _better(judged: dict[str, Any]) -> tuple[bool, str]:
    """In force only when it beats the priors and the model in force on the later period."""
    mine = judged["model"]["roc_auc"] or 0.0
    priors = judged["priors"]["roc_auc"] or 0.5
    if mine <= priors:
        return False, f"AUC {mine:.3f} on the later period does not beat the priors' {priors:.3f}"
    if "in_force" in judged:
        theirs = judged["in_force"]["roc_auc"] or 0.0
        if mine <= theirs:
            return False, (
                f"AUC {mine:.3f} on the later period does not beat the model in force "
                f"({judged['in_force']['version']}: {theirs:.3f})"
            )
        return True, f"AUC {mine:.3f} beats the priors' {priors:.3f} and the model in force's {theirs:.3f}"
    return True, f"AUC {mine:.3f} beats the priors' {priors:.3f}"


def _spec_dict(spec: Spec) -> dict[str, Any]:
    import json

    parsed: dict[str, Any] = json.loads(spec.to_json())
    return parsed
