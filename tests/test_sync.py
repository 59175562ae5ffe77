"""The nightly sync of cards, positions and timelines: written only where they
changed, and after nights of syncing by change the store holds exactly what the
latest snapshot says, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
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
from kequn.store.models import Customer, CustomerHolding, TimelineEntry
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
    _never_asked(root / "night2", "marketing_wechat")
    return [root / f"night{i}" for i in range(3)]


def _never_asked(extract: Path, purpose: str) -> None:
    """Some customers of ``extract`` never asked ``purpose`` (every one of their rows
    for it gone): their cards must not hold it."""
    meta = json.loads((extract / "extract.json").read_text(encoding="utf-8"))
    path = extract / "consents.csv"
    header, *rows = path.read_text(encoding=meta["encoding"]).splitlines(keepends=True)
    kept = [r for r in rows if not (f'"{purpose}"' in r and r.split(",")[0].strip('"').endswith("7"))]
    assert len(kept) < len(rows)
    path.write_text(header + "".join(kept), encoding=meta["encoding"])
    meta["rows"]["consents"] -= len(rows) - len(kept)
    (extract / "extract.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


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
    # each card holds the bank's latest answer per purpose asked, and only those
    want, got = _latest_consents(store), _card_consents(store_url)
    for customer, purposes in want.items():
        for purpose, (granted, _) in purposes.items():
            if granted is None and purpose in got.get(customer, {}):  # a tie: either answer
                got[customer][purpose] = (None, got[customer][purpose][1])  # type: ignore[assignment]
    assert got == want
    assert sum(len(p) for p in want.values()) > len(want) > 100
    assert any("marketing_wechat" not in p for p in want.values())


def _latest_consents(store: Path) -> dict[str, dict[str, tuple[bool, datetime]]]:
    """Per customer, per purpose ever asked, the answer with the latest moment
    (read here row by row in Python, not by the sync's SQL)."""
    con = warehouse.reader(store)
    try:
        rows = con.execute("SELECT customer_id, purpose, granted, ts FROM consents").fetchall()
    finally:
        con.close()
    answers: dict[str, dict[str, list[tuple[datetime, bool]]]] = defaultdict(lambda: defaultdict(list))
    for customer, purpose, granted, ts in rows:
        answers[customer][purpose].append((ts, granted))
    latest: dict[str, dict[str, tuple[bool, datetime]]] = {}
    for customer, purposes in answers.items():
        latest[customer] = {}
        for purpose, given in purposes.items():
            ts = max(t for t, _ in given)
            said = {g for t, g in given if t == ts}
            # two answers at the same moment: either may stand, the moment is certain
            latest[customer][purpose] = (said.pop() if len(said) == 1 else None, ts)  # type: ignore[assignment]
    return latest


def _card_consents(ops_url: str) -> dict[str, dict[str, tuple[bool, datetime]]]:
    ops = open_store(ops_url)
    try:
        with ops.session() as s:
            cards = {c.customer_id: c.consent for c in s.scalars(select(Customer)) if c.consent}
    finally:
        ops.dispose()
    latest: dict[str, dict[str, tuple[bool, datetime]]] = {}
    for customer, consent in cards.items():
        latest[customer] = {
            purpose: (answer["granted"], datetime.fromisoformat(answer["ts"]))
            for purpose, answer in consent.items()
        }
    return latest


def _content(rows: Any) -> list[tuple[object, ...]]:
    """Rows without the store's own ids."""
    return sorted(r[1:] for r in rows)
