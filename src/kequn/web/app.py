"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from kequn import __version__
from kequn.decide.one import plan
from kequn.privacy.logs import install as install_log_scrubbing
from kequn.store import open_store
from kequn.store.cards import Cards
from kequn.web.i18n import gettext_for, language_of
from kequn.web.middleware import Guard
from kequn.web.playbooks import Follower
from kequn.web.render import TEMPLATES, page
from kequn.web.routes import api, campaigns, floor, groups, pages, playbooks, privacy
from kequn.web.security import hasher
from kequn.web.settings import Settings


def settle(app: FastAPI) -> None:
    """Readies what every worker keeps until it stops (the compiled templates,
    the playbook's plan for events), then leaves all it holds out of the garbage
    collector's passes. A worker holds some 225,000 such objects (modules, the
    playbook, the ORM's mappings): each full pass over them took 100-200 ms,
    and every request in flight on the worker waited, the slowest pages of a
    day. Whatever is made later is still collected as usual; a playbook
    released while the app serves is read afresh, and the one it replaces is
    kept until the worker stops."""
    for name in TEMPLATES.env.list_templates(extensions=["html"]):
        TEMPLATES.env.get_template(name)
    plan(app.state.playbook)
    gc.collect()
    gc.freeze()


def create_app(settings: Settings) -> FastAPI:
    install_log_scrubbing()
    hasher()  # a password cost the app does not know refuses the start, not the first sign-in

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settle(app)
        yield
        gc.unfreeze()
        app.state.cards.close()
        app.state.store.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="Kequn workbench",
        version=__version__,
        description="客群 Kequn: tasks, customers and dashboards for a retail bank.",
        # the API's document is for signed-in users only (``/api/openapi.json``), and no
        # page loads its scripts from a CDN
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.store = open_store(settings.store_url)
    # a customer's facts are read from the run behind the cards (kequn.store.cards)
    app.state.cards = Cards(settings.analytics)
    app.state.playbooks = Follower(settings.playbook)
    app.state.playbook = app.state.playbooks.playbook
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(privacy.router)
    app.include_router(campaigns.router)
    app.include_router(groups.router)
    app.include_router(groups.api)
    app.include_router(floor.router)
    app.include_router(playbooks.router)

    app.add_middleware(Guard)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.headers.get("hx-request") and isinstance(exc.detail, str):
            # shown in the page: in the page's language
            lang = language_of(request, request.app.state.settings.default_language)
            return JSONResponse({"detail": gettext_for(lang)(exc.detail)}, status_code=exc.status_code)
        if request.url.path.startswith("/api") or request.headers.get("hx-request"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        if exc.status_code == 401:
            return RedirectResponse("/login", status_code=303)
        return page(
            request,
            "error.html",
            status_code=exc.status_code,
            title=str(exc.status_code),
            viewer=None,
            status=exc.status_code,
            message=str(exc.detail),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # jsonable: a constraint's context can hold a Decimal (e.g. gt=0 on an amount)
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    return app
