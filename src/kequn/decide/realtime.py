"""One event at a time (``kequn event``, the library, ``POST /api/events``): the
same triggers, actions and contact rules as the nightly batch, evaluated in
Python on the customer's working card, and the task stored at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kequn.core.clock import SHANGHAI
from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.decide.policy import ContactState, PastContact, Verdict, applicable, contact_policy
from kequn.decide.propensity import Model, propensity
from kequn.decide.tasks import RULES_PASSED, open_task
from kequn.playbook import LoadedPlaybook
from kequn.playbook.evaluate import evaluate, holds
from kequn.playbook.load import parse_window
from kequn.playbook.model import Action
from kequn.store import Store
from kequn.store.models import Consent, ContactPreference, Customer, Outcome, Staff, Task

EVENT_FIELDS = ("event_type", "event_product_id", "event_views_7d", "event_amount")
CAPACITY = {
    "phone": "capacity_phone",
    "visit": "capacity_visit",
    "wechat": "capacity_wechat",
    "sms": "capacity_sms",
}


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


def triggered(
    facts: dict[str, Any], event: dict[str, Any], pb: LoadedPlaybook
) -> list[tuple[str, str, float]]:
    """(trigger, action, urgency) for every action proposed, the most urgent
    trigger kept for an action proposed twice — as the batch does."""
    row = {**facts, **{k: event.get(k) for k in EVENT_FIELDS}}
    best: dict[str, tuple[str, str, float]] = {}
    for t in pb.playbook.triggers:
        if holds(pb.expression("triggers", t.name), row):
            for a in t.actions:
                prev = best.get(a)
                if prev is None or (t.urgency, prev[0]) > (prev[2], t.name):
                    best[a] = (t.name, a, t.urgency)
    return sorted(best.values(), key=lambda x: x[1])


def contact_state(s: Session, card: Customer, now: datetime, pb: LoadedPlaybook) -> ContactState:
    c = pb.playbook.contact
    consents = dict(card.facts.get("consent") or {})
    for ev in s.scalars(select(Consent).where(Consent.customer_id == card.customer_id).order_by(Consent.ts)):
        consents[ev.purpose] = ev.granted
    prefs = s.get(ContactPreference, card.customer_id)
    horizon = now - timedelta(days=max(c.cap_days, c.suppress_window_days + c.suppress_days, c.snooze_days))
    history = tuple(
        PastContact(o.action, o.kind, o.outcome, o.at)
        for o in s.scalars(
            select(Outcome).where(Outcome.customer_id == card.customer_id, Outcome.at >= horizon)
        )
    )
    open_actions = frozenset(
        s.scalars(
            select(Task.action).where(
                Task.customer_id == card.customer_id, Task.status == "open", Task.as_of <= now.date()
            )
        )
    )
    return ContactState(
        consents,
        bool(prefs and prefs.do_not_contact),
        bool(prefs and prefs.personalised_opt_out),
        history,
        open_actions,
    )


def _product(action: Action, facts: dict[str, Any]) -> dict[str, Any] | None:
    if action.product == "none":
        return None
    for rec in sorted(facts.get("recs") or [], key=lambda r: r.get("rank") or 0):
        if action.product in ("any", rec.get("asset_class")):
            return rec
    return None


def _next_slot(s: Session, manager: str, channel: str, now: datetime, pb: LoadedPlaybook) -> datetime:
    """The first free minute after ``now`` in the channel's windows today."""
    minutes = pb.playbook.contact.minutes.get(channel, 5)
    booked = sorted(
        t
        for t in s.scalars(
            select(Task.scheduled_at).where(
                Task.manager_id == manager, Task.channel == channel, Task.as_of == now.date()
            )
        )
        if t is not None
    )
    for w in pb.playbook.contact.windows.get(channel, ["09:00-17:00"]):
        start, end = parse_window(w)
        cursor = max(datetime.combine(now.date(), time(start // 60, start % 60), SHANGHAI), now)
        close = datetime.combine(now.date(), time(end // 60, end % 60), SHANGHAI)
        for b in booked:
            if cursor <= b < cursor + timedelta(minutes=minutes):
                cursor = b + timedelta(minutes=minutes)
        if cursor + timedelta(minutes=minutes) <= close:
            return cursor
    return now


def handle_event(
    ops: Store,
    event: dict[str, Any],
    pb: LoadedPlaybook,
    model: Model | None = None,
    now: datetime | None = None,
) -> EventResult:
    """Decides on one event and stores the resulting task, if any."""
    now = now or clock_now()
    day = now.date()
    customer_id = str(event.get("customer_id") or "")
    with ops.session() as s:
        card = s.get(Customer, customer_id)
        if card is None:
            raise KequnError(f"unknown customer {customer_id!r}")
        facts = dict(card.facts or {})
        result = EventResult(customer_id)
        hits = triggered(facts, event, pb)
        result.triggers = sorted({h[0] for h in hits})
        if not hits:
            return result
        state = contact_state(s, card, now, pb)
        actions = {a.name: a for a in pb.playbook.actions}
        live: list[tuple[PairVerdict, Action, dict[str, Any] | None, float]] = []
        for trigger, name, urgency in hits:
            a = actions[name]
            pv = PairVerdict(trigger, name, "task")
            product = _product(a, facts)
            verdict: Verdict
            if card.owner_manager_id is None:
                verdict = Verdict(False, "applicable", "unowned")
            else:
                verdict = applicable(a, state)
                if verdict.ok and a.product != "none" and product is None:
                    verdict = Verdict(False, "applicable", "no_suitable_product")
                if verdict.ok:
                    forced = "visit" if product and product.get("dual_recording") else None
                    verdict = contact_policy(a, state, pb.playbook.contact, now, forced)
            if not verdict.ok:
                pv.stage, pv.reason = verdict.stage, verdict.reason
                result.pairs.append(pv)
                continue
            value = evaluate(pb.expression("actions", name), {**facts, **event}) or 0.0
            live.append((pv, a, product, float(value) * urgency))
        if not live:
            return result
        if model is None:  # the playbook's priors: no frame to build
            probs = np.array([a.prior for _, a, _, _ in live], dtype=float)
        else:
            frame = pd.DataFrame(
                [{**facts, "action": a.name, "kind": a.kind, "channel": None} for _, a, _, _ in live]
            )
            probs = propensity(frame, pb, model)
        for (pv, _, _, base), p in zip(live, probs, strict=True):
            pv.priority = max(base, 0.0) * float(p)
        live.sort(key=lambda x: (-x[0].priority, x[1].name))
        already = (
            s.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.customer_id == customer_id, Task.as_of == day, Task.status.in_(["open", "done"]))
            )
            or 0
        )
        room = pb.playbook.contact.tasks_per_customer_per_day - already
        staff = s.get(Staff, card.owner_manager_id)
        weights = pb.playbook.contact.channel_weight
        for i, (pv, a, product, _) in enumerate(live):
            result.pairs.append(pv)
            if i >= room:
                pv.stage, pv.reason = "arbitrated", "outranked"
                continue
            allowed = (
                ["visit"]
                if product and product.get("dual_recording")
                else [ch for ch in a.channels if ch in _allowed(a, state, pb)]
            )
            channel = None
            for ch in sorted(allowed, key=lambda c: -weights.get(c, 1.0)):
                if ch == "app":
                    channel = ch
                    break
                cap = getattr(staff, CAPACITY[ch], 0) if staff else 0
                used = (
                    s.scalar(
                        select(func.count())
                        .select_from(Task)
                        .where(
                            Task.manager_id == card.owner_manager_id,
                            Task.as_of == day,
                            Task.channel == ch,
                            Task.status.in_(["open", "done"]),
                        )
                    )
                    or 0
                )
                if used < cap:
                    channel = ch
                    break
            if channel is None:
                pv.stage, pv.reason = "within_capacity", "over_capacity"
                continue
            pv.channel = channel
            result.task = _store(
                s, card, staff, a, pv, product, facts, event, channel, now, pb, float(probs[i])
            )
        return result


def _allowed(action: Action, state: ContactState, pb: LoadedPlaybook) -> list[str]:
    from kequn.decide.policy import allowed_channels

    return allowed_channels(action, state, pb.playbook.contact)


def _store(
    s: Session,
    card: Customer,
    staff: Staff | None,
    a: Action,
    pv: PairVerdict,
    product: dict[str, Any] | None,
    facts: dict[str, Any],
    event: dict[str, Any],
    channel: str,
    now: datetime,
    pb: LoadedPlaybook,
    prob: float,
) -> Task:
    urgency = next(t.urgency for t in pb.playbook.triggers if t.name == pv.trigger)
    value = float(evaluate(pb.expression("actions", a.name), {**facts, **event}) or 0.0)
    # the same event twice makes one task
    return open_task(
        s,
        pb,
        card,
        a,
        trigger=pv.trigger,
        manager_id=card.owner_manager_id or "",
        manager_name=staff.name if staff else None,
        channel=channel,
        scheduled_at=_next_slot(s, card.owner_manager_id or "", channel, now, pb),
        product=product,
        facts=facts,
        score={"value": value, "propensity": prob, "urgency": urgency, "priority": pv.priority},
        explanation={
            "event": event,
            "rules_passed": RULES_PASSED,
            "score": {
                "value": round(value, 2),
                "propensity": round(prob, 4),
                "urgency": urgency,
                "priority": round(pv.priority, 4),
            },
            "features_used": sorted(pb.expression("triggers", pv.trigger).columns),
        },
        source="event",
        audit=("system:event", "decision_event", {"event": event.get("event_type")}),
        now=now,
    )
