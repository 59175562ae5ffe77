"""One event at a time (``kequn event``, the library, ``POST /api/events``): the
triggers, the funnel's stages and the arbitration of the nightly batch, on the
customer's working card and their own rows of the operational store, and the
task stored at once."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.decide.arbitrate import CHANNELS, Room, arbitrate, remaining
from kequn.decide.one import decide_one
from kequn.decide.propensity import Model, with_model
from kequn.decide.tasks import open_task
from kequn.learn.score import features_one
from kequn.pipeline.cards import HISTORY_DAYS
from kequn.playbook import LoadedPlaybook
from kequn.rules import passed_before
from kequn.store import Store
from kequn.store.cards import Cards
from kequn.store.models import Customer, Staff, Task

EVENT_FIELDS = ("event_type", "event_product_id", "event_views_7d", "event_amount")


@dataclass
class PairVerdict:
    trigger: str
    action: str
    stage: str  # the stage it stopped at, or "task"
    reason: str = ""
    channel: str | None = None
    priority: float = 0.0


@dataclass
class EventResult:
    customer_id: str
    triggers: list[str] = field(default_factory=list)
    pairs: list[PairVerdict] = field(default_factory=list)
    task: Task | None = None


def room_today(s: Session, manager_id: str | None, customer_id: str, now: datetime) -> Room:
    """What is left of the manager's day and the customer's, from the tasks already made."""
    day = now.date()
    staff = s.get(Staff, manager_id) if manager_id else None
    capacity = (
        {(staff.manager_id, ch): int(getattr(staff, f"capacity_{ch}") or 0) for ch in CHANNELS}
        if staff
        else {}
    )
    made = (Task.as_of == day) & Task.status.in_(["open", "done"])
    booked: dict[tuple[str, str], int] = {
        (m, ch): int(n)
        for m, ch, n in s.execute(
            select(Task.manager_id, Task.channel, func.count())
            .where(Task.manager_id == manager_id, made)
            .group_by(Task.manager_id, Task.channel)
        ).all()
    }
    mine = s.scalar(select(func.count()).select_from(Task).where(Task.customer_id == customer_id, made)) or 0
    return Room(remaining(capacity, booked), {customer_id: int(mine)}, booked, now)


def handle_event(
    ops: Store,
    cards: Cards,
    event: dict[str, Any],
    pb: LoadedPlaybook,
    model: Model | None = None,
    now: datetime | None = None,
) -> EventResult:
    """Decides on one event and stores the resulting task, if any."""
    now = now or clock_now()
    customer_id = str(event.get("customer_id") or "")
    with ops.session() as s:
        card = s.get(Customer, customer_id)
        if card is None:
            raise KequnError(f"unknown customer {customer_id!r}")
        result = EventResult(customer_id)
        facts = cards.facts(s, customer_id)
        judged = decide_one(s, pb, card, facts, now, {k: event.get(k) for k in EVENT_FIELDS})
        result.triggers = sorted({r["trigger"] for r in judged})
        for r in judged:
            if r["rule"] is not None:
                result.pairs.append(PairVerdict(r["trigger"], r["action"], r["stage"], r["rule"]))
        live = [r for r in judged if r["rule"] is None]
        if not live:
            return result
        frame = pd.DataFrame(live)
        score = with_model(
            pb,
            model,
            lambda pairs: features_one(
                model,  # type: ignore[arg-type]
                pairs,
                now,
                facts,
                cards.history(s, customer_id, now - timedelta(days=HISTORY_DAYS)),
            ),
        )
        tasks, dropped = arbitrate(
            frame, room_today(s, card.owner_manager_id, customer_id, now), pb, score, now.date()
        )
        for r in _rows(dropped, ("trigger", "action", "stage", "rule", "priority")):
            result.pairs.append(PairVerdict(r.trigger, r.action, r.stage, r.rule, None, float(r.priority)))
        actions = {a.name: a for a in pb.playbook.actions}
        for t in _rows(tasks, TASK_FIELDS):
            pv = PairVerdict(t.trigger, t.action, "task", "", t.channel, float(t.priority))
            result.pairs.append(pv)
            if result.task is not None:
                continue
            staff = s.get(Staff, t.manager_id)
            product = _product(t)
            # the same event twice makes one task
            result.task = open_task(
                s,
                pb,
                card,
                actions[t.action],
                trigger=t.trigger,
                manager_id=t.manager_id,
                manager_name=staff.name if staff else None,
                channel=t.channel,
                scheduled_at=pd.Timestamp(t.scheduled_at).to_pydatetime(),
                product=product,
                facts=facts,
                score={
                    "value": float(t.value),
                    "propensity": float(t.propensity),
                    "urgency": float(t.urgency),
                    "priority": float(t.priority),
                },
                explanation={
                    "event": event,
                    "rules_passed": passed_before("task"),
                    "dual_recording": bool(t.dual_recording)
                    if t.dual_recording == t.dual_recording
                    else False,
                    "score": {
                        "value": round(float(t.value), 2),
                        "propensity": round(float(t.propensity), 4),
                        "urgency": float(t.urgency),
                        "priority": round(float(t.priority), 4),
                    },
                    "features_used": sorted(pb.expression("triggers", t.trigger).columns),
                    "propensity_reasons": t.propensity_reasons or [],
                },
                source="event",
                audit=("system:event", "decision_event", {"event": event.get("event_type")}),
                now=now,
            )
        return result


#: what an event reads of each task the arbitration made
TASK_FIELDS = (
    "trigger",
    "action",
    "channel",
    "priority",
    "manager_id",
    "scheduled_at",
    "value",
    "propensity",
    "urgency",
    "dual_recording",
    "propensity_reasons",
    "product_id",
    "product_name",
    "expected_return",
    "is_pension",
    "term_days",
)


@cache
def _row_type(fields: tuple[str, ...]) -> Any:
    return namedtuple("Row", fields)  # type: ignore[misc]


def _rows(frame: pd.DataFrame, fields: tuple[str, ...]) -> list[Any]:
    """The frame's rows as named tuples of ``fields`` (None for a column it
    lacks): read column by column, not through ``itertuples``, which takes
    each of a wide frame's columns apart for every call."""
    Row = _row_type(fields)
    columns = [frame[f].tolist() if f in frame else [None] * len(frame) for f in fields]
    return [Row(*values) for values in zip(*columns, strict=True)]


def _product(t: Any) -> dict[str, Any] | None:
    if not isinstance(t.product_id, str):
        return None
    return {
        "product_id": t.product_id,
        "product_name": t.product_name,
        "expected_return": None if pd.isna(t.expected_return) else float(t.expected_return),
        "is_pension": bool(t.is_pension),
        "term_days": None if pd.isna(t.term_days) else int(t.term_days),
    }
