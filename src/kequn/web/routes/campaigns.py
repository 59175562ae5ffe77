"""Campaigns in the workbench: launched on a group, followed, paused and resumed, exported."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kequn.campaign.campaigns import MEASURES, CampaignSpec, campaign_actions, launch, pause, resume
from kequn.campaign.groups import groups_in_reach
from kequn.campaign.results import results, to_excel
from kequn.core.errors import KequnError
from kequn.learn.persuasion import active_uplift
from kequn.store.campaign_models import Campaign, CustomerGroup
from kequn.web.deps import DB, TEXT, Day, ViewerDep, analytics_store
from kequn.web.render import page
from kequn.web.security import PLANNERS, Viewer, check_csrf, require
from kequn.web.services.campaigns import campaigns_in_reach, moment_of

router = APIRouter(include_in_schema=False)
CHANNEL_CHOICES = ("phone", "wechat", "visit", "sms", "app")


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
            analytics_store(request),
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
        analytics_store(request),
        request.app.state.store,
        campaign_id,
        me.login,
        me.role,
        request.app.state.playbook,
        moment_of(day),
    )
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
