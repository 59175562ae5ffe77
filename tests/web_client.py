"""Driving the workbench's app over HTTP (no browser), for the tests that do:
the app on a workbench's stores, a signed-in client, its CSRF token, the
customers of a manager's book. (The ``app`` fixture itself is conftest's.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi.testclient import TestClient
from sqlalchemy import select

from kequn.store import open_store
from kequn.store.models import Customer
from kequn.web.app import create_app
from kequn.web.settings import Settings
from tests.conftest import DAY, PASSWORD, Workbench


def app_on(workbench: Workbench, playbook: str | None = None):  # type: ignore[no-untyped-def]
    """The workbench's app on its stores (``playbook``: a fixed playbook file)."""
    return create_app(
        Settings(
            store_url=workbench.url,
            analytics=str(workbench.store),
            secret_key="k" * 32,
            day=DAY.isoformat(),
            lockout_attempts=3,
            playbook=playbook,
        )
    )


def client(app) -> TestClient:  # type: ignore[no-untyped-def]
    # https: the session cookie is Secure and would not come back over http
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def pre_token(c: TestClient) -> str:
    page = c.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the sign-in form carries a CSRF token"
    return found.group(1)


def signed_in(app, login: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = client(app)
    r = c.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": pre_token(c)})
    assert r.status_code == 303, r.text
    return c


def csrf(c: TestClient) -> str:
    page = c.get("/my-day")
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found
    return found.group(1)


def ops_session(workbench: Workbench) -> Iterator:  # type: ignore[type-arg]
    ops = open_store(workbench.url)
    try:
        with ops.session() as s:
            yield s
    finally:
        ops.dispose()


def book(workbench: Workbench, login: str) -> list[str]:
    """The customers ``login`` manages, in id order."""
    for s in ops_session(workbench):
        ids = s.scalars(
            select(Customer.customer_id)
            .where(Customer.owner_manager_id == workbench.people[login])
            .order_by(Customer.customer_id)
        ).all()
    return list(ids)


def one_customer(workbench: Workbench, login: str) -> str:
    ids = book(workbench, login)
    assert ids
    return ids[0]


def first_open_task(c: TestClient) -> dict:  # type: ignore[type-arg]
    return next(t for t in c.get("/api/my-day").json() if t["status"] == "open")
