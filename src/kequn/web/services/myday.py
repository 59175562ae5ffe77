"""My day: a manager's tasks for the day, in contact-window order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from kequn.store.models import Customer, Outcome, Task
from kequn.web.security import Viewer
from kequn.web.services.views import TIER_ZH, person, segments_of

OUTCOMES = (
    "reached",
    "not_reached",
    "interested",
    "declined",
    "sold",
    "maybe_later",
    "complaint",
    "do_not_contact",
)


@dataclass
class TaskView:
    task: Task
    customer: dict[str, Any]
    last_outcome: str | None


#: tasks a My day page shows at once; the rest load as the manager scrolls
PAGE = 40


def _mine(viewer: Viewer, day: date) -> list[ColumnElement[bool]]:
    return [Task.manager_id == viewer.manager_id, Task.as_of == day, Task.status.in_(["open", "done"])]


def day_counts(s: Session, viewer: Viewer, day: date) -> tuple[int, int]:
    """The day's tasks and how many are done."""
    if not viewer.manager_id:
        return 0, 0
    total, done = s.execute(
        select(func.count(), func.count(case((Task.status == "done", 1)))).where(*_mine(viewer, day))
    ).one()
    return int(total), int(done or 0)


def my_day(
    s: Session, viewer: Viewer, day: date, offset: int = 0, limit: int | None = None
) -> list[TaskView]:
    """The day's tasks in contact-window order (``limit`` of them from ``offset``)."""
    if not viewer.manager_id:
        return []
    rows = s.execute(
        select(Task, Customer)
        .join(Customer, Customer.customer_id == Task.customer_id)
        .where(*_mine(viewer, day))
        .order_by(Task.scheduled_at, Task.priority.desc(), Task.task_id)
        .offset(offset)
        .limit(limit)
    ).all()
    ids = [t.task_id for t, _ in rows]
    last: dict[str, str] = {}
    if ids:
        for task_id, outcome in s.execute(
            select(Outcome.task_id, Outcome.outcome).where(Outcome.task_id.in_(ids)).order_by(Outcome.at)
        ):
            if task_id is not None:
                last[task_id] = outcome
    out = []
    for task, card in rows:
        out.append(
            TaskView(
                task,
                {
                    **person(card),
                    "customer_id": card.customer_id,
                    "tier": card.tier,
                    "tier_zh": TIER_ZH.get(card.tier, card.tier),
                    "aum": card.aum,
                    "health_score": card.health_score,
                    "segments": segments_of(card)[:4],
                    "risk_level": card.risk_level,
                    "life_stage": card.life_stage,
                },
                last.get(task.task_id),
            )
        )
    return out
