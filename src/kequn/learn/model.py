"""The propensity model: gradient-boosted trees (LightGBM) over the features of
``kequn.learn.features``, kept as LightGBM's own text model and a JSON spec of
its inputs. Nothing is pickled: a stored model is text that LightGBM parses,
never code that runs when loaded.

The spec fixes each input's kind and, for a categorical one, its categories in
the order the model learnt them, so that a value seen at scoring maps to the
same code (an unseen one is missing). The same spec explains a score: LightGBM
gives each input's contribution to the log-odds of a row (TreeSHAP), and the
largest ones are said in a banker's words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kequn.learn.features import CATEGORICAL_HISTORY, CONTEXT, HISTORY

#: LightGBM's settings: strong leaves, shrinkage, a little randomness
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.85,
    "bagging_fraction": 0.85,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 8,
    "verbosity": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
}
#: the shapes of tree tried, the one that does best on the last part of the earlier
#: period kept: nearly additive (a bank's history is often a sum of effects) to deep
SHAPES: tuple[dict[str, Any], ...] = (
    {"num_leaves": 4, "min_data_in_leaf": 100, "learning_rate": 0.1},
    {"num_leaves": 15, "min_data_in_leaf": 60},
    {"num_leaves": 31, "min_data_in_leaf": 40},
)


@dataclass(frozen=True)
class Input:
    name: str
    categorical: bool
    categories: tuple[str, ...] = ()
    label: str = ""


@dataclass
class Spec:
    """What a model reads, in order."""

    inputs: list[Input]
    rounds: int = 0
    base_rate: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def to_json(self) -> str:
        return json.dumps(
            {
                "inputs": [
                    {
                        "name": i.name,
                        "categorical": i.categorical,
                        "categories": list(i.categories),
                        "label": i.label,
                    }
                    for i in self.inputs
                ],
                "rounds": self.rounds,
                "base_rate": self.base_rate,
                "extra": self.extra,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> Spec:
        data = json.loads(text) if isinstance(text, str) else text
        return cls(
            [
                Input(i["name"], bool(i["categorical"]), tuple(i.get("categories") or ()), i.get("label", ""))
                for i in data["inputs"]
            ],
            int(data.get("rounds", 0)),
            float(data.get("base_rate", 0.0)),
            dict(data.get("extra") or {}),
        )


def spec_for(frame: pd.DataFrame, named: dict[str, str]) -> Spec:
    """The inputs of a training frame: context and history first, then the named
    values (``named``: name -> label); text columns are categorical, with the
    categories the training rows hold."""
    inputs = []
    for name in [*CONTEXT, *HISTORY, *named]:
        if name not in frame:
            continue
        col = frame[name]
        categorical = (
            name in CATEGORICAL_HISTORY
            or name in ("action", "campaign", "product_id", "channel")
            or not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))
        )
        cats: tuple[str, ...] = ()
        if categorical:
            cats = tuple(sorted({str(v) for v in col.dropna().unique()}))
        inputs.append(Input(name, categorical, cats, named.get(name, "")))
    return Spec(inputs)


def matrix(frame: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """The model's input columns of ``frame``, typed as the spec says (a missing
    column is all missing)."""
    out = {}
    n = len(frame)
    for i in spec.inputs:
        col = frame[i.name] if i.name in frame else pd.Series([None] * n, index=frame.index)
        if i.categorical:
            known = set(i.categories)
            # a value the model never saw is as good as missing to it
            text = col.map(lambda v, k=known: str(v) if v is not None and str(v) in k else None)
            out[i.name] = pd.Categorical(text, categories=list(i.categories))
        else:
            out[i.name] = pd.to_numeric(col.map(_number), errors="coerce").astype(float)
    return pd.DataFrame(out, index=frame.index)


def _number(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return float(v)
    return v


def fit(
    frame: pd.DataFrame,
    y: np.ndarray,
    spec: Spec,
    rounds: int | None = None,
    seed: int = 7,
    valid: tuple[pd.DataFrame, np.ndarray] | None = None,
    shape: dict[str, Any] | None = None,
) -> tuple[Any, int]:
    """A booster on ``frame`` (``shape``: settings over ``PARAMS``); with
    ``valid``, the rounds are chosen by early stopping on it. Returns the
    booster and its rounds."""
    import lightgbm as lgb

    params = {**PARAMS, **(shape or {}), "seed": seed}
    data = lgb.Dataset(matrix(frame, spec), label=y, free_raw_data=True)
    if valid is not None:
        check = lgb.Dataset(matrix(valid[0], spec), label=valid[1], reference=data)
        booster = lgb.train(
            params,
            data,
            num_boost_round=2000,
            valid_sets=[check],
            callbacks=[lgb.early_stopping(60, verbose=False)],
        )
        return booster, max(1, int(booster.best_iteration or booster.current_iteration()))
    booster = lgb.train(params, data, num_boost_round=rounds or 200)
    return booster, booster.current_iteration()


@dataclass(frozen=True)
class Model:
    """A stored model, ready to score."""

    version: str
    spec: Spec
    booster: Any
    actions: frozenset[str]

    @classmethod
    def from_text(cls, version: str, model_text: str, spec: str | dict[str, Any]) -> Model:
        import lightgbm as lgb

        parsed = Spec.from_json(spec)
        return cls(
            version, parsed, lgb.Booster(model_str=model_text), frozenset(parsed.extra.get("actions", []))
        )

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if not len(frame):
            return np.zeros(0)
        return np.asarray(self.booster.predict(matrix(frame, self.spec)), dtype=float)

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Each input's share of each row's log-odds (the last column: the base)."""
        if not len(frame):
            return np.zeros((0, len(self.spec.inputs) + 1))
        return np.asarray(self.booster.predict(matrix(frame, self.spec), pred_contrib=True), dtype=float)
