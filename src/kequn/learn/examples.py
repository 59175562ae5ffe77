"""The rows a propensity model learns from, each as it was known the day before.

A row is a past contact: one from the bank's own history (the ``contacts``
table of its snapshots, or a history imported alone) or one logged in Kequn.
Its label is success (interested or sold); a try that reached nobody is no
row, but it is in the history of the rows after it.

Point in time, by construction: each row's named values come from its own
columns (what the bank wrote down at the contact), then from the latest
snapshot and run whose day is *before* the contact's day, never from a later
one; the history is cut at the contact's moment (``kequn.learn.features``).
Today's card is never joined.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import Connection

from kequn import warehouse
from kequn.contract import TABLES
from kequn.learn.features import FACTS, NOT_A_CONTACT, POSITIVE, Tables, frame
from kequn.playbook.columns import SCOPES
from kequn.store.transfer import instant, to_duckdb

CONTRACT_CONTACT = set(TABLES["contacts"].column_names)
CONTRACT_CUSTOMER = set(TABLES["customers"].column_names)
#: a named value must be known for this share of the rows to be worth learning
MIN_KNOWN = 0.3


@dataclass
class Examples:
    frame: pd.DataFrame  # key, ts, customer_id, label, source, and every feature
    named: dict[str, str]  # the named values used: name -> label


def _schemas(con: duckdb.DuckDBPyConnection, kind: str) -> list[tuple[str, object]]:
    return [(a.name, a.as_of) for a in warehouse.artifacts(con) if a.kind == kind]


def _tables_with(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT database_name FROM duckdb_tables() WHERE table_name = ?", [table]
        ).fetchall()
    ]


def _attribute_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The bank's attributes' labels, as the reports of the snapshots and of the
    histories imported keep them."""
    labels: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    with contextlib.suppress(duckdb.Error):
        rows += con.execute("SELECT report FROM kequn_snapshots ORDER BY as_of").fetchall()
    for db in _tables_with(con, "report"):
        if db.startswith("history_"):
            rows += con.execute(f"SELECT report FROM {db}.report").fetchall()
    for (report,) in rows:
        parsed: dict[str, Any] = json.loads(report) if isinstance(report, str) else dict(report or {})
        found = parsed.get("attributes") or {}
        if found and all(isinstance(v, dict) and "type" in v for v in found.values()):
            found = {"contacts": found}  # a history's report: the contacts' attributes alone
        for attrs in found.values():
            for name, a in attrs.items():
                labels[name] = a.get("label") or name
    return labels


def bank_contacts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``k_bank_contacts``: every contact of the bank's own history once (the same
    contact in several snapshots is one), with its attributes; returns their names."""
    sources = [db for db in _tables_with(con, "contacts") if db.startswith(("snap_", "history_"))]
    attrs: list[str] = []
    parts = []
    for db in sources:
        cols = [r[0] for r in con.execute(f"DESCRIBE {db}.contacts").fetchall()]
        attrs += [c for c in cols if c not in CONTRACT_CONTACT and c not in attrs]
        parts.append(f"SELECT * FROM {db}.contacts")
    if not parts:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE k_bank_contacts (customer_id VARCHAR, ts TIMESTAMPTZ,
                action VARCHAR, campaign_id VARCHAR, product_id VARCHAR, channel VARCHAR, outcome VARCHAR)""")
        return []
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_bank_contacts AS
        SELECT DISTINCT ON (customer_id, ts, action) *
        FROM ({" UNION ALL BY NAME ".join(parts)}) ORDER BY customer_id, ts, action""")
    return attrs


def kequn_contacts(ops: Connection, con: duckdb.DuckDBPyConnection) -> int:
    """``k_kequn_contacts``: every outcome logged in Kequn (a survey answer is no contact)."""
    d = ops.dialect.name
    return to_duckdb(
        ops,
        con,
        "k_kequn_contacts",
        f"""SELECT o.customer_id, {instant("o.at", d)}, o.action, t.campaign_id,
                   coalesce(o.product_id, t.product_id), o.channel, o.outcome
            FROM outcomes o LEFT JOIN tasks t ON t.task_id = o.task_id WHERE o.outcome <> 'survey'""",
        {
            "customer_id": "VARCHAR",
            "ts": "TIMESTAMPTZ",
            "action": "VARCHAR",
            "campaign_id": "VARCHAR",
            "product_id": "VARCHAR",
            "channel": "VARCHAR",
            "outcome": "VARCHAR",
        },
    )


def _day_before(con: duckdb.DuckDBPyConnection, kind: str, name: str) -> None:
    """``k_target_<name>``: each target's latest artifact of ``kind`` from a day
    before the target's own day (Beijing time)."""
    found = _schemas(con, kind)
    values = ", ".join(f"('{n}', DATE '{a}')" for n, a in found) or "(NULL, NULL)"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_target_{name} AS
        SELECT t.key, t.customer_id, a.schema_name FROM
            (SELECT key, customer_id, CAST(timezone('Asia/Shanghai', ts) AS DATE) AS day FROM k_targets) t
        ASOF JOIN (SELECT * FROM (VALUES {values}) v(schema_name, as_of) WHERE as_of IS NOT NULL) a
            ON t.day > a.as_of""")


def examples(store: Path, ops: Connection) -> Examples:
    """Every past contact with its label and point-in-time features."""
    con = warehouse.reader(store, "all")
    try:
        con.execute("SET TimeZone = 'UTC'")
        contact_attrs = bank_contacts(con)
        kequn_contacts(ops, con)
        attr_cols = ", ".join(f'b."{a}" AS "c_{a}"' for a in contact_attrs)
        nulls = ", ".join(f'NULL AS "c_{a}"' for a in contact_attrs)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE k_all AS
            SELECT b.customer_id, b.ts, b.action, coalesce(b.campaign_id, b.action) AS campaign, b.product_id,
                   b.channel, b.outcome, 'bank' AS source {", " + attr_cols if attr_cols else ""}
            FROM k_bank_contacts b
            UNION ALL BY NAME
            SELECT customer_id, ts, action, coalesce(campaign_id, action) AS campaign, product_id, channel,
                   outcome, 'kequn' AS source {", " + nulls if nulls else ""}
            FROM k_kequn_contacts""")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE k_events AS SELECT customer_id, ts, campaign, outcome FROM k_all"
        )
        not_contact = ", ".join(f"'{o}'" for o in NOT_A_CONTACT)
        positive = ", ".join(f"'{o}'" for o in POSITIVE)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE k_targets AS
            SELECT row_number() OVER (ORDER BY ts, customer_id, action) AS key, *,
                   outcome IN ({positive}) AS label
            FROM k_all WHERE outcome NOT IN ({not_contact})""")
        # what the bank knew of each customer the day before: its attributes in the
        # latest earlier snapshot, the profile facts of the latest earlier run
        _day_before(con, "snapshot", "snap")
        _day_before(con, "run", "run")
        customer_attrs: list[str] = []
        cust_parts = []
        for schema in {
            r[0] for r in con.execute("SELECT DISTINCT schema_name FROM k_target_snap").fetchall()
        }:
            cols = [r[0] for r in con.execute(f"DESCRIBE {schema}.customers").fetchall()]
            extra = [c for c in cols if c not in CONTRACT_CUSTOMER]
            customer_attrs += [c for c in extra if c not in customer_attrs]
            picked = ", ".join(f'c."{c}" AS "a_{c}"' for c in extra)
            cust_parts.append(
                f"SELECT t.key {', ' + picked if picked else ''} FROM k_target_snap t "
                f"JOIN {schema}.customers c USING (customer_id) WHERE t.schema_name = '{schema}'"
            )
        fact_parts = []
        for schema in {r[0] for r in con.execute("SELECT DISTINCT schema_name FROM k_target_run").fetchall()}:
            have = {r[0] for r in con.execute(f"DESCRIBE {schema}.profiles").fetchall()}
            picked = ", ".join(f'p."{c}" AS "f_{c}"' for c in FACTS if c in have)
            fact_parts.append(
                f"SELECT t.key, {picked} FROM k_target_run t JOIN {schema}.profiles p USING (customer_id) "
                f"WHERE t.schema_name = '{schema}'"
            )
        _union(con, "k_cust_attrs", cust_parts)
        _union(con, "k_facts_before", fact_parts)
        named = _named_values(con, contact_attrs, customer_attrs)
        labels = _attribute_labels(con) | {
            n: SCOPES["trigger"][n].label for n in FACTS if n in SCOPES["trigger"]
        }
        out = frame(con, Tables("k_targets", "k_events", "k_values"), list(named))
        extra = con.execute("SELECT key, ts, customer_id, label, source FROM k_targets ORDER BY key").df()
    finally:
        con.close()
    out = out.merge(extra, on="key", how="left")
    kept = {n: labels.get(n, n) for n in named if out[n].notna().mean() >= MIN_KNOWN}
    return Examples(out.drop(columns=[n for n in named if n not in kept]), kept)


def _union(con: duckdb.DuckDBPyConnection, name: str, parts: list[str]) -> None:
    sql = " UNION ALL BY NAME ".join(parts) if parts else "SELECT NULL::BIGINT AS key WHERE FALSE"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")


def _named_values(
    con: duckdb.DuckDBPyConnection, contact_attrs: list[str], customer_attrs: list[str]
) -> list[str]:
    """``k_values``: each target's named values, each the contact's own if it has
    one, else the customer's attribute of the snapshot before, else the profile
    fact of the run before."""
    have = {
        "c": set(contact_attrs),
        "a": {c.removeprefix("a_") for c in _columns(con, "k_cust_attrs") if c.startswith("a_")},
        "f": {c.removeprefix("f_") for c in _columns(con, "k_facts_before") if c.startswith("f_")},
    }
    names = list(dict.fromkeys([*contact_attrs, *customer_attrs, *[f for f in FACTS if f in have["f"]]]))
    types = {
        **{f"t.c_{n}": t for n, t in _types(con, "k_targets", "c_").items()},
        **{f"a.a_{n}": t for n, t in _types(con, "k_cust_attrs", "a_").items()},
        **{f"f.f_{n}": t for n, t in _types(con, "k_facts_before", "f_").items()},
    }
    exprs = []
    for n in names:
        found = [
            f"{alias}.{prefix}{n}"
            for alias, prefix, key in (("t", "c_", "c"), ("a", "a_", "a"), ("f", "f_", "f"))
            if n in have[key]
        ]
        exprs.append(f'{_coalesce(found, types)} AS "{n}"')
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_values AS
        SELECT t.key {", " + ", ".join(exprs) if exprs else ""}
        FROM k_targets t LEFT JOIN k_cust_attrs a USING (key) LEFT JOIN k_facts_before f USING (key)""")
    return names


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def _types(con: duckdb.DuckDBPyConnection, table: str, prefix: str) -> dict[str, str]:
    return {
        r[0].removeprefix(prefix): r[1]
        for r in con.execute(f"DESCRIBE {table}").fetchall()
        if r[0].startswith(prefix)
    }


def _coalesce(sources: list[str], types: dict[str, str]) -> str:
    """The first known of several sources of one value (``alias.column``), as
    text when their types disagree (a number here, a word there)."""
    quoted = [f'{s.split(".")[0]}."{s.split(".", 1)[1]}"' for s in sources]
    if len(quoted) == 1:
        return quoted[0]
    kinds = {types.get(s, "VARCHAR") for s in sources}
    numeric = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "DOUBLE", "FLOAT"}
    if (
        len(kinds) > 1
        and not kinds <= numeric
        and not all(k.startswith("DECIMAL") or k in numeric for k in kinds)
    ):
        quoted = [f"CAST({q} AS VARCHAR)" for q in quoted]
    return f"coalesce({', '.join(quoted)})"
