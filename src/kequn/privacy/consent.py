"""The consent registry: a change recorded with its source and who made it, put
on the audit trail, and the open tasks it no longer allows withdrawn at once.

What a consent allows is decided by ``kequn.rules.consent``, the same rules the
nightly decisions and real-time events keep; here they run on one customer's
rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, record
from kequn.rules import consent as rules
from kequn.rules.rows import execute
from kequn.store.models import Consent, ContactPreference, Customer, Task


def events_of(s: Session, card: Customer, recorded: Sequence[Consent] | None = None) -> list[dict[str, Any]]:
    """The customer's consent events: the bank's latest answer per purpose (kept
    on the card) and every change recorded in Kequn since (``recorded``: those
    changes, when the caller has read them already)."""
    events = rules.card_events(card.customer_id, card.consent)
    if recorded is None:
        recorded = list(s.scalars(select(Consent).where(Consent.customer_id == card.customer_id)))
    for ev in recorded:
        events.append(
            {"customer_id": card.customer_id, "purpose": ev.purpose, "granted": ev.granted, "ts": ev.ts}
        )
    return events


def consents_of(s: Session, card: Customer, recorded: Sequence[Consent] | None = None) -> dict[str, bool]:
    """The consents in force, purpose by purpose (a purpose never asked is absent)."""
    state = rules.state_of(card.customer_id, events_of(s, card, recorded))
    return {p: bool(v) for p, v in state.items() if v is not None}


_TASKS = ibis.table(
    {
        "task_id": "string",
        "kind": "string",
        "channel": "string",
        "personalised": "boolean",
        **{rules.column(p): "boolean" for p in rules.PURPOSES},
        "do_not_contact": "boolean",
        "personalised_opt_out": "boolean",
    },
    name="open_tasks",
)


def _withdrawn_expr(channel_consent: Mapping[str, str]) -> ibis.Table:
    t = _TASKS
    return t.select("task_id", why=rules.withdrawn(t, t.kind, t.channel, t.personalised, channel_consent))


_WITHDRAWN: dict[tuple[tuple[str, str], ...], ibis.Table] = {}


@dataclass(frozen=True)
class Change:
    purpose: str
    granted: bool
    withdrawn_tasks: tuple[str, ...]


def refusals(
    s: Session, pb: LoadedPlaybook, card: Customer, contacts: list[tuple[str, str, str, bool, str]]
) -> dict[str, str]:
    """Which of the customer's ``contacts`` (id, kind, channel, personalised,
    source) their consents and preferences no longer allow, and why
    (``rules.consent.withdrawn``)."""
    state = rules.state_of(card.customer_id, events_of(s, card))
    prefs = s.get(ContactPreference, card.customer_id)
    dnc = bool(prefs and prefs.do_not_contact)
    rows = [
        {
            "task_id": key,
            "kind": kind,
            "channel": channel,
            "personalised": personalised,
            **{rules.column(p): v for p, v in state.items()},
            "do_not_contact": dnc,
            "personalised_opt_out": bool(prefs and prefs.personalised_opt_out),
        }
        for key, kind, channel, personalised, source in contacts
        # the customer in the branch asked for the meeting: only do-not-contact stops a referral
        if source != "referral" or dnc
    ]
    if not rows:
        return {}
    key = tuple(sorted(pb.playbook.contact.channel_consent.items()))
    expr = _WITHDRAWN.get(key)
    if expr is None:
        expr = _WITHDRAWN[key] = _withdrawn_expr(pb.playbook.contact.channel_consent)
    return {r["task_id"]: r["why"] for r in execute(expr, {"open_tasks": rows}) if r["why"] is not None}


def withdraw_disallowed(s: Session, pb: LoadedPlaybook, card: Customer, moment: datetime) -> list[str]:
    """Withdraws the customer's open tasks that their consents and preferences no
    longer allow; returns their ids."""
    personalised = {a.name for a in pb.playbook.actions if a.personalised}
    tasks = s.scalars(select(Task).where(Task.customer_id == card.customer_id, Task.status == "open")).all()
    why = refusals(
        s, pb, card, [(t.task_id, t.kind, t.channel, t.action in personalised, t.source) for t in tasks]
    )
    gone = sorted(why)
    if gone:
        s.execute(
            update(Task)
            .where(Task.task_id.in_(gone))
            .values(status="withdrawn", version=Task.version + 1, updated_at=moment)
        )
    return gone


def change_consent(
    s: Session,
    pb: LoadedPlaybook,
    card: Customer,
    purpose: str,
    granted: bool,
    source: str,
    actor: str,
    role: str,
    moment: datetime,
) -> Change:
    """Records a grant or withdrawal; open tasks it no longer allows are withdrawn now."""
    known = set(pb.playbook.contact.channel_consent.values()) | {
        "personalised_recommendation",
        "third_party_sharing",
        "sensitive_processing",
    }
    if purpose not in known:
        raise ValueError(f"unknown consent purpose {purpose!r}")
    s.add(
        Consent(
            customer_id=card.customer_id,
            purpose=purpose,
            granted=granted,
            ts=moment,
            source=source,
            recorded_by=actor,
        )
    )
    s.flush()
    gone = withdraw_disallowed(s, pb, card, moment)
    record(
        s,
        [
            Event(
                actor,
                role,
                "consent_change",
                card.customer_id,
                {"purpose": purpose, "granted": granted, "source": source, "withdrawn_tasks": gone},
                moment,
            )
        ],
    )
    return Change(purpose, granted, tuple(gone))


def refuse_personalisation(
    s: Session, pb: LoadedPlaybook, card: Customer, source: str, actor: str, role: str, moment: datetime
) -> Change:
    """The customer refuses personalised targeting: from now on only non-personalised
    service and compliance actions reach them."""
    prefs = s.get(ContactPreference, card.customer_id)
    if prefs is None:
        prefs = ContactPreference(customer_id=card.customer_id, updated_at=moment)
        s.add(prefs)
    prefs.personalised_opt_out = True
    prefs.updated_at = moment
    prefs.source = f"{source}:{actor}"
    s.flush()
    change = change_consent(s, pb, card, "personalised_recommendation", False, source, actor, role, moment)
    record(s, [Event(actor, role, "opt_out", card.customer_id, {"source": source}, moment)])
    return change
