"""The Python evaluator (real-time path) and the compiled SQL (batch path) give
the same answer for every rule, on random rows full of NULLs."""

from __future__ import annotations

from typing import Any

import ibis
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kequn.pipeline.predicates import compile_node, compile_predicate
from kequn.playbook import load_playbook
from kequn.playbook.columns import SCOPES
from kequn.playbook.evaluate import evaluate, holds
from kequn.playbook.expr import parse

PB = load_playbook()
SCOPE = SCOPES["trigger"]
ARROW = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "list": pa.list_(pa.string()),
}
WORDS = [
    "teacher",
    "retired",
    "oil_trade",
    "government",
    "F",
    "M",
    "C3",
    "mass",
    "dormant",
    "社保卡",
    "wealth",
    "private",
    "trade",
    "",
    "a%b",
]
EDGE_CASES = [
    "age > 60 AND NULL",
    "age > 60 OR NULL",
    "NOT (age > 60)",
    "age IN (60, NULL)",
    "age NOT IN (60, NULL)",
    "age BETWEEN dependants AND 70",
    "occupation LIKE 'ret%'",
    "aum / dependants > 100",
    "CASE WHEN age > 60 THEN 'old' WHEN age > 30 THEN 'mid' END = 'mid'",
    "coalesce(industry, occupation, 'x') = 'teacher'",
    "least(age, dependants) < 3",
    "greatest(aum, spend_monthly) > 1000",
    "abs(aum_growth) > 0.1",
    "round(aum_growth, 1) = 0.1",
    "length(occupation) > 5",
    "upper(gender) = 'F'",
    "starts_with(occupation, 're')",
    "IF(age > 60, 1, 2) = 1",
    "-age < -30",
    "age % 7 = 3",
    "floor(aum_growth * 10) = 1",
    "hukou_local IS NULL",
    "hukou_local IS NOT NULL AND NOT hukou_local",
]


def _value(kind: str) -> st.SearchStrategy[Any]:
    base: dict[str, st.SearchStrategy[Any]] = {
        "int": st.integers(-5, 120),
        "float": st.floats(-2, 2e6, allow_nan=False) | st.sampled_from([0.0, 0.1, -0.3, 50000.0]),
        "str": st.sampled_from(WORDS),
        "bool": st.booleans(),
        "date": st.none(),
        "list": st.lists(st.sampled_from(WORDS), max_size=3),
    }
    return st.none() | base[kind]


row = st.fixed_dictionaries({name: _value(doc.type) for name, doc in SCOPE.items()})


def _predicates() -> list[tuple[str, Any]]:
    out = [(f"segment {s.name}", PB.expression("segments", s.name)) for s in PB.playbook.segments]
    out += [(f"stage {r.name}", PB.expression("life_stages", r.name)) for r in PB.playbook.life_stages.rules]
    out += [(f"lifecycle {r.name}", PB.expression("lifecycle", r.name)) for r in PB.playbook.lifecycle.rules]
    out += [(f"trigger {t.name}", PB.expression("triggers", t.name)) for t in PB.playbook.triggers]
    out += [(f"value {a.name}", PB.expression("actions", a.name)) for a in PB.playbook.actions]
    out += [(text, parse(text, SCOPE)) for text in EDGE_CASES]
    return out


PREDICATES = _predicates()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=20))
def test_python_and_sql_agree(rows: list[dict[str, Any]]) -> None:
    schema = pa.schema([(n, ARROW[d.type]) for n, d in SCOPE.items()])
    con = ibis.duckdb.connect()
    table = con.create_table("rows", pa.Table.from_pylist(rows, schema=schema))
    for name, expr in PREDICATES:
        is_value = name.startswith("value ")
        raw = con.execute(table.select(v=compile_node(expr.tree, table)))["v"].tolist()
        as_bool = (
            raw if is_value else con.execute(table.select(v=compile_predicate(expr, table)))["v"].tolist()
        )
        for r, sql_bool, sql_raw in zip(rows, as_bool, raw, strict=True):
            if not is_value:
                assert holds(expr, r) == bool(sql_bool), (name, r)
            py = evaluate(expr, r)
            sql_value = None if sql_raw is None or sql_raw != sql_raw else sql_raw
            if isinstance(py, bool) or py is None:
                assert py == (None if sql_value is None else bool(sql_value)), (name, r, py)
            else:  # a value (an action's worth): the same number
                assert sql_value is not None and abs(py - sql_value) <= 1e-9 * max(1, abs(py)), (
                    name,
                    r,
                    py,
                    sql_raw,
                )
