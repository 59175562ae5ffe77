"""Pages and API for personal information protection: unmasking with a reason,
consent changes and opt-outs on a customer's page, and compliance's trail."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kequn.core.clock import now
from kequn.privacy.audit import ACTIONS as AUDIT_ACTIONS
from kequn.privacy.consent import change_consent, refuse_personalisation
from kequn.privacy.requests import requests as subject_requests
from kequn.web.deps import CODE, CUSTOMER_CODE, DB, CustomerId, Day, ViewerDep
from kequn.web.render import page
from kequn.web.security import Viewer, check_csrf, require
from kequn.web.services.customer import find_customer
from kequn.web.services.privacy import TrailQuery, UnmaskRefused, alerts, search, trail_read, unmask

router = APIRouter()
Field_ = Literal["name", "id_number", "phone"]
PURPOSES = (
    "marketing_phone",
    "marketing_sms",
    "marketing_wechat",
    "personalised_recommendation",
    "third_party_sharing",
    "sensitive_processing",
)
#: a search form sends its empty fields too
BLANK_OR_CODE = r"^([A-Za-z0-9_.:-]{1,64})?$"
BLANK_OR_CUSTOMER = r"^([A-Za-z0-9_.:-]{1,32})?$"
BLANK_OR_DAY = r"^([0-9]{4}-[01][0-9]-[0-3][0-9])?$"
SOURCES = ("counter", "phone", "mobile_app", "wechat", "paper_contract", "online")


def _card(s: Session, me: Viewer, customer_id: str) -> Any:
    card = find_customer(s, me, customer_id)
    if card is None:
        raise HTTPException(status_code=404, detail="customer not found")
    return card


def _writer(request: Request, v: Viewer | None, token: str | None) -> Viewer:
    me = require(v)
    check_csrf(request, me, token)
    if me.read_only:
        raise HTTPException(status_code=403, detail="read-only role")
    return me


@router.post("/customers/{customer_id}/unmask", include_in_schema=False, response_class=HTMLResponse)
def unmask_page(
    request: Request,
    customer_id: CustomerId,
    s: DB,
    v: ViewerDep,
    field: Annotated[Field_, Form()],
    reason: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me = require(v)
    check_csrf(request, me, csrf_token)  # unmasking changes nothing, but it is spent and recorded
    card = _card(s, me, customer_id)
    try:
        value = unmask(s, request.app.state.playbook, me, card, field, reason, now())
    except UnmaskRefused as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from None
    return HTMLResponse(f'<span class="clear" data-field="{field}">{_escape(value or "")}</span>')


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"{text!r} is not a day") from None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class UnmaskIn(BaseModel):
    field: Field_
    reason: str = Field(min_length=4, max_length=200, pattern=r"^[^\x00]*$")


class UnmaskOut(BaseModel):
    field: str
    value: str | None


@router.post("/api/customers/{customer_id}/unmask", response_model=UnmaskOut, tags=["privacy"])
def unmask_api(request: Request, customer_id: CustomerId, body: UnmaskIn, s: DB, v: ViewerDep) -> UnmaskOut:
    """One field of one customer in clear: needs a reason, counts against the day's limit, is recorded."""
    me = require(v)
    check_csrf(request, me, None)
    card = _card(s, me, customer_id)
    try:
        value = unmask(s, request.app.state.playbook, me, card, body.field, body.reason, now())
    except UnmaskRefused as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from None
    return UnmaskOut(field=body.field, value=value)


@router.post("/customers/{customer_id}/consent", include_in_schema=False)
def consent_page(
    request: Request,
    customer_id: CustomerId,
    s: DB,
    v: ViewerDep,
    purpose: Annotated[Literal[PURPOSES], Form()],  # type: ignore[valid-type]
    granted: Annotated[Literal["yes", "no"], Form()],
    source: Annotated[Literal[SOURCES], Form()] = "counter",  # type: ignore[valid-type]
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me = _writer(request, v, csrf_token)
    card = _card(s, me, customer_id)
    pb = request.app.state.playbook
    if purpose == "personalised_recommendation" and granted == "no":
        refuse_personalisation(s, pb, card, source, me.login, me.role, now())
    else:
        change_consent(s, pb, card, purpose, granted == "yes", source, me.login, me.role, now())
    return RedirectResponse(f"/customers/{customer_id}#consent", status_code=303)


@router.get("/audit", include_in_schema=False, response_class=HTMLResponse)
def audit_page(
    request: Request,
    s: DB,
    v: ViewerDep,
    day: Day,
    actor: Annotated[str | None, Query(pattern=BLANK_OR_CODE)] = None,
    customer: Annotated[str | None, Query(pattern=BLANK_OR_CUSTOMER)] = None,
    action: Annotated[str | None, Query(pattern=BLANK_OR_CODE)] = None,
    since: Annotated[str | None, Query(pattern=BLANK_OR_DAY)] = None,
    until: Annotated[str | None, Query(pattern=BLANK_OR_DAY)] = None,
) -> Response:
    """Compliance's view of the trail: search, unusual access, data-subject requests."""
    me = require(v, "compliance", "hq")
    q = TrailQuery(
        actor or None,
        customer or None,
        action or None,
        _day(since),
        _day(until),
    )
    entries = search(s, q)
    pb = request.app.state.playbook
    trail_read(s, me, "audit_search", customer or None, {k: str(x) for k, x in q.__dict__.items() if x})
    return page(
        request,
        "audit.html",
        title="合规审计",
        viewer=me,
        q=q,
        actions=AUDIT_ACTIONS,
        entries=entries,
        alerts=alerts(s, pb, day),
        requests=subject_requests(s, day, "open"),
    )


class TrailOut(BaseModel):
    seq: int
    at: str
    actor: str
    role: str
    action: str
    customer_id: str | None
    detail: str


@router.get("/api/audit", response_model=list[TrailOut], tags=["privacy"])
def audit_api(
    s: DB,
    v: ViewerDep,
    actor: Annotated[str | None, Query(pattern=CODE)] = None,
    customer: Annotated[str | None, Query(pattern=CUSTOMER_CODE)] = None,
    action: Annotated[str | None, Query(pattern=CODE)] = None,
    since: date | None = None,
    until: date | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[TrailOut]:
    """Search the access trail (compliance and HQ)."""
    me = require(v, "compliance", "hq")
    rows = search(s, TrailQuery(actor, customer, action, since, until, limit))
    trail_read(s, me, "audit_search", customer, {"actor": actor, "action": action})
    return [
        TrailOut(
            seq=e.seq,
            at=e.at.isoformat(),
            actor=e.actor,
            role=e.role,
            action=e.action,
            customer_id=e.customer_id,
            detail=e.detail,
        )
        for e in rows
    ]
