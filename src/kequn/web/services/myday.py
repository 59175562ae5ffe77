"""My day: a manager's tasks for the day, in contact-window order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Row, case, func, select
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
    #: the task's fields a card shows (``TASK_FIELDS``), by name
    task: Row[Any]
    customer: dict[str, Any]
    last_outcome: str | None


#: what a task card shows of the task and of its customer: not the whole rows
#: (the customer's consent and the pair's facts stay in the store)
TASK_FIELDS = (
    Task.task_id,
    Task.customer_id,
    Task.status,
    Task.scheduled_at,
    Task.channel,
    Task.kind,
    Task.campaign_id,
    Task.trigger,
    Task.action,
    Task.product_id,
    Task.priority,
    Task.propensity,
    Task.talk_track,
    Task.visit_material,
    # of the explanation, what the card shows (the whole of it is the 360's)
    Task.explanation["campaign_name"].as_string().label("campaign_name"),
    Task.explanation["propensity_reasons"].label("propensity_reasons"),
)
CARD_FIELDS = (
    Customer.name,
    Customer.id_number,
    Customer.phone,
    Customer.gender,
    Customer.tier,
    Customer.aum,
    Customer.health_score,
    Customer.segments,
    Customer.risk_level,
    Customer.life_stage,
)
#: contact-window order: the first call of the day first
ORDER = (Task.scheduled_at, Task.priority.desc(), Task.task_id)


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
    s: Session,
    viewer: Viewer,
    day: date,
    offset: int = 0,
    limit: int | None = None,
    task_id: str | None = None,
) -> list[TaskView]:
    """The day's tasks in contact-window order (``limit`` of them from ``offset``;
    only ``task_id`` when given)."""
    if not viewer.manager_id:
        return []
    # the page's tasks are chosen on the task rows alone; only they meet their cards
    chosen = select(Task.task_id).where(*_mine(viewer, day)).order_by(*ORDER).offset(offset).limit(limit)
    if task_id is not None:
        chosen = chosen.where(Task.task_id == task_id)
    page = chosen.subquery()
    rows = s.execute(
        select(*TASK_FIELDS, *CARD_FIELDS)
        .join(page, page.c.task_id == Task.task_id)
        .join(Customer, Customer.customer_id == Task.customer_id)
        .order_by(*ORDER)
    ).all()
    # what was logged is shown on a done task only
    done = [r.task_id for r in rows if r.status == "done"]
    last: dict[str, str] = {}
    if done:
        for done_id, outcome in s.execute(
            select(Outcome.task_id, Outcome.outcome).where(Outcome.task_id.in_(done)).order_by(Outcome.at)
        ):
            if done_id is not None:
                last[done_id] = outcome
    return [
        TaskView(
            row,
            {
                **person(row),
                "customer_id": row.customer_id,
                "tier": row.tier,
                "tier_zh": TIER_ZH.get(row.tier, row.tier),
                "aum": row.aum,
                "health_score": row.health_score,
                "segments": segments_of(row)[:4],
                "risk_level": row.risk_level,
                "life_stage": row.life_stage,
            },
            last.get(row.task_id),
        )
        for row in rows
    ]
