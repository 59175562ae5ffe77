"""A customer who leaves the bank (missing from the next night's extract) keeps
their card as it last was, marked with the day they left; no path makes them a
task any more, and a customer who comes back is at the bank again. The month
found a lobby check-in of a customer gone two weeks earlier turning into a
marketing visit without the consent the extract no longer held."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from kequn.core.clock import SHANGHAI
from kequn.decide.batch import decide
from kequn.decide.realtime import handle_event
from kequn.ingest import ingest
from kequn.pipeline import run_pipeline
from kequn.playbook import load_playbook
from kequn.store import open_store
from kequn.store.cards import Cards
from kequn.store.models import Customer, Task
from kequn.synth.nightly import NightRates, next_night
from tests.conftest import make_bank


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    root = tmp_path_factory.mktemp("leavers")
    make_bank(root, "night0", customers=300)
    result = next_night(root / "night0", root / "night1", NightRates(leavers=0.03, dirty_rows=0))
    assert result.left, "the night should have leavers"
    return root / "night0", root / "night1", result.left


def test_a_leaver_is_marked_and_no_event_makes_them_a_task(
    nights: tuple[Path, Path, list[str]], tmp_path: Path, store_url: str
) -> None:
    night0, night1, left = nights
    store = tmp_path / "bank.duckdb"
    for night in (night0, night1):
        ingest(night, store)
        run_pipeline(store)
        report = decide(store, store_url)
    assert report.synced["left"] == len(left)
    pb = load_playbook()
    ops = open_store(store_url)
    try:
        with ops.session() as s:
            marked = dict(s.execute(select(Customer.customer_id, Customer.left_on)).all())
            open_left = s.scalars(
                select(Task.task_id).where(Task.customer_id.in_(left), Task.status == "open")
            ).all()
        assert {c for c, d in marked.items() if d is not None} == set(left)
        # the day of the first snapshot they were missing from
        assert {marked[c] for c in left} == {report.day - timedelta(days=1)}
        assert not open_left, "a leaver's open tasks are withdrawn"
        # a leaver walks into a branch: the check-in decides nothing for them
        now = datetime.combine(report.day, time(10, 30), SHANGHAI)
        cards = Cards(store)
        for customer_id in left:
            event = {"customer_id": customer_id, "event_type": "check_in"}
            result = handle_event(ops, cards, event, pb, None, now)
            assert result.task is None
            assert result.pairs and {p.reason for p in result.pairs} == {"left_bank"}
        # a customer present again is at the bank again (marked by hand here: one who
        # came back after a night away)
        back = next(c for c, d in marked.items() if d is None)
        with ops.session() as s:
            s.execute(update(Customer).where(Customer.customer_id == back).values(left_on=report.day))
        again = decide(store, store_url, replace=True)
        assert again.synced["back"] == 1 and again.synced["left"] == 0
        with ops.session() as s:
            assert s.get(Customer, back).left_on is None  # type: ignore[union-attr]
            assert all(s.get(Customer, c).left_on is not None for c in left)  # type: ignore[union-attr]
    finally:
        ops.dispose()
