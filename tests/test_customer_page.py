"""The customer's page reads only the profile columns it shows: read from them it
is the page read from every column, in each language, as a report and over the API."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from kequn import warehouse
from kequn.core.clock import now
from kequn.store.cards import Cards
from kequn.store.models import OwnershipChange, Staff
from kequn.web.services import customer as customer_service
from tests.conftest import Workbench
from tests.web_client import book, ops_session, signed_in

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
    app,
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


def test_a_change_of_owner_names_the_managers(  # type: ignore[no-untyped-def]
    app,
    workbench: Workbench,
) -> None:
    """The timeline reads a change of owner as a banker does: each manager by
    name and number; one no longer on the staff list by number (a change
    showed 'M000075' alone)."""
    cid = book(workbench, "manager")[0]
    mine = workbench.people["manager"]
    assert mine is not None
    for s in ops_session(workbench):
        name = s.get(Staff, mine).name  # type: ignore[union-attr]
        s.add(
            OwnershipChange(
                customer_id=cid, from_manager_id="M9999990", to_manager_id=mine, reason="assigned", at=now()
            )
        )
        s.commit()
    try:
        c = signed_in(app, "manager")
        for lang in ("zh_CN", "en"):
            page = html.unescape(c.get(f"/customers/{cid}?lang={lang}").text)
            assert f"M9999990 → {name} ({mine})" in page, lang
    finally:
        for s in ops_session(workbench):
            s.execute(delete(OwnershipChange).where(OwnershipChange.from_manager_id == "M9999990"))
            s.commit()
