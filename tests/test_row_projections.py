"""The row engine's projections, each checked against DuckDB running the same
expression: a mutate that adds columns, one that computes a column anew in
its place, and projections that reorder, rename or drop (which are not copies
of their parent's rows). Keys and their order are compared: a union reads its
rows' values in order."""

from __future__ import annotations

import duckdb
import ibis
import pytest

from kequn.rules.rows import execute

ROWS = [
    {"customer_id": "C1", "value": 10.0, "channel": "phone", "tier": "gold"},
    {"customer_id": "C2", "value": None, "channel": None, "tier": "mass"},
    {"customer_id": "C3", "value": -3.5, "channel": "sms", "tier": "gold"},
]
T = ibis.table({"customer_id": "string", "value": "float64", "channel": "string", "tier": "string"}, name="t")

CASES = {
    "adds columns": T.mutate(doubled=T.value * 2, gold=T.tier == "gold"),
    "computes a column anew in its place": T.mutate(value=T.value.fill_null(0) + 1),
    "adds after one anew": T.mutate(channel=T.channel.fill_null("visit"), n=ibis.literal(1)),
    "a mutate on a mutate": T.mutate(a=T.value + 1).mutate(b=ibis._.a * 2, tier=ibis._.tier.upper()),
    "reorders": T.select("tier", "customer_id", "value"),
    "renames": T.select(id=T.customer_id, v=T.value),
    "drops": T.drop("channel"),
    "a union of mutates": ibis.union(T.mutate(k=ibis.literal("x")), T.mutate(k=T.tier)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_projection_gives_duckdbs_rows_with_their_columns_in_order(name: str) -> None:
    expr = CASES[name]
    got = execute(expr, {"t": ROWS})
    con = duckdb.connect()
    con.execute("CREATE TABLE t (customer_id VARCHAR, value DOUBLE, channel VARCHAR, tier VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [tuple(r.values()) for r in ROWS])
    found = con.execute(ibis.to_sql(expr, dialect="duckdb"))
    names = [d[0] for d in found.description]
    want = [dict(zip(names, r, strict=True)) for r in found.fetchall()]
    assert [list(r) for r in got] == [names] * len(got)
    key = lambda r: tuple(str(v) for v in r.values())  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)
    # a copied row is the engine's own: the input rows are left as they were
    assert ROWS[0] == {"customer_id": "C1", "value": 10.0, "channel": "phone", "tier": "gold"}
