"""One event at a time (``kequn event``, the library, ``POST /api/events``): the
triggers, the funnel's stages and the arbitration of the nightly batch, on the
customer's working card and their own rows of the operational store, and the
task stored at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd
from sqlalchemy import CompoundSelect, Select, String, bindparam, cast, func, null, select, union_all
from sqlalchemy.orm import Session

from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.decide.arbitrate import CHANNELS, Room, arbitrate_rows, remaining
from kequn.decide.funnel import facts_judged
from kequn.decide.one import Subject, decide_many
from kequn.decide.propensity import Model, with_model
from kequn.decide.single_tasks import NewTask, new_task, open_tasks
from kequn.decide.talk import TALK_FACTS
from kequn.learn.score import features_of, named
from kequn.pipeline.cards import HISTORY_DAYS
from kequn.playbook import LoadedPlaybook
from kequn.rules import passed_before
from kequn.store import Store
from kequn.store.cards import Cards, Facts, decided_columns, remember_decided
from kequn.store.keyed import among, built
from kequn.store.models import Customer, Erasure, Staff, Task

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


def room_today(s: Session, staff: Mapping[str, Staff], customer_ids: Iterable[str], now: datetime) -> Room:
    """What is left of the day of the managers (``staff``: their rows) and of the
    customers, from the tasks already made."""
    day = now.date()
    managers = sorted(staff)
    ids = sorted(set(customer_ids))
    capacity = {
        (m.manager_id, ch): int(getattr(m, f"capacity_{ch}") or 0) for m in staff.values() for ch in CHANNELS
    }
    booked: dict[tuple[str, str], int] = {}
    mine = dict.fromkeys(ids, 0)
    for manager, key, n in s.execute(_room_read(s), {"managers": managers, "ids": ids, "day": day}):
        if manager is None:
            mine[key] = int(n)
        else:
            booked[(manager, key)] = int(n)
    return Room(remaining(capacity, booked), mine, booked, now)


@built
def _customers_read(dialect: str) -> Select[Customer, Staff, str, str, str]:
    """The customers' cards, their owners' rows, whether they were erased, and
    the run and snapshot of the decision behind the cards."""
    return (
        select(Customer, Staff, Erasure.customer_id, *decided_columns())
        .outerjoin(Staff, Staff.manager_id == Customer.owner_manager_id)
        .outerjoin(Erasure, Erasure.customer_id == Customer.customer_id)
        .where(among(Customer.customer_id, "ids", dialect))
    )


@built
def _room_read(dialect: str) -> CompoundSelect[Any]:
    """The managers' slots booked on the day and the customers' tasks made, as
    rows of one shape (manager or NULL, channel or customer, count): its two
    round trips were a tenth of a server worker's time under batches of events.
    Both are counted on an index alone (``ix_tasks_manager_day`` holds each
    task's channel)."""
    made = (Task.as_of == bindparam("day", type_=Task.as_of.type)) & Task.status.in_(["open", "done"])
    by_manager = (
        select(Task.manager_id, Task.channel, func.count())
        .where(among(Task.manager_id, "managers", dialect), made)
        .group_by(Task.manager_id, Task.channel)
    )
    by_customer = (
        select(cast(null(), String()), Task.customer_id, func.count())
        .where(among(Task.customer_id, "ids", dialect), made)
        .group_by(Task.customer_id)
    )
    return union_all(by_manager, by_customer)


#: the most events one call decides (a batch from the bank's event stream)
MAX_BATCH = 500


def handle_event(
    ops: Store,
    cards: Cards,
    event: dict[str, Any],
    pb: LoadedPlaybook,
    model: Model | None = None,
    now: datetime | None = None,
) -> EventResult:
    """Decides on one event and stores the resulting task, if any."""
    return handle_events(ops, cards, [event], pb, model, now)[0]


def handle_events(
    ops: Store,
    cards: Cards,
    events: Sequence[Mapping[str, Any]],
    pb: LoadedPlaybook,
    model: Model | None = None,
    now: datetime | None = None,
) -> list[EventResult]:
    """``decide_events`` in a transaction of its own: all the batch's tasks
    stored or, if any fails, none."""
    with ops.session() as s:
        return decide_events(s, cards, events, pb, model, now)


def decide_events(
    s: Session,
    cards: Cards,
    events: Sequence[Mapping[str, Any]],
    pb: LoadedPlaybook,
    model: Model | None = None,
    now: datetime | None = None,
) -> list[EventResult]:
    """Decides on a batch of events and stores their tasks in the session's
    transaction. The customers' events are decided together, as the nightly
    batch decides its customers (their pairs ranked against one another for
    their managers' room); a customer's second event is decided after their
    first, seeing the task it made. An unknown customer refuses the batch
    before anything is decided."""
    now = now or clock_now()
    if len(events) > MAX_BATCH:
        raise KequnError(f"{len(events)} events in one batch: at most {MAX_BATCH}")
    ids = [str(e.get("customer_id") or "") for e in events]
    results = [EventResult(cid) for cid in ids]
    # the customers' cards, their owners' rows, whether they were erased and the
    # decision behind the cards, in one query (four, one after another, were a
    # tenth of an event)
    found = s.execute(_customers_read(s), {"ids": sorted(set(ids))}).all()
    if found:
        remember_decided(s, found[0][3], found[0][4])
    known = {card.customer_id: card for card, *_ in found}
    unknown = sorted({cid for cid in ids if cid not in known})
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise KequnError(f"unknown customer {unknown[0]!r}{more}")
    owners = {m.manager_id: m for _, m, *_ in found if m is not None}
    erased = {cid for _, _, cid, *_ in found if cid is not None}
    # what the rules read of each profile; what a task is written from is read
    # after them, for the customers left with a live pair (a profile's columns
    # cost alike, about 20 µs each a read, and most events make no task)
    rule_columns = read_to_judge(pb)
    facts = cards.many(s, known, rule_columns, erased=erased)
    for turn in _turns(ids):
        cards_of = [(i, events[i], known[ids[i]]) for i in turn]
        staff = {
            c.owner_manager_id: owners[c.owner_manager_id]
            for _, _, c in cards_of
            if c.owner_manager_id in owners
        }
        _decide_turn(s, cards, pb, model, now, cards_of, facts, erased, staff, results)
    return results


def read_to_judge(pb: LoadedPlaybook) -> frozenset[str] | None:
    """The profile's columns an event's rules read (``funnel.facts_judged``).
    A seam: ``None`` reads all of them, as the tests that hold the few columns
    to the whole profile do."""
    return facts_judged(pb)


def read_for_task(pb: LoadedPlaybook, model: Model | None) -> frozenset[str]:
    """The profile's columns a task is written and scored from that the rules
    did not read: its talk track's facts and the model's inputs."""
    return (frozenset(TALK_FACTS) | frozenset(named(model) if model else ())) - facts_judged(pb)


def _turns(ids: Sequence[str]) -> list[list[int]]:
    """The events' positions in turns: each customer's first event in the first
    turn, their second in the next, and so on."""
    turns: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, cid in enumerate(ids):
        k = seen.get(cid, 0)
        seen[cid] = k + 1
        if k == len(turns):
            turns.append([])
        turns[k].append(i)
    return turns


def _decide_turn(
    s: Session,
    cards: Cards,
    pb: LoadedPlaybook,
    model: Model | None,
    now: datetime,
    turn: Sequence[tuple[int, Mapping[str, Any], Customer]],
    facts: dict[str, Facts],
    erased: set[str],
    staff: Mapping[str, Staff],
    results: list[EventResult],
) -> None:
    """One turn of distinct customers' events (``staff``: their owners' rows;
    ``facts``: what the rules read of their profiles, with what a task is
    written from added for those left with a live pair; ``erased``: which of
    them were erased):
    the rules, then the arbitration of every live pair, then a task per event
    (its best) stored."""
    subjects = [
        Subject(card, facts.get(card.customer_id, {}), {k: event.get(k) for k in EVENT_FIELDS})
        for _, event, card in turn
    ]
    judged = decide_many(s, pb, subjects, now, staff=staff)
    at = {card.customer_id: i for i, _, card in turn}
    for r in judged:
        result = results[at[r["customer_id"]]]
        if r["trigger"] not in result.triggers:
            result.triggers.append(r["trigger"])
        if r["rule"] is not None:
            result.pairs.append(PairVerdict(r["trigger"], r["action"], r["stage"], r["rule"]))
    for i, _, _ in turn:
        results[i].triggers.sort()
    live = [r for r in judged if r["rule"] is None]
    if not live:
        return
    deciding = {r["customer_id"] for r in live}
    cards_of = {card.customer_id: card for _, _, card in turn}
    more = read_for_task(pb, model)
    # read for the customers whose facts lack them, not for a whole profile; a
    # second event finds them already read (but for a column the profile has
    # not, or an erased customer's age: read again, and found missing again)
    lacking = [cid for cid in deciding if cid in facts and not more <= facts[cid].keys()]
    if lacking:
        for cid, found in cards.many(s, lacking, more, erased, recs=False).items():
            facts[cid] = {**facts[cid], **found}
    score = with_model(
        pb,
        model,
        lambda pairs: features_of(
            model,  # type: ignore[arg-type]
            pairs,
            now,
            facts,
            cards.history(s, deciding, now - timedelta(days=HISTORY_DAYS)),
        ),
    )
    event_of = {card.customer_id: event for _, event, card in turn}
    room = room_today(s, staff, deciding, now)
    tasks, dropped = arbitrate_rows(live, room, pb, score, now.date())
    for d in dropped:
        results[at[d["customer_id"]]].pairs.append(
            PairVerdict(d["trigger"], d["action"], d["stage"], d["rule"], None, d["priority"])
        )
    actions = {a.name: a for a in pb.playbook.actions}
    decided: list[tuple[EventResult, NewTask]] = []
    made: set[str] = set()
    for t in (SimpleNamespace(**{f: row.get(f) for f in TASK_READS}) for row in tasks):
        result = results[at[t.customer_id]]
        result.pairs.append(PairVerdict(t.trigger, t.action, "task", "", t.channel, float(t.priority)))
        if t.customer_id in made:
            continue  # an event makes one task: its best
        made.add(t.customer_id)
        event = event_of[t.customer_id]
        decided.append(
            (
                result,
                new_task(
                    pb,
                    cards_of[t.customer_id],
                    actions[t.action],
                    trigger=t.trigger,
                    manager_id=t.manager_id,
                    # a task's manager is the customer's owner, whose row was read
                    manager_name=staff[t.manager_id].name if t.manager_id in staff else None,
                    channel=t.channel,
                    scheduled_at=pd.Timestamp(t.scheduled_at).to_pydatetime(),
                    product=_product(t),
                    facts=dict(facts.get(t.customer_id, {})),
                    score={
                        "value": float(t.value),
                        "propensity": float(t.propensity),
                        "urgency": float(t.urgency),
                        "priority": float(t.priority),
                    },
                    explanation={
                        "event": dict(event),
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
                ),
            )
        )
    # the same event twice makes one task: the one stored the first time
    stored = open_tasks(s, [n for _, n in decided])
    for (result, _), task in zip(decided, stored, strict=True):
        result.task = task


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


#: what an event reads of a task the arbitration made (None where the pair has none)
TASK_READS = ("customer_id", *TASK_FIELDS)


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
