"""The funnel for one customer, in process: their card (the slim row and the
facts the run holds, ``kequn.store.cards``) and their rows of the operational
store as the funnel's inputs (``funnel.INPUTS``), and the same Ibis
expressions as the nightly batch evaluated by the row engine
(``kequn.rules.rows``). Real-time events, floor referrals, salon leads and the
explanation of a task all decide here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
from sqlalchemy import Boolean, CompoundSelect, String, bindparam, cast, literal, null, select, union_all
from sqlalchemy.orm import Session

from kequn.decide.funnel import EVENT_COLUMNS, INPUTS, action_rows, fact_schema, proposals_for, verdicts
from kequn.playbook import LoadedPlaybook
from kequn.rules import consent as consent_rules
from kequn.rules import contact as contact_rules
from kequn.rules.rows import execute
from kequn.store.keyed import among, built
from kequn.store.models import Consent, ContactPreference, Customer, Outcome, Staff, Task

Row = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """The funnel's expressions over unbound input tables, built once per playbook."""

    proposals: ir.Table
    verdicts: ir.Table


_PLANS: dict[str, Plan] = {}


def plan(pb: LoadedPlaybook) -> Plan:
    found = _PLANS.get(pb.digest)
    if found is None:
        tables = {name: ibis.table(schema, name=name) for name, schema in INPUTS.items()}
        found = Plan(proposals_for(tables["k_facts"], pb), verdicts(tables, pb))
        _PLANS[pb.digest] = found
    return found


def _typed(value: Any, kind: Any) -> Any:
    if value is None:
        return None
    if kind.is_date():
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if kind.is_timestamp():
        return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if kind.is_integer():
        return int(value)
    if kind.is_floating():
        return float(value)
    if kind.is_boolean():
        return bool(value)
    if kind.is_array():
        return list(value)
    return value


def facts_row(
    card: Customer,
    facts: Mapping[str, Any],
    manager_id: str | None,
    manager_active: bool,
    event: Mapping[str, Any],
) -> Row:
    """The customer's facts as ``k_facts`` holds them, with the event's fields."""
    row: Row = {}
    for name, kind in fact_schema().items():
        if name == "customer_id":
            row[name] = card.customer_id
        elif name == "at_bank":
            row[name] = card.left_on is None
        elif name == "manager_id":
            row[name] = manager_id
        elif name == "manager_active":
            row[name] = manager_active
        elif name in EVENT_COLUMNS:
            row[name] = _typed(event.get(name), kind)
        else:
            row[name] = _typed(facts.get(name), kind)
    return row


def offers_rows(customer_id: str, facts: Mapping[str, Any]) -> list[Row]:
    keep = INPUTS["k_offers"].items()
    return [
        {name: _typed(customer_id if name == "customer_id" else r.get(name), kind) for name, kind in keep}
        for r in facts.get("recs") or []
    ]


@dataclass(frozen=True)
class Subject:
    """A customer to decide on: their slim card, the run's facts, the event's
    fields and the manager (``None``: the card's owner)."""

    card: Customer
    facts: Mapping[str, Any]
    event: Mapping[str, Any] = field(default_factory=dict)
    manager_id: str | None = None


def state_rows(
    s: Session, cards: Sequence[Customer], now: datetime, pb: LoadedPlaybook
) -> dict[str, list[Row]]:
    """The customers' consents (the bank's on the card, Kequn's since),
    preferences, history and open tasks, as rows: one query each for them all."""
    ids = [c.customer_id for c in cards]
    since = now - contact_rules.horizon(pb.playbook.contact)
    events = [e for c in cards for e in consent_rules.card_events(c.customer_id, c.consent)]
    history: list[Row] = []
    open_tasks: set[tuple[str, str]] = set()
    prefs: list[Row] = []
    for kind, cid, a, b, c, yes, no, at in s.execute(
        _state_query(s), {"ids": ids, "since": since, "day": now.date()}
    ):
        if kind == "consent":
            events.append({"customer_id": cid, "purpose": a, "granted": yes, "ts": at})
        elif kind == "contact":
            history.append({"customer_id": cid, "action": a, "kind": b, "outcome": c, "at": at})
        elif kind == "open":
            open_tasks.add((cid, a))
        else:
            prefs.append({"customer_id": cid, "do_not_contact": bool(yes), "personalised_opt_out": bool(no)})
    return {
        "k_consent_events": events,
        "k_prefs": prefs,
        "k_history": history,
        "k_open": [{"customer_id": cid, "action": a} for cid, a in open_tasks],
    }


@built
def _state_query(dialect: str) -> CompoundSelect[Any]:
    """The customers' (``ids``) consents, contacts since ``since``, actions with
    a task open on ``day`` and preferences, as one query of rows of one shape
    (kind, customer, three texts, two flags, a time): an event's four reads were
    four round trips, a sixth of its time on a busy server."""
    text, flag = String(), Boolean()
    ids = "ids"

    def none(kind: Any) -> Any:
        return cast(null(), kind)

    return union_all(
        select(
            literal("consent", text).label("kind"),
            Consent.customer_id,
            Consent.purpose,
            none(text),
            none(text),
            Consent.granted,
            none(flag),
            Consent.ts,
        ).where(among(Consent.customer_id, ids, dialect)),
        select(
            literal("contact", text),
            Outcome.customer_id,
            Outcome.action,
            Outcome.kind,
            Outcome.outcome,
            none(flag),
            none(flag),
            Outcome.at,
        ).where(
            among(Outcome.customer_id, ids, dialect), Outcome.at >= bindparam("since", type_=Outcome.at.type)
        ),
        select(
            literal("open", text),
            Task.customer_id,
            Task.action,
            none(text),
            none(text),
            none(flag),
            none(flag),
            none(Task.scheduled_at.type),
        ).where(
            among(Task.customer_id, ids, dialect),
            Task.status == "open",
            Task.as_of <= bindparam("day", type_=Task.as_of.type),
        ),
        select(
            literal("prefs", text),
            ContactPreference.customer_id,
            none(text),
            none(text),
            none(text),
            ContactPreference.do_not_contact,
            ContactPreference.personalised_opt_out,
            none(Task.scheduled_at.type),
        ).where(among(ContactPreference.customer_id, ids, dialect)),
    )


def staff_of(s: Session, manager_ids: Iterable[str | None]) -> dict[str, Staff]:
    """The managers' rows, by id (one query for them all)."""
    wanted = sorted({m for m in manager_ids if m})
    return (
        {m.manager_id: m for m in s.scalars(select(Staff).where(Staff.manager_id.in_(wanted)))}
        if wanted
        else {}
    )


def decide_many(
    s: Session,
    pb: LoadedPlaybook,
    subjects: Sequence[Subject],
    now: datetime,
    proposals: Sequence[Row] | None = None,
    staff: Mapping[str, Staff] | None = None,
) -> list[Row]:
    """Every proposal for the customers with its verdict (``stage``/``rule`` NULL:
    alive after the rules): the triggers' own proposals on each customer's facts
    and event, or the ``proposals`` given (a referral, a salon lead); ``staff``:
    the managers' rows when the caller has read them. The
    customers are decided together, as the nightly batch decides its own, and
    must be distinct: a customer's second event is decided after the first."""
    if not subjects:
        return []
    ids = [x.card.customer_id for x in subjects]
    if len(set(ids)) != len(ids):
        raise ValueError("a customer is decided once in a call: their next event after this one")
    p = plan(pb)
    managers = {x.manager_id or x.card.owner_manager_id for x in subjects} - {None}
    if staff is None:
        staff = staff_of(s, managers)
    active = {m for m in managers if m is not None and m in staff and staff[m].active}
    rows = []
    for x in subjects:
        manager = x.manager_id or x.card.owner_manager_id
        rows.append(facts_row(x.card, x.facts, manager, manager in active, x.event))
    if proposals is None:
        proposals = execute(p.proposals, {"k_facts": rows})
    if not proposals:
        return []
    inputs: dict[str, list[Row]] = {
        "k_clock": [{"now": now, "day": now.date()}],
        "k_proposals": [dict(r) for r in proposals],
        "k_actions": action_rows(pb),
        "k_facts": rows,
        "k_offers": [r for x in subjects for r in offers_rows(x.card.customer_id, x.facts)],
        **state_rows(s, [x.card for x in subjects], now, pb),
    }
    return execute(p.verdicts, inputs)


def decide_one(
    s: Session,
    pb: LoadedPlaybook,
    card: Customer,
    facts: Mapping[str, Any],
    now: datetime,
    event: Mapping[str, Any] | None = None,
    proposals: Sequence[Row] | None = None,
    manager_id: str | None = None,
) -> list[Row]:
    """``decide_many`` for one customer, with ``manager_id`` as the manager when
    one was chosen by a person."""
    return decide_many(s, pb, [Subject(card, facts, event or {}, manager_id)], now, proposals)
