"""Logging an outcome: once per click however often it arrives, never lost when
two people act on one task at once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kequn.core.faults import point
from kequn.playbook import LoadedPlaybook
from kequn.privacy.consent import withdraw_disallowed
from kequn.store.models import ContactPreference, Customer, Outcome, Task
from kequn.web.security import Viewer
from kequn.web.services.privacy import trail

FINAL = frozenset(
    {"reached", "interested", "declined", "sold", "maybe_later", "complaint", "do_not_contact", "ignored"}
)
ALLOWED = FINAL | {"not_reached", "survey"}


class OutcomeError(ValueError):
    pass


PRODUCT_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
#: a client's idempotency key; stored behind the user's id in a 64-character column
KEY_LENGTH = 48


@dataclass
class Logged:
    outcome: Outcome
    created: bool  # False: the same key was logged before (a double click)


def log_outcome(
    s: Session,
    viewer: Viewer,
    task_id: str,
    outcome: str,
    key: str,
    moment: datetime,
    product_id: str | None = None,
    amount: str | None = None,
    note: str | None = None,
    score: int | None = None,
    *,
    pb: LoadedPlaybook,
) -> Logged:
    """Records what happened; a customer who asked not to be contacted has their
    other open tasks withdrawn at once (``pb``: the playbook whose rules decide)."""
    if outcome not in ALLOWED:
        raise OutcomeError(f"unknown outcome {outcome!r}")
    if not key or len(key) > KEY_LENGTH:
        raise OutcomeError(f"an idempotency key (at most {KEY_LENGTH} characters) is required")
    if product_id and not PRODUCT_CODE.fullmatch(product_id):
        raise OutcomeError(f"{product_id[:40]!r} is not a product code")
    if note and "\x00" in note:
        raise OutcomeError("the note has a NUL character")
    task = s.get(Task, task_id)
    if task is None or task.manager_id != viewer.manager_id:
        raise LookupError(task_id)  # another manager's task is not found, never shown
    if task.status == "withdrawn":
        raise OutcomeError(
            "this task was withdrawn: the customer's consent or preference no longer allows it"
        )
    money = None
    if outcome == "sold":
        try:
            money = Decimal((amount or "").strip()).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise OutcomeError("a sale needs an amount") from None
        if not money.is_finite():  # NaN and Infinity parse, and compare with nothing
            raise OutcomeError("a sale needs an amount")
        if money <= 0 or money >= Decimal("1e13"):
            raise OutcomeError("a sale's amount must be positive")
        if not product_id:
            product_id = task.product_id
    if outcome == "survey" and (score is None or not 0 <= score <= 10):
        raise OutcomeError("a survey answer is a score from 0 to 10")
    # keys are the client's: scoped to the user, so two people's keys never collide
    scoped = f"{viewer.user_id}:{key}"
    values = {
        "idempotency_key": scoped,
        "task_id": task_id,
        "customer_id": task.customer_id,
        "manager_id": viewer.manager_id,
        "action": task.action,
        "kind": task.kind,
        "channel": task.channel,
        "outcome": outcome,
        "product_id": product_id if outcome == "sold" else None,
        "amount": money,
        "note": (note or None) and note[:500],
        "score": score,
        "at": moment,
    }
    dialect = s.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(Outcome).values(**values)
    inserted = s.execute(
        stmt.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(Outcome.outcome_id)
    ).first()
    created = inserted is not None
    row = s.scalar(select(Outcome).where(Outcome.idempotency_key == scoped))
    assert row is not None
    if created:
        trail(
            s,
            viewer,
            "outcome",
            task.customer_id,
            {"task": task_id, "outcome": outcome, "product": values["product_id"], "amount": money},
        )
        if outcome in FINAL:
            # a plain UPDATE, not the ORM's versioned one: two people closing the
            # same task both succeed, and both outcomes stay
            s.execute(
                update(Task)
                .where(Task.task_id == task_id)
                .values(status="done", version=Task.version + 1, updated_at=moment)
            )
        if outcome == "do_not_contact":
            prefs = s.get(ContactPreference, task.customer_id)
            if prefs is None:
                s.add(
                    ContactPreference(
                        customer_id=task.customer_id,
                        do_not_contact=True,
                        updated_at=moment,
                        source=f"outcome:{viewer.login}",
                    )
                )
            else:
                prefs.do_not_contact = True
                prefs.updated_at = moment
            s.flush()
            card = s.get(Customer, task.customer_id)
            if card is not None:
                withdraw_disallowed(s, pb, card, moment)
        s.flush()
        point("web.outcome")  # written, not yet committed
    return Logged(row, created)
