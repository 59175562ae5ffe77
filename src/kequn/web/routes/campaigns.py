"""Customer groups, campaigns and the branch floor, in the workbench."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kequn.campaign import floor
from kequn.campaign.campaigns import MEASURES, CampaignSpec, campaign_actions, launch, pause, resume
from kequn.campaign.groups import groups_in_reach, preview, save_group, unit_branches
from kequn.campaign.results import results, to_excel
from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.learn.persuasion import active_uplift
from kequn.pipeline.groups import GROUP_COLUMNS
from kequn.store.campaign_models import Campaign, CheckIn, CustomerGroup
from kequn.store.models import Branch, Staff
from kequn.web.deps import DB, TEXT, CustomerId, Day, viewer
from kequn.web.render import page
from kequn.web.security import Viewer, check_csrf, require
from kequn.web.services.campaigns import campaigns_in_reach, group_unit, moment_of
from kequn.web.services.directory import identify
from kequn.web.services.group_builder import OP_NAMES, Builder, choices_for, fields_by_section, read_builder
from kequn.web.services.scope import all_within_reach

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["groups"])
ViewerDep = Annotated[Viewer | None, Depends(viewer)]
PLANNERS = ("branch_head", "hq")
FLOOR = ("lobby_manager", "teller")
CHANNEL_CHOICES = ("phone", "wechat", "visit", "sms", "app")


def _analytics(request: Request) -> Path:
    path = request.app.state.settings.analytics
    if not path:
        raise HTTPException(status_code=503, detail="no analytical store configured (KEQUN_ANALYTICS)")
    return Path(path)


def _reach(s: Session, me: Viewer) -> list[str] | None:
    return None if me.sees_all else unit_branches(s, me.branch_id)


# customer groups -----------------------------------------------------------------------


@router.get("/groups", response_class=HTMLResponse)
def groups_page(request: Request, s: DB, v: ViewerDep, expression: str = "") -> Response:
    me = require(v, *PLANNERS)
    saved = groups_in_reach(s, None if me.sees_all else me.branch_path)
    shown = preview(_analytics(request), expression, _reach(s, me), saved) if expression else None
    return page(
        request,
        "groups.html",
        title="客群",
        viewer=me,
        saved=saved,
        columns=GROUP_COLUMNS,
        expression=expression,
        preview=shown,
        **_builder_context(request, {}),
    )


def _builder_context(request: Request, posted: dict[str, list[str]]) -> dict[str, Any]:
    pb, analytics = request.app.state.playbook, _analytics(request)
    return {
        "builder": read_builder(posted, lambda field: choices_for(pb, analytics, field)),
        "fields": fields_by_section(),
        "op_names": OP_NAMES,
    }


@router.post("/groups/build", response_class=HTMLResponse)
async def group_build(request: Request, s: DB, v: ViewerDep) -> Response:
    """The builder redrawn for what was picked, with the condition it makes,
    counted and read back in words."""
    me = require(v, *PLANNERS)
    check_csrf(request, me, None)
    form = await request.form()
    posted = {key: [str(x)[:200] for x in form.getlist(key)] for key in list(form.keys())[:200]}
    return await run_in_threadpool(_built, request, s, me, posted)


def _built(request: Request, s: Session, me: Viewer, posted: dict[str, list[str]]) -> Response:
    context = _builder_context(request, posted)
    built = context["builder"]
    assert isinstance(built, Builder)
    shown = None
    if built.expression is not None:
        saved = groups_in_reach(s, None if me.sees_all else me.branch_path)
        try:
            shown = preview(_analytics(request), built.expression.text, _reach(s, me), saved)
        except KequnError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
    answer = page(request, "_group_built.html", viewer=me, preview=shown, **context)
    if not built.redraw:
        answer.headers["HX-Reswap"] = "none"  # only the out-of-band parts change
    return answer


@router.post("/groups/preview", response_class=HTMLResponse)
def group_preview(
    request: Request, s: DB, v: ViewerDep, expression: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    me = require(v, *PLANNERS)
    check_csrf(request, me, None)
    saved = groups_in_reach(s, None if me.sees_all else me.branch_path)
    try:
        shown = preview(_analytics(request), expression, _reach(s, me), saved) if expression.strip() else None
    except KequnError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    return page(request, "_group_preview.html", viewer=me, preview=shown)


@router.post("/groups")
def group_save(
    request: Request,
    s: DB,
    v: ViewerDep,
    name: Annotated[str, Form(max_length=60, pattern=TEXT)],
    expression: Annotated[str, Form(max_length=2000)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me = require(v, *PLANNERS)
    check_csrf(request, me, csrf_token)
    if me.read_only:
        raise HTTPException(status_code=403, detail="read only")
    saved = groups_in_reach(s, None if me.sees_all else me.branch_path)
    shown = preview(_analytics(request), expression, _reach(s, me), saved)
    if shown.error:
        raise HTTPException(status_code=422, detail=shown.error)
    try:
        save_group(s, name, expression, group_unit(me), me.login, now(), shown)
    except KequnError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return RedirectResponse("/groups", status_code=303)


class GroupCount(BaseModel):
    expression: str = Field(min_length=1, max_length=2000)


class GroupCounted(BaseModel):
    expression: str
    size: int | None
    aum: float | None
    tier_mix: dict[str, int]
    previous: int | None
    error: str | None
    seconds: float


@api.post("/groups/count")
def api_group_count(request: Request, body: GroupCount, s: DB, v: ViewerDep) -> GroupCounted:
    """Counts a customer-group condition on the latest run, within the caller's reach."""
    me = require(v, *PLANNERS)
    check_csrf(request, me, None)
    try:
        shown = preview(_analytics(request), body.expression, _reach(s, me))
    except KequnError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    st = shown.stats
    return GroupCounted(
        expression=body.expression,
        size=st.size if st else None,
        aum=st.aum if st else None,
        tier_mix=st.tier_mix if st else {},
        previous=shown.previous,
        error=shown.error,
        seconds=shown.seconds,
    )


# campaigns -----------------------------------------------------------------------------


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, s: DB, v: ViewerDep, day: Day) -> Response:
    me = require(v, *PLANNERS)
    pb = request.app.state.playbook
    return page(
        request,
        "campaigns.html",
        title="营销活动",
        viewer=me,
        day=day,
        campaigns=campaigns_in_reach(s, me),
        groups=groups_in_reach(s, None if me.sees_all else me.branch_path),
        actions=campaign_actions(pb),
        channels=CHANNEL_CHOICES,
        measures=MEASURES,
        ends=day + timedelta(days=30),
    )


@router.post("/campaigns")
def campaign_launch(
    request: Request,
    s: DB,
    v: ViewerDep,
    day: Day,
    name: Annotated[str, Form(max_length=80, pattern=TEXT)],
    group_id: Annotated[int, Form()],
    action: Annotated[str, Form(max_length=40)],
    starts_on: Annotated[date, Form()],
    ends_on: Annotated[date, Form()],
    target_measure: Annotated[str, Form(max_length=16)],
    target_value: Annotated[str, Form(max_length=20)],
    channels: Annotated[list[str] | None, Form()] = None,
    priority: Annotated[float, Form(gt=0, le=1)] = 0.5,
    control_share: Annotated[float, Form(ge=0, le=0.5)] = 0.1,
    persuadable_share: Annotated[str, Form(max_length=8)] = "",
    talk_track: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me = require(v, *PLANNERS)
    check_csrf(request, me, csrf_token)
    group = s.get(CustomerGroup, group_id)
    reach = {g.group_id for g in groups_in_reach(s, None if me.sees_all else me.branch_path)}
    if group is None or group.group_id not in reach:
        raise HTTPException(status_code=404, detail="no such group in your reach")
    try:
        value = Decimal(target_value)
        share = float(persuadable_share) if persuadable_share.strip() else None
    except (InvalidOperation, ValueError):
        raise HTTPException(status_code=422, detail="target and shares: numbers") from None
    spec = CampaignSpec(
        name,
        group_id,
        action,
        tuple(channels or ()),
        starts_on,
        ends_on,
        target_measure,
        value,
        priority,
        control_share,
        None,
        talk_track.strip() or None,
        share,
    )
    try:
        done = launch(
            _analytics(request),
            request.app.state.store,
            spec,
            me.login,
            me.role,
            request.app.state.playbook,
            moment_of(day),
        )
    except KequnError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return RedirectResponse(f"/campaigns/{done.campaign.campaign_id}", status_code=303)


def _campaign_in_reach(s: Session, me: Viewer, campaign_id: str) -> Campaign:
    found = next((c for c in campaigns_in_reach(s, me) if c.campaign_id == campaign_id), None)
    if found is None:
        raise HTTPException(status_code=404, detail="no such campaign in your reach")
    return found


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, s: DB, v: ViewerDep, day: Day, campaign_id: str) -> Response:
    me = require(v, *PLANNERS, "compliance")
    _campaign_in_reach(s, me, campaign_id)
    r = results(s, campaign_id, day)
    assert r is not None
    funnel_chart = {
        "tooltip": {},
        "series": [
            {
                "type": "funnel",
                "sort": "none",
                "label": {"show": True, "formatter": "{b}: {c}"},
                "data": [{"name": k, "value": v} for k, v in r.funnel.items()],
            }
        ],
    }
    found = active_uplift(request.app.state.store, r.campaign.action)
    return page(
        request,
        "campaign.html",
        title=r.campaign.name,
        viewer=me,
        r=r,
        measures=MEASURES,
        funnel_chart=funnel_chart,
        uplift={"version": found[0], **found[1].metrics} if found else None,
    )


@router.get("/campaigns/{campaign_id}/export.xlsx")
def campaign_excel(request: Request, s: DB, v: ViewerDep, day: Day, campaign_id: str) -> Response:
    me = require(v, *PLANNERS, "compliance")
    _campaign_in_reach(s, me, campaign_id)
    r = results(s, campaign_id, day)
    assert r is not None
    return Response(
        to_excel(r, {a.name: a.zh for a in request.app.state.playbook.playbook.actions}),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.xlsx"'},
    )


@router.post("/campaigns/{campaign_id}/pause")
def campaign_pause(
    request: Request, s: DB, v: ViewerDep, day: Day, campaign_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    me = require(v, *PLANNERS)
    check_csrf(request, me, csrf_token)
    _campaign_in_reach(s, me, campaign_id)
    pause(request.app.state.store, campaign_id, me.login, me.role, moment_of(day))
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id}/resume")
def campaign_resume(
    request: Request, s: DB, v: ViewerDep, day: Day, campaign_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    me = require(v, *PLANNERS)
    check_csrf(request, me, csrf_token)
    _campaign_in_reach(s, me, campaign_id)
    resume(
        _analytics(request),
        request.app.state.store,
        campaign_id,
        me.login,
        me.role,
        request.app.state.playbook,
        moment_of(day),
    )
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


# the branch floor ----------------------------------------------------------------------


@router.get("/floor", response_class=HTMLResponse)
def floor_page(request: Request, s: DB, v: ViewerDep, day: Day) -> Response:
    me = require(v, *FLOOR)
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
    me = require(v, *FLOOR)
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
    me = require(v, *FLOOR)
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
