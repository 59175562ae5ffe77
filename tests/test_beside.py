"""The cards written beside the decisions (``kequn.decide.beside``): on
PostgreSQL the copy runs inside the publish transaction while the funnel and
the arbitration still run. A failure on either side leaves the store as it
was, and no thread behind."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from kequn.decide import batch
from kequn.decide.batch import decide
from kequn.store import open_store
from kequn.warehouse import copy_store

TABLES = ("customers", "customer_holdings", "customer_timeline", "ownership_log", "tasks", "decision_runs")


def _counts(url: str) -> dict[str, int]:
    ops = open_store(url)
    try:
        with ops.engine.connect() as con:
            return {t: int(con.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}
    finally:
        ops.dispose()


def _threads_left() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("kequn-beside", "kequn-copy")]


@pytest.fixture
def store(run_store: Path, tmp_path: Path) -> Path:
    """A copy of the small bank with a run, not decided yet."""
    copied = tmp_path / "bank.duckdb"
    copy_store(run_store, copied)
    return copied


def test_a_failed_arbitration_cancels_the_cards_copy_and_writes_nothing(
    store: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch.apply_sync
    copied = threading.Event()

    def copy_then_hold(duck, con, plan, pb):  # type: ignore[no-untyped-def]
        out = real(duck, con, plan, pb)
        copied.set()
        if con.dialect.name == "postgresql":
            # the cards are copied; the copy's transaction would stay busy for a minute
            con.exec_driver_sql("SELECT pg_sleep(60)")
        return out

    def failing_talk_tracks(*args, **kwargs):  # type: ignore[no-untyped-def]
        if store_url.startswith("postgresql"):
            # the copy runs beside the decisions: it has written every card by now
            assert copied.wait(60)
        else:
            # SQLite writes when the publish comes, after the decisions
            assert not copied.is_set()
        raise RuntimeError("talk tracks failed")

    monkeypatch.setattr(batch, "apply_sync", copy_then_hold)
    monkeypatch.setattr(batch, "talk_tracks", failing_talk_tracks)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="talk tracks failed"):
        decide(store, store_url)
    # the statement in flight was cancelled, not waited for
    assert time.monotonic() - started < 45
    assert _threads_left() == []
    assert set(_counts(store_url).values()) == {0}
    monkeypatch.undo()
    report = decide(store, store_url)
    counts = _counts(store_url)
    assert counts["customers"] == report.counts["cards"] > 0
    assert counts["tasks"] > 0 and counts["decision_runs"] == 1


def test_a_failed_cards_copy_fails_the_decision_and_writes_nothing(
    store: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch.apply_sync

    def copy_then_fail(duck, con, plan, pb):  # type: ignore[no-untyped-def]
        real(duck, con, plan, pb)
        raise OSError("the disk filled up")

    monkeypatch.setattr(batch, "apply_sync", copy_then_fail)
    with pytest.raises(OSError, match="disk filled up"):
        decide(store, store_url)
    assert _threads_left() == []
    assert set(_counts(store_url).values()) == {0}
