"""The run's money facts from holdings (``pipeline.features.holding_facts``) held
to the same sums worked out row by row in Python, on the small bank's holdings
plus rows made to catch what an aggregate can get wrong: a missing average
balance and cost (the balance stands in), a liability, a currency with a rate
of its own, one the playbook has no rate for, and none at all."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from kequn import warehouse
from kequn.contract.tables import DEPOSIT_TYPES, LIABILITY_TYPES
from kequn.pipeline.catalog import previous_run
from kequn.pipeline.engines import DuckDBEngine
from kequn.pipeline.features import customer_facts, holding_facts
from kequn.pipeline.health import portfolio_rows
from kequn.pipeline.inputs import UNITS
from kequn.pipeline.run import pick_snapshot
from kequn.playbook import load_playbook
from kequn.playbook.model import ASSET_CLASSES
from kequn.rules.suitability import INVESTMENT_TYPES

RISK_LEVELS = {f"R{i}" for i in range(1, 6)}
COLUMNS = (
    "account_id",
    "customer_id",
    "product_id",
    "balance",
    "avg_daily_balance_month",
    "cost",
    "currency",
    "open_date",
    "maturity_date",
)
#: the exact sums (integer millionths of a yuan) and which holdings each counts
EXACT = {
    "deposits_x": lambda h: h["type"] in DEPOSIT_TYPES,
    "liabilities_x": lambda h: h["type"] in LIABILITY_TYPES,
    "fund_balance_x": lambda h: h["type"] == "fund",
    "wealth_balance_x": lambda h: h["type"] == "wealth_product",
    "pension_balance_x": lambda h: h["type"] in ("pension", "individual_pension"),
}


def _made_rows(customers: list[str], products: dict[str, str]) -> list[dict[str, Any]]:
    base = {c: None for c in COLUMNS}
    out = []
    for i, customer in enumerate(customers):
        mine = base | {"customer_id": customer}
        out += [
            # no average balance, no cost: the balance stands in for both
            mine | {"account_id": f"M{i}a", "product_id": products["fund"], "balance": Decimal("1234.56")},
            mine
            | {
                "account_id": f"M{i}b",
                "product_id": products["loan"],
                "balance": Decimal("-50000.00"),
                "currency": "CNY",
            },
            # a currency with a rate, one without, and none at all
            mine
            | {
                "account_id": f"M{i}c",
                "product_id": products["wealth_product"],
                "balance": Decimal("10000.01"),
                "avg_daily_balance_month": Decimal("9000.99"),
                "cost": Decimal("9500.00"),
                "currency": "CZK",
            },
            mine
            | {
                "account_id": f"M{i}d",
                "product_id": products["time_deposit"],
                "balance": Decimal("777.77"),
                "currency": "XYZ",
            },
            mine
            | {
                "account_id": f"M{i}e",
                "product_id": products["demand_deposit"],
                "balance": Decimal("0.01"),
                "currency": None,
            },
        ]
    return out


def _oracle(rows: list[dict[str, Any]], pb: Any) -> dict[str, dict[str, Any]]:
    rate = {code: round(r * 10_000) for code, r in pb.playbook.fx.items()}
    assets = set(pb.playbook.aum_product_types)
    risk_types = set(pb.playbook.suitability.risk_product_types)
    sums: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for h in rows:
        f = sums[h["customer_id"]]
        fx = rate.get(h["currency"] or "CNY")

        def units(amount: Decimal | None, fx: int | None = fx, h: dict[str, Any] = h) -> int:
            # a holding in a currency without a rate counts in no sum
            return 0 if fx is None else int((h["balance"] if amount is None else amount) * 100) * fx

        bal = units(h["balance"])
        asset = h["type"] in assets
        if asset:
            f["aum_month_end_x"] += bal
            f["aum_avg_daily_x"] += units(h["avg_daily_balance_month"])
            f[f"{h['asset_class']}_amount_x"] += bal
            if h["liquidity"] in ("T0", "T1") and h["asset_class"] != "protection":
                f["liquid_assets_x"] += bal
        for column, counts in EXACT.items():
            if counts(h):
                f[column] += bal
        if h["type"] == "fund":
            f["fund_cost_x"] += units(h["cost"])
        # held above the customer's valid risk level, or a risk product held without one
        product_risk = int(h["risk_level"][1]) if h["risk_level"] in RISK_LEVELS else 5
        risk_product = h["type"] in risk_types or product_risk >= 2
        if asset and (
            (h["risk_valid"] and product_risk > h["risk_level_num"]) or (not h["risk_valid"] and risk_product)
        ):
            f["above_risk_x"] += bal
        f["investments_held"] += h["type"] in INVESTMENT_TYPES
    return sums


def test_holding_facts_are_the_holdings_summed_one_by_one(run_store: Path) -> None:
    pb = load_playbook()
    snapshot = pick_snapshot(run_store, None)
    con = warehouse.reader(run_store, [snapshot.schema])
    try:
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        engine = DuckDBEngine(con)
        inputs = engine.inputs(
            snapshot, previous_run(con, snapshot.as_of), portfolio_rows(pb), pb.playbook.window_months
        )
        s = snapshot.schema
        customers = [
            r[0] for r in con.execute(f"SELECT customer_id FROM {s}.customers ORDER BY 1 LIMIT 3").fetchall()
        ]
        products = dict(
            con.execute(f"SELECT type, min(product_id) FROM {s}.products GROUP BY type").fetchall()
        )
        made = _made_rows(customers, products)
        con.execute(f"CREATE TEMP TABLE made_rows AS SELECT * FROM {s}.holdings LIMIT 0")
        con.executemany(
            f"INSERT INTO made_rows VALUES ({', '.join('?' * len(COLUMNS))})",
            [[r[c] for c in COLUMNS] for r in made],
        )
        con.execute(
            "CREATE OR REPLACE TEMP VIEW kequn_holdings AS "
            f"SELECT * FROM {s}.holdings UNION ALL SELECT * FROM made_rows"
        )
        customer = customer_facts(inputs, pb)
        facts = holding_facts(inputs, pb, customer)
        got_rows = con.execute(str(engine.con.compile(facts))).fetchall()
        names = [d[0] for d in con.description]
        # each customer's risk level and whether its assessment is valid, as the run reads them
        risk = {
            r[0]: (r[1], r[2])
            for r in con.execute(
                str(engine.con.compile(customer.select("customer_id", "risk_level_num", "risk_valid")))
            ).fetchall()
        }
        held = con.execute(
            "SELECT h.customer_id, h.balance, h.avg_daily_balance_month, h.cost, h.currency, "
            "p.type, p.asset_class, p.liquidity, p.risk_level "
            f"FROM kequn_holdings h JOIN {s}.products p USING (product_id)"
        )
        keys = [d[0] for d in held.description]
        rows = [dict(zip(keys, r, strict=True)) for r in held.fetchall()]
        for h in rows:
            h["risk_level_num"], h["risk_valid"] = risk[h["customer_id"]]
    finally:
        con.close()
    got = {r[0]: dict(zip(names, r, strict=True)) for r in got_rows}
    want = _oracle(rows, pb)
    assert set(got) == set(want) and len(got) > 100
    columns = [
        "aum_month_end_x",
        "aum_avg_daily_x",
        "liquid_assets_x",
        *EXACT,
        *(f"{c}_amount_x" for c in ASSET_CLASSES),
        "investments_held",
    ]
    for customer, sums in want.items():
        mine = got[customer]
        assert {c: mine[c] for c in columns} == {c: sums[c] for c in columns}, customer
        assert mine["fund_cost"] == sums["fund_cost_x"] / UNITS, customer
        # the money a risk-match finding speaks of (需测评的产品占资产N%, N% above the risk level)
        assert mine["above_risk_amount"] == sums["above_risk_x"] / UNITS, customer
    # the bank's rows and the made ones reach every sum with something to add
    for column in columns:
        assert any(sums[column] for sums in want.values()), column
    assert any(sums["fund_cost_x"] for sums in want.values())
    valid = {c for c, (_, ok) in risk.items() if ok}
    assert any(sums["above_risk_x"] for c, sums in want.items() if c in valid)
    assert any(sums["above_risk_x"] for c, sums in want.items() if c not in valid)
