"""Who is persuadable: uplift learnt from campaigns' treated and control arms.

A campaign keeps a control arm that it never contacts. For each member the
outcome is whether they bought in the campaign's period; the treated arm's
rate minus the control's is what the campaign changed. Uplift models learn
that difference per customer from what was known at launch:
- the two-model learner: one model of the chance to buy if treated, one if not,
  uplift their difference (LightGBM for both);
- the class transformation of scikit-uplift: one model of whether a member is
  a treated buyer or a control non-buyer, uplift 2·p − 1 (with random arms).
Each is judged on members held out of training (Qini coefficient and AUUC,
against a random ordering's); the better is kept. Kept as LightGBM's own text,
never pickled, like the propensity models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kequn.learn.model import PARAMS, Spec, matrix

LEARNERS = ("two_model", "class_transformation")
#: the simple shape: a campaign's arms are small, and effects additive more often than not
SHAPE: dict[str, Any] = {"num_leaves": 7, "min_data_in_leaf": 40, "learning_rate": 0.05}
ROUNDS = 150
HELD_OUT = 0.3


def qini(y: np.ndarray, uplift: np.ndarray, treated: np.ndarray) -> dict[str, float]:
    """The Qini coefficient (area between the model's Qini curve and a random
    ordering's, over the best possible) and the AUUC, by scikit-uplift."""
    import warnings

    from sklift.metrics import qini_auc_score, uplift_auc_score

    with warnings.catch_warnings():  # scikit-uplift's own use of a deprecated scikit-learn helper
        warnings.simplefilter("ignore", FutureWarning)
        return {
            "qini": round(float(qini_auc_score(y, uplift, treated)), 4),
            "auuc": round(float(uplift_auc_score(y, uplift, treated)), 4),
        }


def random_qini(y: np.ndarray, treated: np.ndarray, seed: int, draws: int = 20) -> dict[str, float]:
    """A random ordering's figures, averaged over ``draws`` orderings."""
    rng = np.random.default_rng(seed)
    found = [qini(y, rng.random(len(y)), treated) for _ in range(draws)]
    return {k: round(float(np.mean([f[k] for f in found])), 4) for k in ("qini", "auuc")}


def _booster(x: pd.DataFrame, y: np.ndarray, spec: Spec, seed: int) -> Any:
    import lightgbm as lgb

    params = {**PARAMS, **SHAPE, "seed": seed}
    return lgb.train(params, lgb.Dataset(matrix(x, spec), label=y), num_boost_round=ROUNDS)


@dataclass
class UpliftModel:
    """A learnt uplift: the learner, its boosters' text and the spec of its inputs."""

    learner: str
    spec: Spec
    texts: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    _boosters: list[Any] = field(default_factory=list, repr=False)

    def boosters(self) -> list[Any]:
        if not self._boosters:
            import lightgbm as lgb

            self._boosters = [lgb.Booster(model_str=t) for t in self.texts]
        return self._boosters

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Each member's uplift: the change in their chance to buy that treating
        them makes."""
        if not len(frame):
            return np.zeros(0)
        x = matrix(frame, self.spec)
        b = self.boosters()
        if self.learner == "two_model":
            return np.asarray(b[0].predict(x) - b[1].predict(x), dtype=float)
        return np.asarray(2 * b[0].predict(x) - 1, dtype=float)


def fit_learner(
    learner: str, x: pd.DataFrame, treated: np.ndarray, y: np.ndarray, spec: Spec, seed: int
) -> UpliftModel:
    if learner == "two_model":
        on = _booster(x[treated == 1], y[treated == 1], spec, seed)
        off = _booster(x[treated == 0], y[treated == 0], spec, seed)
        return UpliftModel(learner, spec, [on.model_to_string(), off.model_to_string()], _boosters=[on, off])
    if learner == "class_transformation":
        # scikit-uplift fits it; what is kept is the LightGBM model inside, as text
        import warnings

        from lightgbm import LGBMClassifier
        from sklift.models import ClassTransformation

        settings = {k: v for k, v in {**PARAMS, **SHAPE}.items() if k not in ("objective", "verbosity")}
        estimator = LGBMClassifier(n_estimators=ROUNDS, random_state=seed, verbose=-1, **settings)
        with warnings.catch_warnings():  # scikit-uplift's own use of a deprecated scikit-learn helper
            warnings.simplefilter("ignore", FutureWarning)
            fitted = ClassTransformation(estimator).fit(matrix(x, spec), y, treated)
        b = fitted.estimator.booster_
        return UpliftModel(learner, spec, [b.model_to_string()], _boosters=[b])
    raise ValueError(f"unknown uplift learner {learner!r}")


def learn(frame: pd.DataFrame, treated: np.ndarray, y: np.ndarray, spec: Spec, seed: int = 7) -> UpliftModel:
    """Every learner on the same members, judged on the same held-out ones; the
    best by Qini, refitted on all members, with every learner's figures."""
    from sklearn.model_selection import train_test_split

    strata = treated * 2 + y
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=HELD_OUT, random_state=seed, stratify=strata)
    judged: dict[str, Any] = {
        "random": random_qini(y[test], treated[test], seed),
        "members": len(y),
        "treated": int(treated.sum()),
        "held_out": len(test),
    }
    best, best_qini = LEARNERS[0], -np.inf
    for learner in LEARNERS:
        m = fit_learner(learner, frame.iloc[train], treated[train], y[train], spec, seed)
        judged[learner] = qini(y[test], m.predict(frame.iloc[test]), treated[test])
        if judged[learner]["qini"] > best_qini:
            best, best_qini = learner, judged[learner]["qini"]
    final = fit_learner(best, frame, treated, y, spec, seed)
    final.metrics = {**judged, "learner": best}
    return final
