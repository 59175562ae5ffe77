"""The consent registry and the rules every contact path keeps (PIPL: consent per
purpose; no marketing on a channel the customer has not agreed to; a real choice
to refuse personalised targeting).

The rules are pure functions of the customer's consents and preferences, shared
by the nightly decisions, real-time events, exports and the workbench. The
registry functions record a change with its source and who made it, put it on
the audit trail, and withdraw at once the open tasks the change no longer allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, record
from kequn.store.models import Consent, ContactPreference, Customer, Task


def opted_out(consents: Mapping[str, bool | None], personalised_opt_out: bool) -> bool:
    """The customer refused personalised targeting (either way of saying it)."""
    return personalised_opt_out or consents.get("personalised_recommendation") is False


def channel_allowed(
    kind: str, channel: str, consents: Mapping[str, bool | None], channel_consent: Mapping[str, str]
) -> bool:
    """Marketing needs the channel's consent granted; service and compliance may use
    any channel the customer has not refused."""
    purpose = channel_consent.get(channel)
    given = consents.get(purpose) if purpose else None
    return given is True if kind == "marketing" else given is not False


def refusal(
    kind: str,
    channel: str,
    personalised: bool,
    consents: Mapping[str, bool | None],
    do_not_contact: bool,
    personalised_opt_out: bool,
    channel_consent: Mapping[str, str],
) -> str | None:
    """Why a contact may not happen now, or None if it may."""
    if do_not_contact and kind != "compliance":
        return "do_not_contact"
    if opted_out(consents, personalised_opt_out) and (kind == "marketing" or personalised):
        return "personalised_opt_out"
    if not channel_allowed(kind, channel, consents, channel_consent):
        return f"no_consent:{channel_consent.get(channel, channel)}"
    return None


def latest(snapshot: Mapping[str, Any] | None, events: Iterable[Consent]) -> dict[str, bool]:
    """The consents in force: the bank's extract, overlaid by later changes
    recorded in Kequn (events in any order; the latest per purpose wins)."""
    state = {k: bool(v) for k, v in (snapshot or {}).items() if v is not None}
    for ev in sorted(events, key=lambda e: e.ts):
        state[ev.purpose] = ev.granted
    return state


def consents_of(s: Session, card: Customer) -> dict[str, bool]:
    events = s.scalars(select(Consent).where(Consent.customer_id == card.customer_id))
    return latest((card.facts or {}).get("consent"), events)


@dataclass(frozen=True)
class Change:
    purpose: str
    granted: bool
    withdrawn_tasks: tuple[str, ...]


def withdraw_disallowed(s: Session, pb: LoadedPlaybook, card: Customer, moment: datetime) -> list[str]:
    """Withdraws the customer's open tasks that their consents and preferences no
    longer allow; returns their ids."""
    consents = consents_of(s, card)
    prefs = s.get(ContactPreference, card.customer_id)
    personalised = {a.name for a in pb.playbook.actions if a.personalised}
    gone = []
    for task in s.scalars(select(Task).where(Task.customer_id == card.customer_id, Task.status == "open")):
        why = refusal(
            task.kind,
            task.channel,
            task.action in personalised,
            consents,
            bool(prefs and prefs.do_not_contact),
            bool(prefs and prefs.personalised_opt_out),
            pb.playbook.contact.channel_consent,
        )
        if why:
            gone.append(task.task_id)
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
