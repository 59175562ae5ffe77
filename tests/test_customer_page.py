"""The customer's page reads only the profile columns it shows: read from them it
is the page read from every column, in each language, as a report and over the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kequn import warehouse
from kequn.store.cards import Cards
from kequn.web.services import customer as customer_service
from tests.conftest import Workbench
from tests.test_web import app, book, signed_in  # noqa: F401  (app: a fixture)

pytestmark = pytest.mark.xdist_group("web")


def _every_profile_column(workbench: Workbench) -> frozenset[str]:
    con = warehouse.reader(workbench.store)
    try:
        return frozenset(r[0] for r in con.execute("DESCRIBE main.profiles").fetchall())
    finally:
        con.close()


def _pages(c: TestClient, ids: list[str]) -> dict[str, str]:
    shown = {}
    for cid in ids:
        for path in (
            f"/customers/{cid}?lang=zh_CN",
            f"/customers/{cid}?lang=en",
            f"/customers/{cid}/report",
            f"/api/customers/{cid}",
        ):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            shown[path] = r.text
    return shown


def test_customer_page_reads_what_it_shows(  # type: ignore[no-untyped-def]
    app,  # noqa: F811  (test_web's fixture)
    workbench: Workbench,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    every = _every_profile_column(workbench)
    assert every > customer_service.PAGE_FACTS, "the page names only columns the profile has"
    ids = book(workbench, "manager")[:30]
    c = signed_in(app, "manager")  # one session: one CSRF token on every page
    narrow = _pages(c, ids)
    # every column, and the ledger, as a read naming no columns gives them
    whole_read = Cards.facts
    monkeypatch.setattr(Cards, "facts", lambda self, s, cid, *_, **__: whole_read(self, s, cid))
    whole = _pages(c, ids)
    for path, page in whole.items():
        assert narrow[path] == page, path
    # the pages compared show what the narrowed read must carry: the green
    # ledger's lines, recommendations (the bank's own attributes on the page:
    # test_learn.py, whose bank declares some)
    text = " ".join(whole.values())
    assert '"behaviour_zh":' in text and '"recommendations":[{' in text
