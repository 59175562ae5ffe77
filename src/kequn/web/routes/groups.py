"""Customer groups in the workbench: built by picking, previewed, counted and saved."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kequn.campaign.groups import groups_in_reach, preview, save_group, unit_branches
from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.pipeline.groups import GROUP_COLUMNS
from kequn.web.deps import DB, TEXT, ViewerDep, analytics_store
from kequn.web.render import page
from kequn.web.security import PLANNERS, Viewer, check_csrf, require
from kequn.web.services.campaigns import group_unit
from kequn.web.services.group_builder import OP_NAMES, Builder, choices_for, fields_by_section, read_builder

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["groups"])


def _reach(s: Session, me: Viewer) -> list[str] | None:
    return None if me.sees_all else unit_branches(s, me.branch_id)


@router.get("/groups", response_class=HTMLResponse)
def groups_page(request: Request, s: DB, v: ViewerDep, expression: str = "") -> Response:
    me = require(v, *PLANNERS)
    saved = groups_in_reach(s, None if me.sees_all else me.branch_path)
    shown = preview(analytics_store(request), expression, _reach(s, me), saved) if expression else None
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
    pb, analytics = request.app.state.playbook, analytics_store(request)
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
            shown = preview(analytics_store(request), built.expression.text, _reach(s, me), saved)
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
        shown = (
            preview(analytics_store(request), expression, _reach(s, me), saved)
            if expression.strip()
            else None
        )
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
    shown = preview(analytics_store(request), expression, _reach(s, me), saved)
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
        shown = preview(analytics_store(request), body.expression, _reach(s, me))
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
