"""Tasks decided outside the nightly batch (an event, a batch of events, a
referral, a salon lead), stored as they are decided: each with its talk track
rendered and its audit entry, in the caller's transaction. The nightly batch
stores its own in bulk (``kequn.decide.tasks``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kequn.decide.talk import render, values
from kequn.playbook import LoadedPlaybook
from kequn.playbook.model import Action
from kequn.privacy.audit import Event, record
from kequn.store.models import Customer, Task


@dataclass(frozen=True)
class NewTask:
    """A task decided and not yet stored, with the audit entry that goes with it."""

    task: Task
    audit: Event


def new_task(
    pb: LoadedPlaybook,
    card: Customer,
    action: Action,
    *,
    trigger: str,
    manager_id: str,
    manager_name: str | None,
    channel: str,
    scheduled_at: datetime,
    product: dict[str, Any] | None,
    facts: dict[str, Any],
    score: dict[str, float],
    explanation: dict[str, Any],
    source: str,
    audit: tuple[str, str, dict[str, Any]],
    now: datetime,
    suffix: str = "",
) -> NewTask:
    """The task for the customer, action and day (and ``suffix``): its id names
    them, so that the same decision twice stores one task."""
    task_id = f"{now.date().isoformat()}:{card.customer_id}:{action.name}{suffix}"
    vals = values(facts, card.name, card.gender, manager_name, product, pb)
    product_id = product.get("product_id") if product else None
    task = Task(
        task_id=task_id,
        run_id=None,
        as_of=now.date(),
        customer_id=card.customer_id,
        manager_id=manager_id,
        action=action.name,
        trigger=trigger,
        kind=action.kind,
        channel=channel,
        scheduled_at=scheduled_at,
        contact_window="now",
        priority=score["priority"],
        value=score["value"],
        propensity=score["propensity"],
        urgency=score["urgency"],
        product_id=product_id,
        talk_track=render(action.talk_track, vals),
        visit_material=render(action.visit_material, vals) if action.visit_material else None,
        # JSON-safe: an event may carry dates and amounts
        explanation=json.loads(
            json.dumps(
                {
                    "trigger": trigger,
                    "action": action.name,
                    "kind": action.kind,
                    "product": product_id,
                    **explanation,
                },
                default=str,
            )
        ),
        status="open",
        source=source,
        version=1,
        created_at=now,
        updated_at=now,
    )
    actor, what, detail = audit
    entry = Event(
        actor,
        "system",
        what,
        card.customer_id,
        {"task": task_id, "trigger": trigger, "action": action.name, **detail},
        now,
    )
    return NewTask(task, entry)


def open_tasks(s: Session, decided: Sequence[NewTask]) -> list[Task]:
    """Stores the tasks not stored yet, with their audit entries (one append to
    the trail for them all); returns each one as stored, in order (a task
    already there, made by the same decision before, as it was)."""
    ids = sorted({n.task.task_id for n in decided})
    stored = {t.task_id: t for t in s.scalars(select(Task).where(Task.task_id.in_(ids)))} if ids else {}
    fresh = []
    for n in decided:
        if n.task.task_id not in stored:
            stored[n.task.task_id] = n.task
            fresh.append(n)
    s.add_all([n.task for n in fresh])
    record(s, [n.audit for n in fresh])
    return [stored[n.task.task_id] for n in decided]
