"""The funnel's inputs for every customer at once (the nightly batch and a
campaign launch), as temp tables of the decision's DuckDB connection with the
shapes ``funnel.INPUTS`` declares: the run's profiles and recommendations, the
snapshot's consents and staff, and the operational store's own state
(consents given since, preferences, the contact history, open tasks)."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy import Connection

from kequn.decide.funnel import EVENT_COLUMNS, INPUTS, action_rows, fact_schema
from kequn.playbook import LoadedPlaybook
from kequn.rules import contact as contact_rules
from kequn.store.transfer import instant, to_duckdb

_DUCK = {
    "string": "VARCHAR",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp('UTC')": "TIMESTAMPTZ",
    "array<string>": "VARCHAR[]",
}


def duck_type(t: object) -> str:
    return _DUCK[str(t)]


def load_ops_state(
    con: Connection,
    duck: duckdb.DuckDBPyConnection,
    now: datetime,
    pb: LoadedPlaybook,
    replaced_source: str = "batch",
) -> dict[str, int]:
    """The operational store's state the funnel reads: consents recorded in
    Kequn, contact preferences, the history within the rules' horizon, and the
    open tasks (today's from ``replaced_source`` excluded: a re-run replaces them)."""
    d = con.dialect.name
    since = now - contact_rules.horizon(pb.playbook.contact)
    moved = {
        "k_consent_ops": to_duckdb(
            con,
            duck,
            "k_consent_ops",
            f"SELECT customer_id, purpose, granted, {instant('ts', d)} FROM consents",
            {"customer_id": "VARCHAR", "purpose": "VARCHAR", "granted": "BOOLEAN", "ts": "TIMESTAMPTZ"},
        ),
        "k_prefs": to_duckdb(
            con,
            duck,
            "k_ops_prefs",
            "SELECT customer_id, do_not_contact, personalised_opt_out FROM contact_prefs",
            {"customer_id": "VARCHAR", "do_not_contact": "BOOLEAN", "personalised_opt_out": "BOOLEAN"},
        ),
        "k_history": to_duckdb(
            con,
            duck,
            "k_ops_history",
            f"SELECT customer_id, action, kind, outcome, {instant('at', d)} FROM outcomes WHERE at >= :since",
            {
                "customer_id": "VARCHAR",
                "action": "VARCHAR",
                "kind": "VARCHAR",
                "outcome": "VARCHAR",
                "at": "TIMESTAMPTZ",
            },
            {"since": since},
        ),
        "k_open": to_duckdb(
            con,
            duck,
            "k_ops_open",
            "SELECT DISTINCT customer_id, action FROM tasks WHERE status = 'open' "
            "AND (as_of < :day OR (as_of = :day AND source <> :replaced))",
            {"customer_id": "VARCHAR", "action": "VARCHAR"},
            {"day": now.date(), "replaced": replaced_source},
        ),
    }
    return moved


def _create(duck: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    cols = ", ".join(f'CAST("{c}" AS {duck_type(t)}) AS "{c}"' for c, t in INPUTS[name].items())
    duck.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {cols} FROM ({sql})")


def _rows(duck: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, object]]) -> None:
    duck.register(f"{name}_rows", pa.Table.from_pylist(rows, schema=INPUTS[name].to_pyarrow()))
    _create(duck, name, f"SELECT * FROM {name}_rows")
    duck.unregister(f"{name}_rows")


def batch_tables(
    duck: duckdb.DuckDBPyConnection,
    run_schema: str,
    snapshot_schema: str,
    pb: LoadedPlaybook,
    now: datetime,
    day: date,
    customers: str | None = None,
) -> dict[str, ir.Table]:
    """The funnel's inputs for every customer of the run (``customers``: a temp
    table of customer_id to limit them to). Expects ``load_ops_state`` and
    ``k_owner(customer_id, manager_id)`` already in ``duck``."""
    only = f"SEMI JOIN {customers} USING (customer_id)" if customers else ""
    _rows(duck, "k_clock", [{"now": now, "day": day}])
    _rows(duck, "k_actions", action_rows(pb))
    profile_cols = {
        r[0]
        for r in duck.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = 'profiles'",
            [run_schema],
        ).fetchall()
    }
    facts = []
    for c, t in fact_schema().items():
        if c == "customer_id":
            facts.append("p.customer_id")
        elif c == "manager_id":
            facts.append("o.manager_id")
        elif c == "at_bank":
            facts.append("TRUE AS at_bank")  # the run's profiles are tonight's customers
        elif c == "manager_active":
            facts.append("coalesce(m.active, FALSE) AS manager_active")
        elif c in EVENT_COLUMNS or c not in profile_cols:
            facts.append(f'CAST(NULL AS {duck_type(t)}) AS "{c}"')
        else:
            facts.append(f'p."{c}"')
    _create(
        duck,
        "k_facts",
        f"""SELECT {", ".join(facts)} FROM {run_schema}.profiles p {only}
            LEFT JOIN k_owner o USING (customer_id)
            LEFT JOIN {snapshot_schema}.managers m ON m.manager_id = o.manager_id""",
    )
    _create(
        duck,
        "k_offers",
        f"""SELECT r.customer_id, r.rank, r.asset_class, r.product_id, r.product_name,
                   r.product_type, CAST(substr(r.product_risk, 2) AS BIGINT) AS product_risk,
                   d.liquidity = 'closed' AS closed, coalesce(r.is_pension, FALSE) AS is_pension,
                   coalesce(d.term_days, d.lockup_days) AS term_days, coalesce(d.on_sale, TRUE) AS on_sale,
                   r.expected_return
            FROM {run_schema}.recommendations r {only}
            JOIN {snapshot_schema}.products d USING (product_id)""",
    )
    _create(
        duck,
        "k_consent_events",
        f"""SELECT customer_id, purpose, granted, ts FROM {snapshot_schema}.consents {only}
            UNION ALL SELECT customer_id, purpose, granted, ts FROM k_consent_ops {only}""",
    )
    for name in ("k_prefs", "k_history", "k_open"):
        _create(duck, name, f"SELECT * FROM k_ops_{name.removeprefix('k_')} {only}")
    con = ibis.duckdb.from_connection(duck)
    return {name: con.table(name) for name in INPUTS if name != "k_proposals"}
