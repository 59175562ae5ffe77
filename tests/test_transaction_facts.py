"""The run's transaction facts (``pipeline.features.transaction_facts``) held to
the same facts worked out row by row in Python, on the small bank's
transactions plus rows made to catch what an aggregate can get wrong: missing
channel, name flag and currency, a currency the playbook has no rate for,
rows just inside and just outside the window and the last week."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis

from kequn import warehouse
from kequn.core.clock import SHANGHAI
from kequn.pipeline.catalog import previous_run
from kequn.pipeline.engines import DuckDBEngine
from kequn.pipeline.features import (
    INTERNAL_TYPES,
    PASSIVE_TYPES,
    SPENDING_TYPES,
    features,
    transaction_facts,
)
from kequn.pipeline.health import portfolio_rows
from kequn.pipeline.predicates import compile_predicate
from kequn.pipeline.run import pick_snapshot
from kequn.pipeline.today import calendar_values
from kequn.playbook import load_playbook
from kequn.rules.rows import execute

COLUMNS = (
    "txn_id",
    "customer_id",
    "account_id",
    "ts",
    "amount",
    "currency",
    "channel",
    "type",
    "counterparty_bank",
    "same_name",
    "merchant_category",
    "employer_id",
)


def _made_rows(customer: str, as_of_midnight: datetime, window_since: datetime) -> list[dict[str, Any]]:
    """Rows for one customer that the bank's own may not have."""
    base = {c: None for c in COLUMNS} | {"customer_id": customer, "account_id": "A-made"}
    rows = [
        # inside the last week, missing channel and name flag
        {"type": "transfer_out", "amount": Decimal("-5000.00"), "ts": as_of_midnight - timedelta(hours=30)},
        {
            "type": "transfer_out",
            "amount": Decimal("-700.10"),
            "same_name": True,
            "currency": "CNY",
            "channel": "mobile_app",
            "ts": as_of_midnight - timedelta(days=2),
        },
        # a currency with a rate, one without, and none at all
        {
            "type": "card_spend",
            "amount": Decimal("-12.34"),
            "currency": "CZK",
            "channel": "online",
            "merchant_category": "4131",
            "ts": as_of_midnight - timedelta(days=20),
        },
        {
            "type": "card_spend",
            "amount": Decimal("-99.99"),
            "currency": "XYZ",
            "channel": "auto",
            "ts": as_of_midnight - timedelta(days=21),
        },
        {
            "type": "salary",
            "amount": Decimal("8000.00"),
            "channel": "auto",
            "ts": as_of_midnight - timedelta(days=40),
        },
        # the first instant of the window counts, the one before does not
        {"type": "pension", "amount": Decimal("3000.00"), "ts": window_since},
        {"type": "salary", "amount": Decimal("9000.00"), "ts": window_since - timedelta(seconds=1)},
        {
            "type": "purchase",
            "amount": Decimal("-20000.00"),
            "channel": "mobile_app",
            "ts": as_of_midnight - timedelta(days=3),
        },
    ]
    return [base | r | {"txn_id": f"T-made-{customer}-{i}"} for i, r in enumerate(rows)]


def _month_edge_rows(as_of_midnight: datetime) -> list[dict[str, Any]]:
    """Credits of a customer with no others, about a month's first instant in
    Beijing: the first half hour of a month there is the month before in UTC,
    and two credits in one month count it once."""
    last_day = as_of_midnight - timedelta(days=1)
    month_start = (last_day if last_day.day > 2 else last_day - timedelta(days=5)).replace(day=1)
    base = {c: None for c in COLUMNS} | {"customer_id": "C-month-edge", "account_id": "A-edge"}
    rows = [
        {"type": "salary", "amount": Decimal("8100.00"), "ts": month_start + timedelta(minutes=30)},
        {"type": "salary", "amount": Decimal("8200.00"), "ts": month_start + timedelta(days=1)},
        {"type": "pension", "amount": Decimal("3100.00"), "ts": month_start - timedelta(minutes=30)},
        {"type": "pension", "amount": Decimal("3200.00"), "ts": month_start + timedelta(minutes=10)},
    ]
    return [base | r | {"txn_id": f"T-edge-{i}"} for i, r in enumerate(rows)]


def _oracle(
    table: ibis.Table, rows: list[dict[str, Any]], pb: Any, since: datetime, week: datetime
) -> dict[str, dict[str, Any]]:
    """The facts counted row by row; ``table``: the transactions as the run reads
    them (typed as the snapshot types them), for the carbon predicates."""
    rate = {code: round(r * 10_000) for code, r in pb.playbook.fx.items()}
    behaviours = pb.playbook.carbon.behaviours
    hits = {
        b.name: [
            r["hit"]
            for r in execute(
                table.select(hit=compile_predicate(pb.expression("carbon", b.name), table)),
                {table.get_name(): rows},
            )
        ]
        for b in behaviours
    }
    out: dict[str, dict[str, Any]] = {}
    acc: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    for i, r in enumerate(rows):
        if r["ts"] < since:
            continue
        f = acc[r["customer_id"]]
        fx = rate.get(r["currency"] or "CNY")
        amt = None if fx is None else int(r["amount"] * 100) * fx
        initiated = r["type"] not in PASSIVE_TYPES and (r["channel"] or "") != "auto"
        same_out = r["type"] == "transfer_out" and bool(r["same_name"])
        recent = r["ts"] >= week
        f["salary"] += [amt] if r["type"] == "salary" else []
        f["spend"] += [amt] if r["type"] in SPENDING_TYPES else []
        f["same_out"] += [amt] if same_out else []
        f["same_out_n"].append(same_out)
        f["initiated"].append(initiated)
        f["last"] += [r["ts"]] if initiated else []
        f["net"] += [amt] if r["type"] not in INTERNAL_TYPES else []
        f["same_out_7d"] += [amt] if same_out and recent else []
        f["out_7d"] += [amt] if r["type"] == "transfer_out" and recent else []
        for b in behaviours:
            f[f"carbon_{b.name}"].append(bool(hits[b.name][i]))
        month = r["ts"].astimezone(SHANGHAI)
        if r["type"] in ("salary", "pension"):
            f[f"{r['type']}_months"].append(month.year * 100 + month.month)

    def total(values: list[Any]) -> int:
        """The sum of the known amounts (0 where there are none)."""
        return sum(v for v in values if v is not None)

    for customer, f in acc.items():
        out[customer] = {
            "salary_total_x": total(f["salary"]),
            "spend_total_x": -total(f["spend"]),
            "same_name_out_x": -total(f["same_out"]),
            "same_name_out_count": sum(f["same_out_n"]),
            "txn_count": sum(f["initiated"]),
            "last_txn_at": max(f["last"]) if f["last"] else None,
            "net_flow_x": total(f["net"]),
            "same_name_out_7d_x": -total(f["same_out_7d"]),
            "large_transfer_7d_x": (
                -min(v for v in f["out_7d"] if v is not None)
                if any(v is not None for v in f["out_7d"])
                else None
            ),
            **{f"carbon_{b.name}": sum(f[f"carbon_{b.name}"]) for b in behaviours},
            # calendar months in Beijing time: a credit at 00:30 on the 1st there
            # is that month's, though UTC still has it in the month before
            "salary_months": len(set(f["salary_months"])),
            "pension_months": len(set(f["pension_months"])),
        }
    return out


def test_transaction_facts_are_the_rows_counted_one_by_one(run_store: Path) -> None:
    pb = load_playbook()
    snapshot = pick_snapshot(run_store, None)
    con = warehouse.reader(run_store, [snapshot.schema])
    try:
        previous = previous_run(con, snapshot.as_of)
        engine = DuckDBEngine(con)
        inputs = engine.inputs(snapshot, previous, portfolio_rows(pb), pb.playbook.window_months)
        calendar = calendar_values(snapshot.as_of, pb.playbook.window_months)
        since, week = calendar["window_since"], calendar["week_since"]
        midnight = datetime.combine(snapshot.as_of + timedelta(days=1), datetime.min.time(), SHANGHAI)
        customers = [
            r[0]
            for r in con.execute(
                f"SELECT customer_id FROM {snapshot.schema}.customers ORDER BY customer_id LIMIT 3"
            ).fetchall()
        ]
        made = [row for c in customers for row in _made_rows(c, midnight, since)] + _month_edge_rows(midnight)
        con.execute(f"CREATE TEMP TABLE made_rows AS SELECT * FROM {snapshot.schema}.transactions LIMIT 0")
        con.executemany(
            f"INSERT INTO made_rows VALUES ({', '.join('?' * len(COLUMNS))})",
            [[r[c] for c in COLUMNS] for r in made],
        )
        con.execute(
            "CREATE OR REPLACE TEMP VIEW kequn_transactions AS "
            f"SELECT * FROM {snapshot.schema}.transactions UNION ALL SELECT * FROM made_rows"
        )
        got_frame = con.execute(str(engine.con.compile(transaction_facts(inputs, pb)))).fetchall()
        names = [d[0] for d in con.description]
        rows_cursor = con.execute(f"SELECT {', '.join(COLUMNS)} FROM kequn_transactions")
        rows = [dict(zip(COLUMNS, r, strict=True)) for r in rows_cursor.fetchall()]
        table = engine.con.table("kequn_transactions")
        profiled = features(inputs, pb).select("customer_id", "days_since_last_txn")
        days_since = dict(con.execute(str(engine.con.compile(profiled))).fetchall())
        edge = table.filter(table.customer_id == "C-month-edge")
        # the run's day of a moment is Beijing's (what days_since_last_txn counts from)
        days_seen = sorted(
            r[0] for r in con.execute(str(engine.con.compile(edge.select(d=edge.ts.date())))).fetchall()
        )
    finally:
        con.close()
    got = {r[0]: dict(zip(names[1:], r[1:], strict=True)) for r in got_frame}
    want = _oracle(table, rows, pb, since, week)
    assert set(got) == set(want)
    assert len(got) > 100
    for customer, facts in want.items():
        assert got[customer] == facts, customer
    assert (want["C-month-edge"]["salary_months"], want["C-month-edge"]["pension_months"]) == (1, 2)
    edge_days = sorted(
        r["ts"].astimezone(SHANGHAI).date() for r in rows if r["customer_id"] == "C-month-edge"
    )
    assert days_seen == edge_days
    # each customer's days since their last transaction they made themselves,
    # counted from its Beijing date (the window's length and a day where none)
    assert len(days_since) > 100
    for customer, days in days_since.items():
        last = want[customer]["last_txn_at"] if customer in want else None
        expected = (
            (snapshot.as_of - last.astimezone(SHANGHAI).date()).days
            if last is not None
            else calendar["window_days"] + 1
        )
        assert days == expected, customer
    # the bank's rows and the made ones reach every column with something to count
    for column in next(iter(want.values())):
        assert any(f[column] for f in want.values()), column
