"""A simulated branch at work, for demos, tests and the propensity model: managers
work their tasks (or, for history, past contacts) and customers answer by a
hidden propensity that depends on who they are, so a model has something real
to learn and campaigns have an effect to measure."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text

from kequn.core.clock import SHANGHAI
from kequn.playbook import LoadedPlaybook
from kequn.store import Store
from kequn.store.bulk import load_rows, update_column
from kequn.store.cards import Cards

OUTCOME_COLUMNS = [
    "idempotency_key",
    "task_id",
    "customer_id",
    "manager_id",
    "action",
    "kind",
    "channel",
    "outcome",
    "product_id",
    "amount",
    "note",
    "score",
    "at",
]
CHANNEL_EFFECT = {"visit": 0.8, "phone": 0.4, "wechat": 0.0, "sms": -0.6, "app": -0.8}
LIFECYCLE_EFFECT = {
    "growing": 0.4,
    "onboarding": 0.3,
    "mature": 0.0,
    "declining": -0.3,
    "dormant": -1.0,
    "won_back": 0.2,
}


def true_propensity(frame: pd.DataFrame, priors: dict[str, float]) -> np.ndarray:
    """The hidden chance of success: the prior, moved by channel, health, wealth,
    age and lifecycle (what a model can learn and a prior cannot know)."""
    prior = frame["action"].map(priors).fillna(0.1).clip(0.01, 0.95).to_numpy()
    logit = np.log(prior / (1 - prior))
    logit += frame["channel"].map(CHANNEL_EFFECT).fillna(0).to_numpy()
    logit += 0.03 * (frame["health_score"].fillna(50).to_numpy() - 55)
    logit += 0.5 * (np.log10(frame["aum_month_end"].fillna(0).clip(lower=0) + 1) - 4)
    logit -= 0.02 * np.abs(frame["age"].fillna(45).to_numpy() - 45)
    logit += frame["lifecycle"].map(LIFECYCLE_EFFECT).fillna(0).to_numpy()
    return 1 / (1 + np.exp(-logit))


def _cards(ops: Store, cards: Cards, ids: list[str] | None = None) -> pd.DataFrame:
    """The customers' slim cards (``ids``, or every owned one) with the facts the
    hidden propensity reads."""
    with ops.session() as s:
        frame = pd.read_sql(
            text("SELECT customer_id, owner_manager_id, lifecycle FROM customers"), s.connection()
        )
        if ids is not None:
            frame = frame[frame.customer_id.isin(ids)]
        else:
            frame = frame[frame.owner_manager_id.notna()]
        known = cards.many(s, frame.customer_id.tolist())
    facts = frame["customer_id"].map(lambda c: known.get(c, {}))
    for col in ("health_score", "aum_month_end", "age"):
        frame[col] = facts.map(lambda f, c=col: f.get(c)).astype(float)
    # what a manager sells in history: the customer's first suitable recommendation
    frame["rec_product"] = facts.map(lambda f: (f.get("recs") or [{}])[0].get("product_id"))
    return frame.reset_index(drop=True)


def _surveys(rng: np.random.Generator, outcomes: list[str], share: float = 0.2) -> list[tuple[int, int]]:
    """(contact index, score 0–10) for the contacts the bank surveyed afterwards;
    customers who bought or showed interest score higher."""
    picked = []
    for i, o in enumerate(outcomes):
        if o in ("sold", "interested", "reached") and rng.random() < share:
            happy = 0.75 if o != "reached" else 0.5
            score = int(rng.integers(9, 11)) if rng.random() < happy else int(rng.integers(3, 9))
            picked.append((i, score))
    return picked


def _outcomes(
    rng: np.random.Generator, frame: pd.DataFrame, p: np.ndarray
) -> tuple[list[str], list[Decimal | None]]:
    success = rng.random(len(frame)) < p
    kinds, amounts = [], []
    for ok, kind, aum, ch in zip(
        success, frame["kind"], frame["aum_month_end"], frame["channel"], strict=True
    ):
        if ok:
            sold = kind == "marketing" and rng.random() < 0.5
            kinds.append("sold" if sold else "interested")
            amounts.append(
                Decimal(str(round(max(1000.0, (aum or 0) * rng.uniform(0.05, 0.2)), 2))) if sold else None
            )
        else:
            r = rng.random()
            miss = "ignored" if ch in ("sms", "wechat", "app") else "not_reached"
            kinds.append(
                miss if r < 0.45 else "declined" if r < 0.7 else "maybe_later" if r < 0.78 else "reached"
            )
            amounts.append(None)
    return kinds, amounts


def simulate_history(
    ops: Store,
    facts: Cards,
    pb: LoadedPlaybook,
    end: date,
    days: int = 60,
    contacts_per_day: int = 200,
    seed: int = 7,
) -> int:
    """Logs past contacts over ``days`` days before ``end``."""
    rng = np.random.default_rng(seed)
    cards = _cards(ops, facts)
    if cards.empty:
        return 0
    actions = pb.playbook.actions
    n = days * contacts_per_day
    pick = cards.iloc[rng.integers(0, len(cards), n)].reset_index(drop=True)
    chosen = [actions[i] for i in rng.integers(0, len(actions), n)]
    pick["action"] = [a.name for a in chosen]
    pick["kind"] = [a.kind for a in chosen]
    pick["channel"] = [a.channels[int(rng.integers(0, len(a.channels)))] for a in chosen]
    p = true_propensity(pick, {a.name: a.prior for a in actions})
    outcome, amount = _outcomes(rng, pick, p)
    day_offsets = rng.integers(1, days + 1, n)
    minutes = rng.integers(9 * 60, 18 * 60, n)
    at = [
        datetime.combine(end - timedelta(days=int(d)), time(int(m) // 60, int(m) % 60), SHANGHAI)
        for d, m in zip(day_offsets, minutes, strict=True)
    ]
    rows: list[tuple[Any, ...]] = [
        (
            f"sim:{seed}:{end}:{i}",
            None,
            r.customer_id,
            r.owner_manager_id,
            r.action,
            r.kind,
            r.channel,
            o,
            r.rec_product if o == "sold" and isinstance(r.rec_product, str) else None,
            a,
            None,
            None,
            t,
        )
        for i, (r, o, a, t) in enumerate(zip(pick.itertuples(), outcome, amount, at, strict=True))
    ]
    for i, score in _surveys(rng, outcome):
        r = pick.iloc[i]
        rows.append(
            (
                f"sim:{seed}:{end}:{i}:survey",
                None,
                r.customer_id,
                r.owner_manager_id,
                r.action,
                r.kind,
                r.channel,
                "survey",
                None,
                None,
                None,
                score,
                at[i] + timedelta(days=1),
            )
        )
    with ops.engine.begin() as con:
        load_rows(con, "outcomes", OUTCOME_COLUMNS, rows, ["idempotency_key"], [])
    return n


def work_day(
    ops: Store,
    facts: Cards,
    pb: LoadedPlaybook,
    day: date,
    share: float = 0.85,
    seed: int = 7,
    effect: dict[str, float] | None = None,
) -> int:
    """Managers work ``share`` of the day's open tasks; customers answer by the
    hidden propensity (plus ``effect``: a campaign's true uplift, per action)."""
    rng = np.random.default_rng([seed, day.toordinal()])
    with ops.engine.connect() as con:
        tasks = pd.read_sql(
            text(
                "SELECT task_id, customer_id, manager_id, action, kind, "
                "channel, product_id, scheduled_at FROM tasks WHERE as_of = :d "
                "AND status = 'open'"
            ),
            con,
            params={"d": day},
        )
    if tasks.empty:
        return 0
    tasks = tasks[rng.random(len(tasks)) < share].reset_index(drop=True)
    cards = _cards(ops, facts, tasks.customer_id.unique().tolist()).set_index("customer_id")
    frame = tasks.join(cards[["lifecycle", "health_score", "aum_month_end", "age"]], on="customer_id")
    p = true_propensity(frame, {a.name: a.prior for a in pb.playbook.actions})
    if effect:
        p = np.clip(p + frame["action"].map(effect).fillna(0).to_numpy(), 0, 1)
    outcome, amount = _outcomes(rng, frame, p)
    at = [
        datetime.combine(day, time(17, 30), SHANGHAI)
        if pd.isna(s)
        else pd.Timestamp(s).to_pydatetime().astimezone(SHANGHAI) + timedelta(minutes=5)
        for s in frame["scheduled_at"]
    ]
    rows: list[tuple[Any, ...]] = [
        (
            f"work:{r.task_id}",
            r.task_id,
            r.customer_id,
            r.manager_id,
            r.action,
            r.kind,
            r.channel,
            o,
            r.product_id if o == "sold" else None,
            a,
            None,
            None,
            t,
        )
        for r, o, a, t in zip(frame.itertuples(), outcome, amount, at, strict=True)
    ]
    with ops.engine.begin() as con:
        load_rows(con, "outcomes", OUTCOME_COLUMNS, rows, ["idempotency_key"], [])
        update_column(con, "tasks", "task_id", "status", [(t, "done") for t in frame.task_id])
    return len(rows)
