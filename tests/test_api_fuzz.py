"""Schemathesis against the workbench's own OpenAPI document: whatever the schema
allows, signed in as a manager and as HQ, the API answers without a server error
and within its documented shapes."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from kequn.web.app import create_app
from kequn.web.settings import Settings
from tests.conftest import DAY, PASSWORD, Workbench

pytestmark = pytest.mark.xdist_group("web")


@pytest.fixture(scope="module")
def app(workbench: Workbench):  # type: ignore[no-untyped-def]
    application = create_app(
        Settings(
            store_url=workbench.url, analytics=str(workbench.store), secret_key="f" * 32, day=DAY.isoformat()
        )
    )
    yield application
    application.state.store.dispose()


@pytest.fixture(scope="module")
def signed(app) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Headers that carry each user's session cookie and CSRF token."""
    out = {}
    for login in ("manager", "hq"):
        c = TestClient(app, base_url="https://testserver", follow_redirects=False)
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert token
        c.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": token.group(1)})
        page = c.get("/my-day").text
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page)
        assert csrf
        out[login] = {"Cookie": f"kequn_session={c.cookies['kequn_session']}", "X-CSRF-Token": csrf.group(1)}
    return out


def operations(app, headers: dict[str, str]) -> list[Any]:  # type: ignore[no-untyped-def]
    loaded = schemathesis.openapi.from_asgi("/api/openapi.json", app, headers=headers)
    return [result.ok() for result in loaded.get_all_operations()]


def test_the_schema_documents_the_api(app, signed: dict[str, dict[str, str]]) -> None:  # type: ignore[no-untyped-def]
    # for signed-in users only; no Swagger page (its scripts would come from a CDN)
    anonymous = TestClient(app, base_url="https://testserver", follow_redirects=False)
    assert anonymous.get("/api/openapi.json").status_code == 401
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert anonymous.get(path).status_code in (303, 401, 404), path
    paths = {(op.method.upper(), op.path) for op in operations(app, signed["manager"])}
    assert ("GET", "/api/my-day") in paths and ("POST", "/api/tasks/{task_id}/outcome") in paths
    assert not [p for _, p in paths if not p.startswith("/api/")], "pages stay out of the API document"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_never_fails_on_what_its_schema_allows(
    app,
    signed: dict[str, dict[str, str]],
    mode: GenerationMode,  # type: ignore[no-untyped-def]
) -> None:
    """Valid requests (and, in the negative mode, invalid ones) for every operation,
    as a manager and as HQ: never a server error; 200s match their documented shape."""
    exercised = 0
    for op in operations(app, signed["manager"]):

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            for headers in signed.values():
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
                if response.status_code == 200 and mode is GenerationMode.POSITIVE:
                    case.validate_response(response, checks=[response_schema_conformance])

        try:
            check()
            exercised += 1
        except Unsatisfiable:
            # nothing invalid to send: no inputs, or only free-text path parts
            assert mode is GenerationMode.NEGATIVE
    assert exercised >= 3
