"""Data-subject requests (PIPL arts. 44-47): access and copy, correction, deletion.

Each request has a deadline from the playbook, is answered by a named person,
and leaves an entry on the audit trail. A deletion erases the customer's
personal fields everywhere Kequn keeps them (the operational store, every
snapshot, and snapshots ingested later), except the identity data anti-money-
laundering rules require the bank to keep, which moves to a flagged,
compliance-only record with its end date."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kequn.ingest.store import connect, erase_customers
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, record
from kequn.privacy.consent import consents_of
from kequn.store.cards import Cards
from kequn.store.models import (
    AmlRecord,
    AuditEntry,
    Consent,
    ContactPreference,
    Customer,
    CustomerHolding,
    Erasure,
    Outcome,
    OwnershipChange,
    SubjectRequest,
    Task,
    TimelineEntry,
)

KINDS = ("access", "correction", "deletion")
#: fields a correction may change in Kequn (the bank's core system is corrected by the bank)
CORRECTABLE = ("name", "phone")
ERASED_TALK = "(客户已要求删除个人信息)"


class RequestError(ValueError):
    pass


def open_request(
    s: Session,
    pb: LoadedPlaybook,
    customer_id: str,
    kind: str,
    actor: str,
    role: str,
    moment: datetime,
    payload: dict[str, Any] | None = None,
) -> SubjectRequest:
    if kind not in KINDS:
        raise RequestError(f"unknown request kind {kind!r}; kinds: {', '.join(KINDS)}")
    if s.get(Customer, customer_id) is None:
        raise RequestError(f"unknown customer {customer_id!r}")
    payload = payload or {}
    if kind == "correction" and (payload.get("field") not in CORRECTABLE or not payload.get("value")):
        raise RequestError(f"a correction names a field ({', '.join(CORRECTABLE)}) and its new value")
    req = SubjectRequest(
        customer_id=customer_id,
        kind=kind,
        received_at=moment,
        due_on=moment.date() + timedelta(days=pb.playbook.privacy.request_days),
        status="open",
        payload=payload,
        opened_by=actor,
    )
    s.add(req)
    s.flush()
    record(
        s,
        [
            Event(
                actor,
                role,
                "subject_request",
                customer_id,
                {"request": req.request_id, "kind": kind, "step": "opened", "due_on": req.due_on},
            )
        ],
    )
    return req


@dataclass(frozen=True)
class RequestView:
    request: SubjectRequest
    overdue: bool
    days_left: int


def requests(s: Session, today: date, status: str | None = "open") -> list[RequestView]:
    stmt = select(SubjectRequest).order_by(SubjectRequest.due_on, SubjectRequest.request_id)
    if status:
        stmt = stmt.where(SubjectRequest.status == status)
    return [
        RequestView(r, r.status == "open" and r.due_on < today, (r.due_on - today).days)
        for r in s.scalars(stmt)
    ]


def _row(obj: Any, columns: list[str]) -> dict[str, Any]:
    return {c: getattr(obj, c) for c in columns}


def copy_of(s: Session, customer_id: str, snapshot_store: Path | None = None) -> dict[str, Any]:
    """Everything Kequn holds on the customer, in clear (it is their own data),
    machine-readable."""
    card = s.get(Customer, customer_id)
    if card is None:
        raise RequestError(f"unknown customer {customer_id!r}")
    prefs = s.get(ContactPreference, customer_id)
    # what the run behind the cards knows of them: read from the analytical store
    cards = Cards(snapshot_store if snapshot_store is not None and Path(snapshot_store).exists() else None)
    try:
        facts = cards.facts(s, customer_id)
    finally:
        cards.close()
    out: dict[str, Any] = {
        "customer_id": customer_id,
        "personal": _row(card, ["name", "id_number", "phone", "gender", "birth_date", "occupation"]),
        "profile": {
            **_row(
                card, ["tier", "prev_tier", "aum", "health_score", "risk_level", "lifecycle", "life_stage"]
            ),
            "segments": card.segments,
            "facts": facts,
        },
        "consents_in_force": consents_of(s, card),
        "consent_history": [
            _row(c, ["purpose", "granted", "ts", "source", "recorded_by"])
            for c in s.scalars(select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.ts))
        ],
        "preferences": _row(prefs, ["do_not_contact", "personalised_opt_out", "updated_at"])
        if prefs
        else None,
        "holdings": [
            _row(
                h,
                [
                    "account_id",
                    "product_id",
                    "product_name",
                    "product_type",
                    "balance",
                    "currency",
                    "maturity_date",
                ],
            )
            for h in s.scalars(select(CustomerHolding).where(CustomerHolding.customer_id == customer_id))
        ],
        "timeline": [
            _row(t, ["at", "kind", "amount", "note"])
            for t in s.scalars(select(TimelineEntry).where(TimelineEntry.customer_id == customer_id))
        ],
        "tasks": [
            _row(
                t,
                [
                    "task_id",
                    "as_of",
                    "action",
                    "trigger",
                    "kind",
                    "channel",
                    "status",
                    "talk_track",
                    "explanation",
                ],
            )
            for t in s.scalars(select(Task).where(Task.customer_id == customer_id).order_by(Task.as_of))
        ],
        "contacts": [
            _row(o, ["at", "action", "channel", "outcome", "product_id", "amount", "note", "score"])
            for o in s.scalars(select(Outcome).where(Outcome.customer_id == customer_id).order_by(Outcome.at))
        ],
        "owners": [
            _row(o, ["at", "from_manager_id", "to_manager_id", "reason"])
            for o in s.scalars(select(OwnershipChange).where(OwnershipChange.customer_id == customer_id))
        ],
        "accesses": [
            _row(a, ["at", "actor", "role", "action"])
            for a in s.scalars(
                select(AuditEntry).where(AuditEntry.customer_id == customer_id).order_by(AuditEntry.seq)
            )
        ],
    }
    if snapshot_store is not None and Path(snapshot_store).exists():
        con = connect(snapshot_store, read_only=True)
        try:
            for table in ("customers", "holdings", "transactions", "consents"):
                cur = con.execute(f"SELECT * FROM main.{table} WHERE customer_id = ?", [customer_id])
                cols = [d[0] for d in cur.description or []]
                out[f"bank_extract_{table}"] = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()
    return out


def erase(
    s: Session,
    pb: LoadedPlaybook,
    customer_id: str,
    moment: datetime,
    reason: str,
    actor: str,
    role: str,
    request_id: int | None = None,
) -> None:
    """Erases the customer's personal fields in the operational store; identity data
    AML rules keep moves to a flagged record until its end date."""
    card = s.get(Customer, customer_id)
    if card is None:
        raise RequestError(f"unknown customer {customer_id!r}")
    if s.get(AmlRecord, customer_id) is None and (card.name or card.id_number):
        s.add(
            AmlRecord(
                customer_id=customer_id,
                name=card.name,
                id_number=card.id_number,
                kept_until=moment.date() + timedelta(days=pb.playbook.privacy.aml_days),
                reason="反洗钱: 客户身份资料保存期 (AML identity records)",
            )
        )
    card.name = card.id_number = card.phone = None
    card.birth_date = None
    s.execute(update(Task).where(Task.customer_id == customer_id).values(talk_track=ERASED_TALK))
    s.execute(update(Outcome).where(Outcome.customer_id == customer_id).values(note=None))
    s.execute(update(TimelineEntry).where(TimelineEntry.customer_id == customer_id).values(note=None))
    if s.get(Erasure, customer_id) is None:
        s.add(Erasure(customer_id=customer_id, erased_at=moment, reason=reason, request_id=request_id))
    s.flush()
    record(
        s,
        [
            Event(
                actor,
                role,
                "erasure",
                customer_id,
                {"reason": reason, "request": request_id, "aml_record_kept": True},
            )
        ],
    )


def fulfil(
    s: Session,
    pb: LoadedPlaybook,
    request_id: int,
    actor: str,
    role: str,
    moment: datetime,
    snapshot_store: Path | None = None,
    out_dir: Path | None = None,
) -> str:
    """Answers an open request; returns what was done."""
    req = s.get(SubjectRequest, request_id)
    if req is None:
        raise RequestError(f"no request {request_id}")
    if req.status != "open":
        raise RequestError(f"request {request_id} is {req.status}")
    if req.kind == "access":
        folder = out_dir or Path(".")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"subject_access_{req.customer_id}_{request_id}.json"
        data = copy_of(s, req.customer_id, snapshot_store)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        result = f"copy written to {path}"
    elif req.kind == "correction":
        card = s.get(Customer, req.customer_id)
        assert card is not None
        field, value = req.payload["field"], req.payload["value"]
        setattr(card, field, value)
        result = f"{field} corrected in Kequn; the bank's system of record must be corrected too"
    else:
        erase(s, pb, req.customer_id, moment, "deletion", actor, role, request_id)
        if snapshot_store is not None:
            erase_customers(snapshot_store, [req.customer_id], "deletion")
            result = "personal fields erased in the operational store and every snapshot; AML record kept"
        else:
            result = "personal fields erased in the operational store; AML record kept (no snapshot given)"
    req.status = "done"
    req.closed_at = moment
    req.closed_by = actor
    req.result = result
    record(
        s,
        [
            Event(
                actor,
                role,
                "subject_request",
                req.customer_id,
                {"request": request_id, "kind": req.kind, "step": "done", "result": result},
            )
        ],
    )
    return result
