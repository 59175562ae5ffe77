"""The nightly sync of cards, positions and timelines: written only where they
changed, and after nights of syncing by change the store holds exactly what the
latest snapshot says, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kequn import warehouse
from kequn.decide.batch import decide
from kequn.ingest import ingest
from kequn.pipeline import run_pipeline
from kequn.store import open_store
from kequn.store.models import CustomerHolding, TimelineEntry
from kequn.synth.nightly import next_night
from tests.conftest import make_bank

#: what the customer 360's timeline shows (restated here, not imported: the test's own reading)
MOVES = (
    "salary",
    "pension",
    "transfer_in",
    "transfer_out",
    "purchase",
    "redemption",
    "cash_deposit",
    "cash_withdrawal",
    "loan_repayment",
)


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("sync")
    make_bank(root, "night0", customers=300)
    next_night(root / "night0", root / "night1")
    next_night(root / "night1", root / "night2")
    return [root / f"night{i}" for i in range(3)]


def _held(ops_url: str) -> tuple[dict[str, set[tuple[object, ...]]], dict[str, list[tuple[object, ...]]]]:
    ops = open_store(ops_url)
    try:
        with ops.session() as s:
            holdings: dict[str, set[tuple[object, ...]]] = defaultdict(set)
            for h in s.scalars(select(CustomerHolding)):
                holdings[h.customer_id].add(
                    (h.holding_id, h.account_id, h.product_id, Decimal(h.balance), h.maturity_date)
                )
            timeline: dict[str, list[tuple[object, ...]]] = defaultdict(list)
            for e in s.scalars(select(TimelineEntry).order_by(TimelineEntry.entry_id)):
                timeline[e.customer_id].append((e.entry_id, e.at, e.kind, Decimal(e.amount or 0)))
    finally:
        ops.dispose()
    return holdings, timeline


def _snapshot(store: Path) -> tuple[dict[str, set[tuple[object, ...]]], dict[str, list[tuple[object, ...]]]]:
    """The latest snapshot's positions and each customer's 30 latest sizeable moves."""
    con = warehouse.reader(store)
    try:
        holdings: dict[str, set[tuple[object, ...]]] = defaultdict(set)
        for c, a, p, b, m in con.execute(
            "SELECT customer_id, account_id, product_id, balance, maturity_date FROM holdings"
        ).fetchall():
            holdings[c].add((a, p, Decimal(b), m))
        timeline: dict[str, list[tuple[object, ...]]] = defaultdict(list)
        kinds = ", ".join(f"'{k}'" for k in MOVES)
        for c, ts, kind, amount in con.execute(f"""
                SELECT customer_id, ts, type, amount FROM (
                    SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY ts DESC, txn_id) AS n
                    FROM transactions WHERE type IN ({kinds}) AND abs(amount) >= 1000)
                WHERE n <= 30 ORDER BY customer_id, ts""").fetchall():
            timeline[c].append((ts, kind, Decimal(amount)))
    finally:
        con.close()
    return holdings, timeline


def test_positions_and_timelines_are_rewritten_only_where_they_changed_and_end_as_the_snapshot(
    nights: list[Path], tmp_path: Path, store_url: str
) -> None:
    store = tmp_path / "bank.duckdb"
    seen: list[tuple[dict[str, set[tuple[object, ...]]], dict[str, list[tuple[object, ...]]]]] = []
    for night in nights:
        ingest(night, store)
        run_pipeline(store)
        report = decide(store, store_url)
        seen.append(_held(store_url))
    assert report.counts["cards_changed"] > 0
    (held_before, moves_before), (held_after, moves_after) = seen[-2], seen[-1]
    want_held, want_moves = _snapshot(store)
    # the store holds what the latest snapshot says, whatever was rewritten
    assert {c: {r[1:] for r in rows} for c, rows in held_after.items() if rows} == {
        c: rows for c, rows in want_held.items() if rows
    }
    got_moves = {c: sorted(r[1:] for r in rows) for c, rows in moves_after.items()}
    assert got_moves == {c: sorted(rows) for c, rows in want_moves.items()}

    # and only what changed was rewritten: the rows written are those of the
    # customers whose positions (or moves) differ from the night before
    def written(after: dict[str, Any], before: dict[str, Any]) -> int:
        return sum(len(rows) for c, rows in after.items() if _content(rows) != _content(before.get(c, [])))

    total_moves = sum(len(rows) for rows in moves_after.values())
    assert 0 < report.synced["timeline"] == written(moves_after, moves_before) < total_moves
    assert 0 < report.synced["holdings"] == written(held_after, held_before)


def _content(rows: Any) -> list[tuple[object, ...]]:
    """Rows without the store's own ids."""
    return sorted(r[1:] for r in rows)
