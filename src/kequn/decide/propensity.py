"""Propensity in a decision: the chance an action succeeds with a customer. The
model in force (``kequn.learn``) speaks for the actions it learnt; every other
action, and every action while no model is in force, has its playbook prior.
The arbitration ranks on it; every path that arbitrates gets a scorer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy import Connection

from kequn import warehouse
from kequn.learn.model import Model
from kequn.learn.persuasion import active_uplifts, profiles_on
from kequn.learn.registry import active as active_model
from kequn.learn.registry import active_in as active_model_in
from kequn.learn.score import features_batch, reasons
from kequn.learn.uplift import UpliftModel
from kequn.pipeline.cards import CONTACT_HISTORY, HISTORY_DAYS
from kequn.playbook import LoadedPlaybook
from kequn.store.transfer import instant, to_duckdb

#: a frame of pairs -> a number per pair
Chances = Callable[[pd.DataFrame], np.ndarray]
#: a frame of pairs -> per pair, the inputs that moved its chance most
Reasons = Callable[[pd.DataFrame], list[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Scorer:
    """Each pair's propensity (``chances``), and for the pairs the model spoke for,
    the inputs that raised or lowered it most (``reasons``)."""

    chances: Chances
    explain: Reasons | None = None
    model_actions: frozenset[str] = frozenset()
    uplift_actions: frozenset[str] = frozenset()
    #: the chances from the pairs' actions alone, where that is all the scorer
    #: reads (the priors): an event's few pairs are then scored without a frame
    by_action: Callable[[Sequence[str]], np.ndarray] | None = None

    def __call__(self, pairs: pd.DataFrame) -> np.ndarray:
        return self.chances(pairs)

    def reasons(self, pairs: pd.DataFrame) -> list[list[dict[str, Any]]]:
        """Per pair: the model's reasons, or none (a prior, or a campaign's uplift)."""
        out: list[list[dict[str, Any]]] = [[] for _ in range(len(pairs))]
        if self.explain is None or not len(pairs):
            return out
        campaign = (
            pairs["campaign_id"].notna().to_numpy() if "campaign_id" in pairs else np.zeros(len(pairs), bool)
        )
        action = pairs["action"].to_numpy()
        mine = np.isin(action, list(self.model_actions)) & ~(
            campaign & np.isin(action, list(self.uplift_actions))
        )
        if mine.any():
            for i, found in zip(np.flatnonzero(mine), self.explain(pairs[mine]), strict=True):
                out[i] = found
        return out


#: the chance of an action the playbook gives no prior
UNKNOWN_PRIOR = 0.1


def priors(pairs: pd.DataFrame, pb: LoadedPlaybook) -> np.ndarray:
    return priors_of(pairs["action"], pb)


def priors_of(actions: Sequence[str] | pd.Series, pb: LoadedPlaybook) -> np.ndarray:
    """Each action's playbook prior (a new array, the caller's to change)."""
    known = {a.name: a.prior for a in pb.playbook.actions}
    given = actions if isinstance(actions, pd.Series) else np.asarray(actions, dtype=object)
    codes, found = pd.factorize(given)
    # code -1 (no action) reads the last entry: the prior of an unknown action
    table = np.array([known.get(a, UNKNOWN_PRIOR) for a in found] + [UNKNOWN_PRIOR], dtype=np.float64)
    return table[codes]


def by_priors(pb: LoadedPlaybook) -> Scorer:
    return Scorer(lambda pairs: priors(pairs, pb), by_action=lambda actions: priors_of(actions, pb))


def with_model(
    pb: LoadedPlaybook, model: Model | None, features: Callable[[pd.DataFrame], pd.DataFrame]
) -> Scorer:
    """The model's chance where it learnt the action (``features``: the model's
    inputs for the pairs it is given), the prior elsewhere."""
    if model is None:
        return by_priors(pb)

    def score(pairs: pd.DataFrame) -> np.ndarray:
        out = priors(pairs, pb)
        known = pairs["action"].isin(model.actions).to_numpy()
        if known.any():
            out[known] = model.predict(features(pairs[known]))
        return out

    return Scorer(score, lambda pairs: reasons(model, features(pairs)), model.actions)


def with_uplift(
    score: Scorer,
    models: dict[str, UpliftModel],
    uplift_of: Callable[[UpliftModel, pd.DataFrame], np.ndarray],
) -> Scorer:
    """A campaign's pairs ranked on what contacting them changes, where the
    campaign's action has an uplift model (``uplift_of``: a model's uplift for
    pairs); every other pair as ``score`` ranks it."""
    if not models:
        return score

    def scored(pairs: pd.DataFrame) -> np.ndarray:
        out = score(pairs)
        campaign = (
            pairs["campaign_id"].notna().to_numpy() if "campaign_id" in pairs else np.zeros(len(pairs), bool)
        )
        for action, model in models.items():
            mine = campaign & (pairs["action"] == action).to_numpy()
            if mine.any():
                # a negative uplift is a contact that does harm: the least of any rank
                out[mine] = np.clip(uplift_of(model, pairs[mine]), 0.001, 1.0)
        return out

    return Scorer(scored, score.explain, score.model_actions, frozenset(models))


def batch_scorer(
    duck: duckdb.DuckDBPyConnection,
    con: Connection,
    pb: LoadedPlaybook,
    model: Model | None,
    run_schema: str,
    now: datetime,
) -> Scorer:
    """The scorer of a batch (the nightly run, a campaign launch) on ``duck``,
    which has ``run_schema`` attached: the customers' earlier contacts (the run's
    copy of the bank's, and Kequn's outcomes of the last year) are gathered once."""
    uplifts = active_uplifts(con)
    run_id = run_schema.removeprefix("run_")

    def uplift_of(m: UpliftModel, pairs: pd.DataFrame) -> np.ndarray:
        who = pd.DataFrame(
            {
                "row": np.arange(len(pairs)),
                "customer_id": pairs["customer_id"].astype(str).to_numpy(),
                "run_id": run_id,
            }
        )
        return m.predict(profiles_on(duck, [run_id], who))

    if model is None:
        return with_uplift(by_priors(pb), uplifts, uplift_of)
    d = con.dialect.name
    to_duckdb(
        con,
        duck,
        "k_model_kequn",
        f"""SELECT o.customer_id, {instant("o.at", d)}, coalesce(t.campaign_id, o.action), o.outcome
            FROM outcomes o LEFT JOIN tasks t ON t.task_id = o.task_id
            WHERE o.outcome <> 'survey' AND o.at >= :since""",
        {"customer_id": "VARCHAR", "ts": "TIMESTAMPTZ", "campaign": "VARCHAR", "outcome": "VARCHAR"},
        {"since": now - timedelta(days=HISTORY_DAYS)},
    )
    bank = (
        f"SELECT customer_id, ts, campaign, outcome FROM {run_schema}.{CONTACT_HISTORY}"
        if warehouse.has_table(duck, run_schema, CONTACT_HISTORY)
        else "SELECT customer_id, ts, campaign, outcome FROM k_model_kequn LIMIT 0"
    )
    duck.execute(
        f"CREATE OR REPLACE TEMP TABLE k_model_events AS {bank} UNION ALL SELECT * FROM k_model_kequn"
    )
    scored = with_model(
        pb,
        model,
        lambda pairs: features_batch(duck, model, pairs, now, f"{run_schema}.profiles", "k_model_events"),
    )
    return with_uplift(scored, uplifts, uplift_of)


__all__ = [
    "Model",
    "Scorer",
    "active_model",
    "active_model_in",
    "batch_scorer",
    "by_priors",
    "priors",
    "with_model",
]
