"""The branch floor in the workbench: check-ins and referrals by floor staff,
and a manager's own micro-salons and visits."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from kequn.campaign import floor
from kequn.core.errors import KequnError
from kequn.store.campaign_models import CheckIn
from kequn.store.models import Branch, Staff
from kequn.web.deps import DB, TEXT, CustomerId, Day, ViewerDep
from kequn.web.render import page
from kequn.web.security import FLOOR_STAFF, Viewer, check_csrf, require
from kequn.web.services.campaigns import moment_of
from kequn.web.services.directory import identify
from kequn.web.services.scope import all_within_reach

router = APIRouter(include_in_schema=False)


# the branch floor ----------------------------------------------------------------------


@router.get("/floor", response_class=HTMLResponse)
def floor_page(request: Request, s: DB, v: ViewerDep, day: Day) -> Response:
    me = require(v, *FLOOR_STAFF)
    unit = s.get(Branch, me.branch_id) if me.branch_id else None
    figures = floor.floor_figures(s, [me.branch_id] if me.branch_id else [], day, day)
    return page(request, "floor.html", title="厅堂", viewer=me, unit=unit, figures=figures, view=None)


@router.post("/floor/check-in", response_class=HTMLResponse)
def floor_check_in(
    request: Request,
    s: DB,
    v: ViewerDep,
    day: Day,
    customer_id: Annotated[CustomerId, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me = require(v, *FLOOR_STAFF)
    check_csrf(request, me, csrf_token)
    if not me.branch_id:
        raise HTTPException(status_code=403, detail="floor staff belong to a branch")
    # the customer is named by number, mobile or ID card, as they come to the counter
    named = identify(s, me, customer_id)
    if len(named) > 1:
        raise HTTPException(
            status_code=409, detail="several customers share this number: enter the customer number"
        )
    if not named or not all_within_reach(s, me, named):
        raise HTTPException(status_code=404, detail="customer not found")
    customer_id = named[0]
    try:
        view = floor.check_in(
            request.app.state.store,
            request.app.state.cards,
            request.app.state.playbook,
            customer_id,
            me.branch_id,
            me.login,
            me.role,
            moment_of(day),
        )
    except KequnError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    with request.app.state.store.session() as fresh:  # sees the check-in just written
        figures = floor.floor_figures(fresh, [me.branch_id], day, day)
    unit = s.get(Branch, me.branch_id)
    return page(request, "floor.html", title="厅堂", viewer=me, unit=unit, figures=figures, view=view)


@router.post("/floor/refer", response_class=HTMLResponse)
def floor_refer(
    request: Request,
    s: DB,
    v: ViewerDep,
    day: Day,
    checkin_id: Annotated[int, Form(ge=1)],
    manager_id: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me = require(v, *FLOOR_STAFF)
    check_csrf(request, me, csrf_token)
    checked = s.get(CheckIn, checkin_id)
    if checked is None or checked.branch_id != me.branch_id:  # another branch's lobby is not ours
        raise HTTPException(status_code=404, detail="no such check-in")
    try:
        referral, made = floor.refer(
            request.app.state.store,
            request.app.state.cards,
            request.app.state.playbook,
            checkin_id,
            manager_id,
            me.login,
            me.role,
            moment_of(day),
            note,
        )
    except KequnError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    with request.app.state.store.session() as fresh:  # sees the referral just written
        figures = floor.floor_figures(fresh, [me.branch_id] if me.branch_id else [], day, day)
    unit = s.get(Branch, me.branch_id) if me.branch_id else None
    who = s.get(Staff, manager_id)
    return page(
        request,
        "floor.html",
        title="厅堂",
        viewer=me,
        unit=unit,
        figures=figures,
        view=None,
        referred=(referral, who, made),
    )


# a manager's own floor work: micro-salons and outbound visits ---------------------------


def _rm(v: Viewer | None) -> tuple[Viewer, str]:
    me = require(v)
    if not me.is_manager or not me.manager_id:
        raise HTTPException(status_code=403, detail="for relationship managers")
    return me, me.manager_id


def _customer_ids(text: str) -> list[str]:
    """Customer numbers as typed: separated by spaces, commas (either width) or 、."""
    return [x.upper() for x in re.split(r"[\s,，、;；]+", text) if x]


def _activities(request: Request, me: Viewer, day: date, done: str | None) -> Response:
    return page(request, "activities.html", title="厅堂活动", viewer=me, day=day, done=done)


@router.get("/activities", response_class=HTMLResponse)
def activities_page(request: Request, v: ViewerDep, day: Day) -> Response:
    me, _ = _rm(v)
    return _activities(request, me, day, None)


@router.post("/activities/salon", response_class=HTMLResponse)
def activities_salon(
    request: Request,
    v: ViewerDep,
    day: Day,
    topic: Annotated[str, Form(max_length=100)],
    listeners: Annotated[int, Form(ge=0, le=500)],
    leads: Annotated[str, Form(max_length=2000)] = "",
    sales: Annotated[int, Form(ge=0, le=500)] = 0,
    sales_amount: Annotated[Decimal, Form(ge=0, max_digits=14, decimal_places=2)] = Decimal(0),
    product_id: Annotated[str, Form(max_length=32)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me, manager_id = _rm(v)
    check_csrf(request, me, csrf_token)
    try:
        salon, made = floor.log_salon(
            request.app.state.store,
            request.app.state.cards,
            request.app.state.playbook,
            manager_id,
            topic,
            listeners,
            _customer_ids(leads),
            sales,
            sales_amount,
            moment_of(day),
            product_id or None,
        )
    except KequnError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    tasks = sum(1 for m in made if m.task is not None)
    return _activities(request, me, day, f"salon:{salon.salon_id}:{tasks}/{len(made)}")


@router.post("/activities/visit", response_class=HTMLResponse)
def activities_visit(
    request: Request,
    s: DB,
    v: ViewerDep,
    day: Day,
    target_kind: Annotated[str, Form(max_length=12)],
    target_name: Annotated[str, Form(max_length=100, pattern=TEXT)],
    customers: Annotated[str, Form(max_length=4000)] = "",
    leads: Annotated[int, Form(ge=0, le=10000)] = 0,
    new_customers: Annotated[int, Form(ge=0, le=10000)] = 0,
    note: Annotated[str, Form(max_length=300)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me, manager_id = _rm(v)
    check_csrf(request, me, csrf_token)
    if not all_within_reach(s, me, _customer_ids(customers)):
        raise HTTPException(status_code=404, detail="customer not found")
    try:
        visit = floor.log_visit(
            request.app.state.store,
            manager_id,
            target_kind,
            target_name,
            _customer_ids(customers),
            leads,
            new_customers,
            moment_of(day),
            note or None,
            target_kind == "merchant",
        )
    except KequnError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return _activities(request, me, day, f"visit:{visit.visit_id}")
