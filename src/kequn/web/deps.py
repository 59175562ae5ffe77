"""Request plumbing shared by pages and the API: the store session, the viewer,
the language and the business day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from sqlalchemy.orm import Session

from kequn.core.clock import now, today
from kequn.playbook import LoadedPlaybook
from kequn.store import Store
from kequn.web.security import SESSION_COOKIE, Viewer, viewer_for
from kequn.web.services.periods import PERIOD_PATTERN
from kequn.web.settings import Settings

#: codes of the bank's systems: customer, task, product and unit ids
CODE = r"^[A-Za-z0-9_.:-]{1,64}$"
#: free text: anything printable, tabs and line breaks (a NUL byte PostgreSQL refuses,
#: a spreadsheet cannot hold the other control characters, and no one types them)
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
#: a customer number as the store keeps it (32 characters at most): a longer one is
#: refused at the door, never carried into a trail entry the store cannot hold
CUSTOMER_CODE = r"^[A-Za-z0-9_.:-]{1,32}$"
CustomerId = Annotated[str, Path(pattern=CUSTOMER_CODE)]
TaskId = Annotated[str, Path(pattern=CODE)]
Unit = Annotated[str | None, Query(pattern=CODE)]
#: the period a dashboard covers (``services.periods``)
PeriodName = Annotated[str, Query(pattern=PERIOD_PATTERN)]


def store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def db(request: Request) -> Iterator[Session]:
    """The request's session: committed when the request succeeds, rolled back when
    it fails. A handler may commit part-way (a read put on the audit trail at once)."""
    with store(request).sessions() as s:
        # the playbook in force, as HQ last released it (a lookup every few seconds)
        request.app.state.playbook = request.app.state.playbooks.current(s)
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


#: the session every route and the viewer share; ``scope="function"`` commits it
#: when the handler returns, before the response leaves: a browser following the
#: sign-in redirect must find its session already stored
DB = Annotated[Session, Depends(db, scope="function")]


def playbook(request: Request, s: DB) -> LoadedPlaybook:
    """The playbook in force, as ``db`` looked it up for the request (whose
    session it takes, so that it is read only after the lookup)."""
    return request.app.state.playbook  # type: ignore[no-any-return]


Playbook = Annotated[LoadedPlaybook, Depends(playbook)]


def viewer(request: Request, s: DB) -> Viewer | None:
    return viewer_for(s, request.cookies.get(SESSION_COOKIE), now())


#: the signed-in viewer, or None (a page redirects to sign-in, the API refuses)
ViewerDep = Annotated[Viewer | None, Depends(viewer)]


def analytics_store(request: Request) -> FilePath:
    """The analytical store groups and campaigns are counted on."""
    path = settings(request).analytics
    if not path:
        raise HTTPException(status_code=503, detail="no analytical store configured (KEQUN_ANALYTICS)")
    return FilePath(path)


#: the days a page may be asked about: the bank's years, not the calendar's ends
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2199, 12, 31)


def business_day(request: Request) -> date:
    chosen = request.query_params.get("day") or settings(request).day
    if chosen:
        try:
            day = date.fromisoformat(chosen)
        except ValueError:
            return today()
        if not FIRST_DAY <= day <= LAST_DAY:
            raise HTTPException(status_code=422, detail=f"day must be between {FIRST_DAY} and {LAST_DAY}")
        return day
    return today()


Day = Annotated[date, Depends(business_day)]
