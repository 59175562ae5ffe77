"""The workbench's pages."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from kequn.core.clock import now
from kequn.store.models import Branch
from kequn.web.deps import (
    DB,
    TEXT,
    CustomerId,
    Day,
    PeriodName,
    Playbook,
    TaskId,
    Unit,
    ViewerDep,
    settings,
)
from kequn.web.i18n import LANGUAGES, gettext_for, language_of
from kequn.web.render import page, render_text
from kequn.web.security import (
    PRE_COOKIE,
    SESSION_COOKIE,
    SignInError,
    check_csrf,
    require,
    sign_in,
    sign_out,
)
from kequn.web.services.customer import view_customer
from kequn.web.services.dashboard import dashboard, to_excel
from kequn.web.services.directory import find_customers
from kequn.web.services.myday import PAGE, day_counts, my_day
from kequn.web.services.outcomes import OutcomeError, log_outcome
from kequn.web.services.periods import PERIODS
from kequn.web.services.privacy import trail_read
from kequn.web.services.views import TIER_ZH

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", title="登录", viewer=None, pre_token=token)
    response.set_cookie(
        PRE_COOKIE, token, httponly=True, samesite="strict", secure=settings(request).secure_cookies
    )
    return response


@router.post("/login")
def login(
    request: Request,
    s: DB,
    login: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    cookie = request.cookies.get(PRE_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    try:
        _, session_id, _ = sign_in(s, login, password, settings(request))
    except SignInError as exc:
        s.commit()  # keep the failed-attempt count
        token = secrets.token_urlsafe(24)
        refused: Response = page(
            request, "login.html", status_code=401, title="登录", viewer=None, pre_token=token, error=str(exc)
        )
        refused.set_cookie(
            PRE_COOKIE, token, httponly=True, samesite="strict", secure=settings(request).secure_cookies
        )
        return refused
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="lax",
        secure=settings(request).secure_cookies,
        max_age=settings(request).session_hours * 3600,
    )
    response.delete_cookie(PRE_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, s: DB, v: ViewerDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    me = require(v)
    check_csrf(request, me, csrf_token)
    sign_out(s, me.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(request: Request, v: ViewerDep) -> Response:
    target = "/login"
    if v is not None:
        target = {
            "branch_head": "/dashboard",
            "hq": "/dashboard",
            "compliance": "/audit",
            "lobby_manager": "/floor",
            "teller": "/floor",
        }.get(v.role, "/my-day")
    # a language asked for on the way in is the page's (``/?lang=en``, a bookmark)
    lang = request.query_params.get("lang")
    if lang in LANGUAGES:
        target += f"?lang={lang}"
    return RedirectResponse(target, status_code=303)


@router.get("/my-day", response_class=HTMLResponse)
def my_day_page(request: Request, s: DB, v: ViewerDep, day: Day) -> Response:
    if v is None:
        return RedirectResponse("/login", status_code=303)
    total, done = day_counts(s, v, day)
    tasks = my_day(s, v, day, 0, PAGE)
    return page(
        request,
        "my_day.html",
        title="我的一天",
        viewer=v,
        tasks=tasks,
        day=day,
        total=total,
        done=done,
        offset=0,
        more=len(tasks) < total,
    )


@router.get("/my-day/tasks", response_class=HTMLResponse)
def my_day_more(
    request: Request, s: DB, v: ViewerDep, day: Day, offset: Annotated[int, Query(ge=0, le=100_000)] = 0
) -> Response:
    """The next page of My day, for the manager scrolling down (HTMX)."""
    me = require(v)
    tasks = my_day(s, me, day, offset, PAGE)
    total, _ = day_counts(s, me, day)
    return page(
        request,
        "_task_page.html",
        viewer=me,
        tasks=tasks,
        day=day,
        offset=offset,
        more=offset + len(tasks) < total,
    )


@router.post("/tasks/{task_id}/outcome", response_class=HTMLResponse)
def outcome(
    request: Request,
    task_id: TaskId,
    s: DB,
    v: ViewerDep,
    day: Day,
    outcome: Annotated[str, Form()],
    key: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    product_id: Annotated[str | None, Form()] = None,
    amount: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
) -> Response:
    me = require(v)
    check_csrf(request, me, csrf_token)
    if me.read_only:
        raise HTTPException(status_code=403, detail="read-only role")
    try:
        log_outcome(
            s, me, task_id, outcome, key, now(), product_id, amount, note, pb=request.app.state.playbook
        )
    except LookupError:
        raise HTTPException(status_code=404, detail="no such task") from None
    except OutcomeError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    s.flush()
    if request.headers.get("hx-request"):
        views = my_day(s, me, day, task_id=task_id)
        if not views:
            return HTMLResponse("")
        return page(request, "_task.html", viewer=me, t=views[0], loop_index=0)
    return RedirectResponse("/my-day", status_code=303)


@router.get("/customers", response_class=HTMLResponse)
def customers_page(
    request: Request,
    s: DB,
    v: ViewerDep,
    q: Annotated[str, Query(max_length=40, pattern=TEXT)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    if v is None:
        return RedirectResponse("/login", status_code=303)
    found = find_customers(s, v, q, page_no, TIER_ZH)
    if q.strip():
        # a search by personal data is a read of it: on the trail, by its kind, not its value
        trail_read(s, v, "search", None, {"by": found.by, "found": found.total})
    return page(request, "customers.html", title="客户", viewer=v, found=found, q=q)


def _charts(c: Any, lang: str) -> tuple[dict[str, Any], dict[str, Any]]:
    _ = gettext_for(lang)
    # the components judged (one that could not be judged has no score to draw)
    judged = [h for h in c.health if h["score"] is not None]
    health = {
        "tooltip": {},
        "radar": {"indicator": [{"name": _(h["component_zh"]), "max": 100} for h in judged]},
        "series": [
            {
                "type": "radar",
                "data": [{"value": [h["score"] for h in judged], "name": _("财富健康度")}],
            }
        ],
    }
    allocation = {
        "tooltip": {},
        "legend": {"data": [_("当前"), _("模型组合")]},
        "xAxis": {"type": "category", "data": [_(a["class_zh"]) for a in c.allocation]},
        "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {"name": _("当前"), "type": "bar", "data": [round(a["actual"] * 100, 1) for a in c.allocation]},
            {
                "name": _("模型组合"),
                "type": "bar",
                "data": [round(a["target"] * 100, 1) for a in c.allocation],
            },
        ],
    }
    return health, allocation


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: CustomerId, s: DB, v: ViewerDep) -> Response:
    if v is None:
        return RedirectResponse("/login", status_code=303)
    c = view_customer(s, request.app.state.cards, request.app.state.playbook, v, customer_id)
    if c is None:
        raise HTTPException(status_code=404, detail="customer not found")
    health, allocation = _charts(c, language_of(request))
    return page(
        request,
        "customer.html",
        title=c.card.customer_id,
        viewer=v,
        c=c,
        health_chart=health,
        allocation_chart=allocation,
        can_unmask=v.role in request.app.state.playbook.playbook.privacy.unmask_roles,
    )


@router.get("/customers/{customer_id}/report", response_class=HTMLResponse)
def report_page(
    request: Request,
    customer_id: CustomerId,
    s: DB,
    v: ViewerDep,
    day: Day,
) -> Response:
    me = require(v)
    c = view_customer(s, request.app.state.cards, request.app.state.playbook, me, customer_id, "view_report")
    if c is None:
        raise HTTPException(status_code=404, detail="customer not found")
    return page(request, "report.html", c=c, day=day, viewer=me)


@router.get("/customers/{customer_id}/report.pdf")
def report_pdf(
    request: Request,
    customer_id: CustomerId,
    s: DB,
    v: ViewerDep,
    day: Day,
) -> Response:
    me = require(v)
    c = view_customer(s, request.app.state.cards, request.app.state.playbook, me, customer_id, "view_report")
    if c is None:
        raise HTTPException(status_code=404, detail="customer not found")
    from weasyprint import HTML

    html = render_text(request, "report.html", c=c, day=day, viewer=me)
    pdf = HTML(string=html).write_pdf()
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="report-{customer_id}.pdf"'},
    )


def _dashboard_charts(b: Any, lang: str) -> tuple[dict[str, Any], dict[str, Any]]:
    _ = gettext_for(lang)
    tiers = b.figures.get("tiers") or {}
    tier_chart = {
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "pie",
                "radius": "65%",
                "data": [{"name": _(TIER_ZH.get(k, k)), "value": v} for k, v in tiers.items()],
            }
        ],
    }
    managers = b.managers[:30]
    manager_chart = {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [_("触达率"), _("促成率")]},
        "xAxis": {"type": "category", "data": [m.name for m in managers]},
        "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {"name": _("触达率"), "type": "bar", "data": [round(m.reach * 100, 1) for m in managers]},
            {"name": _("促成率"), "type": "bar", "data": [round(m.conversion * 100, 1) for m in managers]},
        ],
    }
    return tier_chart, manager_chart


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    s: DB,
    pb: Playbook,
    v: ViewerDep,
    day: Day,
    unit: Unit = None,
    period: PeriodName = "month",
) -> Response:
    if v is None:
        return RedirectResponse("/login", status_code=303)
    me = require(v, "branch_head", "hq", "compliance")
    try:
        b = dashboard(s, me, unit, day, period, health_targets=pb.playbook.health.quarter_targets)
    except LookupError:
        raise HTTPException(status_code=404, detail="unit not found") from None
    tier_chart, manager_chart = _dashboard_charts(b, language_of(request))
    units = (
        s.scalars(
            select(Branch)
            .where(Branch.level.in_(["head_office", "branch", "sub_branch"]))
            .order_by(Branch.path)
        ).all()
        if me.sees_all
        else []
    )
    return page(
        request,
        "dashboard.html",
        title="业绩看板",
        viewer=me,
        b=b,
        periods=PERIODS,
        day=day,
        units=units,
        tier_chart=tier_chart,
        manager_chart=manager_chart,
    )


@router.get("/dashboard.xlsx")
def dashboard_excel(
    s: DB, v: ViewerDep, pb: Playbook, day: Day, unit: Unit = None, period: PeriodName = "month"
) -> Response:
    me = require(v, "branch_head", "hq", "compliance")
    try:
        b = dashboard(s, me, unit, day, period, health_targets=pb.playbook.health.quarter_targets)
    except LookupError:
        raise HTTPException(status_code=404, detail="unit not found") from None
    trail_read(
        s, me, "export", None, {"export": "dashboard_xlsx", "unit": b.unit.branch_id if b.unit else None}
    )
    return Response(
        to_excel(b),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="kequn-{day}.xlsx"'},
    )
