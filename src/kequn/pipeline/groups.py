"""Customer groups (客群) on a run's profiles: a predicate in the playbook's safe
expression language, counted, sized and compared in the analytical store.

A group reads the profile's columns plus three lists built on demand: the
triggers the customer hit on the run, the products held and their types. Only
the lists an expression names are joined, so a plain condition is a single
scan of one column-store table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir

from kequn import warehouse
from kequn.ingest.derived import HELD_LISTS, held_lists_sql
from kequn.ingest.store import schema_for
from kequn.pipeline.catalog import RunInfo
from kequn.pipeline.predicates import compile_predicate
from kequn.playbook.columns import SCOPES, TRIGGER_FEATURES, ColumnDoc
from kequn.playbook.expr import Expression, parse

#: lists a group may test with list_contains(...), beside the profile's columns
GROUP_LISTS: dict[str, ColumnDoc] = {
    "triggers": ColumnDoc("list", "triggers the customer hit on the run", "触发事件"),
    "products_held": ColumnDoc("list", "product codes held", "持有产品"),
    "product_types": ColumnDoc(
        "list", "types of the products held (fund, wealth, pension, …)", "持有产品类型"
    ),
}
GROUP_COLUMNS: dict[str, ColumnDoc] = {**SCOPES["profile"], **TRIGGER_FEATURES, **GROUP_LISTS}


def parse_group(text: str, attributes: Mapping[str, ColumnDoc] | None = None) -> Expression:
    """Checks a group's condition; raises ExpressionError with the reason
    (``attributes``: the bank's own, which a condition may name beside the
    profile's columns)."""
    return parse(text, {**GROUP_COLUMNS, **(attributes or {})})


#: an attribute's type as a condition reads it
_ATTRIBUTE_TYPES = {"str": "str", "int": "int", "number": "float", "bool": "bool", "date": "date"}


def run_attributes(con: duckdb.DuckDBPyConnection, run: RunInfo) -> dict[str, ColumnDoc]:
    """The bank's own attributes a run's profiles carry, as a condition may name them."""
    if not warehouse.has_table(con, run.schema, "attributes"):
        return {}
    return {
        name: ColumnDoc(_ATTRIBUTE_TYPES.get(kind, "str"), f"the bank's own attribute ({kind})", label)  # type: ignore[arg-type]
        for name, kind, label in con.execute(
            f"SELECT name, type, label FROM {run.schema}.attributes"
        ).fetchall()
        if name not in GROUP_COLUMNS
    }


@dataclass(frozen=True)
class GroupStats:
    size: int
    aum: float
    tier_mix: dict[str, int] = field(default_factory=dict)
    branches: int = 0


def _source(con: Any, run: RunInfo, used: frozenset[str]) -> ir.Table:
    p = con.table("profiles", database=run.schema)
    if "triggers" in used:
        t = con.table("triggers", database=run.schema)
        lists = t.group_by("customer_id").aggregate(triggers=t.trigger.collect())
        p = p.left_join(lists, "customer_id").drop("customer_id_right")
    if used & {"products_held", "product_types"}:
        p = p.left_join(_held_lists(con, run), "customer_id").drop("customer_id_right")
    return p


def _held_lists(con: Any, run: RunInfo) -> ir.Table:
    """The lists of products held, as the run's snapshot keeps them; a run on a
    snapshot ingested before they were kept with it kept them itself, and one
    published before either is given them made from the snapshot's holdings."""
    if warehouse.has_table(con.con, run.schema, HELD_LISTS):
        return con.table(HELD_LISTS, database=run.schema)
    snapshot = schema_for(date.fromisoformat(run.snapshot_id))
    warehouse.attach(con.con, None, [snapshot])
    if warehouse.has_table(con.con, snapshot, HELD_LISTS):
        return con.table(HELD_LISTS, database=snapshot)
    return con.sql(held_lists_sql(snapshot))


def group_table(
    duck: duckdb.DuckDBPyConnection,
    run: RunInfo,
    expr: Expression,
    branches: Sequence[str] | None = None,
    also: frozenset[str] = frozenset(),
) -> ir.Table:
    """The group's members as an Ibis table over the run's profiles, bounded to
    ``branches`` (the customers' home units) when given; ``also``: columns other
    expressions will read from it (lists are joined only when someone reads them)."""
    con = ibis.duckdb.from_connection(duck)
    p = _source(con, run, expr.columns | also)
    keep = compile_predicate(expr, p)
    if branches is not None:
        keep = keep & p.home_branch_id.isin(list(branches))
    return p.filter(keep)


def count(
    duck: duckdb.DuckDBPyConnection,
    run: RunInfo,
    expr: Expression,
    branches: Sequence[str] | None = None,
) -> int:
    t = group_table(duck, run, expr, branches)
    return int(t.count().to_pyarrow().as_py())


def stats(
    duck: duckdb.DuckDBPyConnection,
    run: RunInfo,
    expr: Expression,
    branches: Sequence[str] | None = None,
) -> GroupStats:
    """Size, AUM, tier mix and how many units the group spans (two aggregates of one filter)."""
    t = group_table(duck, run, expr, branches)
    mix = t.group_by("tier").aggregate(n=t.count(), aum=t.aum.sum())
    units = t.aggregate(units=t.home_branch_id.nunique())
    rows = mix.to_pyarrow().to_pylist()
    spread = units.to_pyarrow().to_pylist()
    return GroupStats(
        size=sum(int(r["n"]) for r in rows),
        aum=round(sum(float(r["aum"] or 0) for r in rows), 2),
        tier_mix={str(r["tier"]): int(r["n"]) for r in rows},
        branches=int(spread[0]["units"]) if spread else 0,
    )


def overlap(
    duck: duckdb.DuckDBPyConnection,
    run: RunInfo,
    expr: Expression,
    others: dict[str, Expression],
    branches: Sequence[str] | None = None,
) -> dict[str, int]:
    """Customers this group shares with each of ``others``, in one scan."""
    if not others:
        return {}
    mine = group_table(
        duck, run, expr, branches, also=frozenset().union(*(o.columns for o in others.values()))
    )
    sums = {f"o{i}": compile_predicate(o, mine).cast("int64").sum() for i, o in enumerate(others.values())}
    row = mine.aggregate(**sums).to_pyarrow().to_pylist()[0]
    return {name: int(row[f"o{i}"] or 0) for i, name in enumerate(others)}


def members(
    duck: duckdb.DuckDBPyConnection,
    run: RunInfo,
    expr: Expression,
    branches: Sequence[str] | None = None,
) -> Any:
    """customer_id, tier, home_branch_id and AUM of every member (a pandas frame)."""
    t = group_table(duck, run, expr, branches)
    return t.select("customer_id", "tier", "home_branch_id", "aum").order_by("customer_id").to_pandas()


def compiled_sql(
    duck: duckdb.DuckDBPyConnection,
    run: RunInfo,
    expr: Expression,
    branches: Sequence[str] | None = None,
) -> str:
    """The SQL a count runs, for review (a golden file holds it) and the curious analyst."""
    t = group_table(duck, run, expr, branches)
    return str(ibis.to_sql(t.count(), dialect="duckdb"))
