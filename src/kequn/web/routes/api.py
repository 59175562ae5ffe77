"""The same data as JSON, with its OpenAPI document at /openapi.json."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.decide.propensity import active_model_in
from kequn.decide.realtime import MAX_BATCH, decide_events
from kequn.web.deps import (
    CODE,
    DB,
    TEXT,
    CustomerId,
    Day,
    PeriodName,
    Playbook,
    TaskId,
    Unit,
    ViewerDep,
)
from kequn.web.security import Viewer, check_csrf, require
from kequn.web.services.customer import view_customer
from kequn.web.services.dashboard import dashboard
from kequn.web.services.myday import my_day
from kequn.web.services.outcomes import KEY_LENGTH, OutcomeError, log_outcome
from kequn.web.services.scope import all_within_reach

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/openapi.json", include_in_schema=False)
def api_document(request: Request, v: ViewerDep) -> JSONResponse:
    """The OpenAPI document of the API, for signed-in users."""
    require(v)
    return JSONResponse(request.app.openapi())


class Me(BaseModel):
    login: str
    display_name: str
    role: str
    manager_id: str | None
    branch_id: str | None


class TaskOut(BaseModel):
    task_id: str
    customer_id: str
    customer_name: str | None = Field(description="masked")
    tier: str
    action: str
    trigger: str
    kind: str
    channel: str
    scheduled_at: datetime | None
    priority: float
    talk_track: str
    status: str
    product_id: str | None


class OutcomeIn(BaseModel):
    outcome: Literal[
        "reached",
        "not_reached",
        "interested",
        "declined",
        "sold",
        "maybe_later",
        "complaint",
        "do_not_contact",
        "survey",
    ]
    key: str = Field(
        min_length=1,
        max_length=KEY_LENGTH,
        description="idempotency key: resending the same key records the outcome once",
    )
    product_id: str | None = Field(default=None, pattern=CODE)
    amount: Decimal | None = Field(default=None, gt=0, lt=Decimal("1e13"))
    note: str | None = Field(default=None, max_length=500, pattern=TEXT)
    score: int | None = Field(default=None, ge=0, le=10)


class OutcomeOut(BaseModel):
    outcome_id: int
    created: bool


class EventIn(BaseModel):
    customer_id: str = Field(pattern=CODE)
    event_type: str = Field(pattern=CODE)
    event_product_id: str | None = Field(default=None, pattern=CODE)
    event_views_7d: int | None = Field(default=None, ge=0, le=10_000)
    event_amount: float | None = Field(default=None, ge=-1e13, le=1e13)


class EventOut(BaseModel):
    triggers: list[str]
    task_id: str | None
    pairs: list[dict[str, Any]]


class EventsIn(BaseModel):
    """A batch of events, as a bank's event stream delivers them."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventsOut(BaseModel):
    #: each event's decision, in the order the events came
    results: list[EventOut]


@router.get("/me", response_model=Me)
def me(v: ViewerDep) -> Me:
    u = require(v)
    return Me(
        login=u.login,
        display_name=u.display_name,
        role=u.role,
        manager_id=u.manager_id,
        branch_id=u.branch_id,
    )


@router.get("/my-day", response_model=list[TaskOut])
def api_my_day(s: DB, v: ViewerDep, day: Day) -> list[TaskOut]:
    u = require(v)
    return [
        TaskOut(
            task_id=t.task.task_id,
            customer_id=t.task.customer_id,
            customer_name=t.customer["name"],
            tier=t.customer["tier"],
            action=t.task.action,
            trigger=t.task.trigger,
            kind=t.task.kind,
            channel=t.task.channel,
            scheduled_at=t.task.scheduled_at,
            priority=t.task.priority,
            talk_track=t.task.talk_track,
            status=t.task.status,
            product_id=t.task.product_id,
        )
        for t in my_day(s, u, day)
    ]


@router.get("/customers/{customer_id}")
def api_customer(request: Request, customer_id: CustomerId, s: DB, v: ViewerDep) -> dict[str, Any]:
    u = require(v)
    c = view_customer(s, request.app.state.cards, request.app.state.playbook, u, customer_id)
    if c is None:
        raise HTTPException(status_code=404, detail="customer not found")
    keep = (
        "tier",
        "prev_tier",
        "tier_move",
        "aum",
        "aum_month_end",
        "health_score",
        "life_stage",
        "lifecycle",
        "risk_level",
        "risk_valid",
        "green_points",
        "carbon_grams",
        "value_return",
    )
    return {
        "customer_id": c.card.customer_id,
        **c.person,
        "segments": c.segments,
        "profile": {k: c.facts.get(k) for k in keep},
        "health": c.health,
        "allocation": c.allocation,
        "recommendations": c.recommendations,
        "holdings": c.holdings,
        "timeline": c.timeline[:30],
        "contacts": c.contacts,
        "carbon": c.carbon,
        "consents": c.consents,
        "personalised_opt_out": c.opted_out,
        "explanations": c.explanations,
    }


@router.post("/tasks/{task_id}/outcome", response_model=OutcomeOut)
def api_outcome(request: Request, task_id: TaskId, body: OutcomeIn, s: DB, v: ViewerDep) -> OutcomeOut:
    u = require(v)
    check_csrf(request, u, None)
    if u.read_only:
        raise HTTPException(status_code=403, detail="read-only role")
    try:
        logged = log_outcome(
            s,
            u,
            task_id,
            body.outcome,
            body.key,
            now(),
            body.product_id,
            None if body.amount is None else str(body.amount),
            body.note,
            body.score,
            pb=request.app.state.playbook,
        )
    except LookupError:
        raise HTTPException(status_code=404, detail="no such task") from None
    except OutcomeError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return OutcomeOut(outcome_id=logged.outcome.outcome_id, created=logged.created)


@router.get("/dashboard")
def api_dashboard(
    s: DB, v: ViewerDep, pb: Playbook, day: Day, unit: Unit = None, period: PeriodName = "month"
) -> dict[str, Any]:
    u = require(v, "branch_head", "hq", "compliance")
    try:
        b = dashboard(s, u, unit, day, period, health_targets=pb.playbook.health.quarter_targets)
    except LookupError:
        raise HTTPException(status_code=404, detail="unit not found") from None
    return {
        "unit": b.unit.branch_id if b.unit else None,
        "day": b.day.isoformat(),
        "period": {"name": period, "start": b.period.start.isoformat(), "end": b.period.end.isoformat()}
        if b.period
        else None,
        "figures": b.figures,
        "reach": b.reach,
        "conversion": b.conversion,
        "nps": b.nps,
        "fee_income": b.fee_income,
        "diagnoses_done": b.diagnoses_done,
        "takeup": b.takeup,
        "sales_by_type": b.sales_by_type,
        "managers": [
            {
                "manager_id": m.manager_id,
                "name": m.name,
                "owned": m.owned,
                "contacted": m.contacted,
                "contacts": m.contacts,
                "sales": m.sales,
                "sold_amount": m.sold_amount,
                "reach": m.reach,
                "conversion": m.conversion,
                "tasks": m.tasks,
                "on_time": m.on_time,
            }
            for m in b.managers
        ],
        "league": b.league,
    }


#: who may send events: the roles that serve customers
EVENT_ROLES = (
    "hq",
    "lobby_manager",
    "teller",
    "branch_head",
    "private_banker",
    "wealth_manager",
    "remote_manager",
    "service_manager",
)


@router.post("/events", response_model=EventOut)
def api_event(request: Request, body: EventIn, s: DB, v: ViewerDep) -> EventOut:
    """A real-time event: the same rules as the nightly batch; a task at once."""
    return _decide_events(request, [body], s, v)[0]


@router.post("/events/batch", response_model=EventsOut)
def api_events(request: Request, body: EventsIn, s: DB, v: ViewerDep) -> EventsOut:
    """A batch of events decided together, in one transaction: all stored or,
    if one fails (a customer outside the sender's reach, say), none."""
    return EventsOut(results=_decide_events(request, body.events, s, v))


def _decide_events(request: Request, events: list[EventIn], s: Session, v: Viewer | None) -> list[EventOut]:
    u = require(v, *EVENT_ROLES)
    check_csrf(request, u, None)
    if not all_within_reach(s, u, [e.customer_id for e in events]):
        raise HTTPException(status_code=404, detail="customer not found")
    app = request.app
    try:
        # in the request's transaction: the batch's tasks stored when it succeeds
        results = decide_events(
            s,
            app.state.cards,
            [e.model_dump() for e in events],
            app.state.playbook,
            active_model_in(s),
            now(),
        )
    except KequnError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return [
        EventOut(
            triggers=result.triggers,
            task_id=result.task.task_id if result.task else None,
            pairs=[
                {"trigger": p.trigger, "action": p.action, "stage": p.stage, "reason": p.reason}
                for p in result.pairs
            ],
        )
        for result in results
    ]
