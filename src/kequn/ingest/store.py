"""The analytical store: a DuckDB file holding every dated snapshot.

Each snapshot lives in its own schema (``snap_20261120``) and is published in
one transaction: the tables, its quarantine, its row in ``kequn_snapshots``
and the ``main`` views that point at the latest snapshot. A killed ingest
leaves no trace; re-ingesting the same as-of date replaces that snapshot.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from kequn.contract import CONTRACT_VERSION, TABLES
from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.ingest.sql import ident, literal

CATALOG = "kequn_snapshots"
#: customers whose personal data was erased (a deletion request, or retention):
#: every snapshot, the ones ingested later included, keeps them erased
ERASURES = "kequn_erasures"


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: str
    as_of: date
    schema: str
    ingested_at: datetime
    source: str
    digest: str
    report: dict[str, object]


def schema_for(as_of: date) -> str:
    return f"snap_{as_of:%Y%m%d}"


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    return con


def _ensure_catalog(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS main.{CATALOG} (
            snapshot_id VARCHAR PRIMARY KEY, as_of DATE NOT NULL, schema_name VARCHAR NOT NULL,
            ingested_at TIMESTAMPTZ NOT NULL, source VARCHAR, digest VARCHAR,
            contract_version VARCHAR, report JSON)""")


def publish(
    store: Path, stage: Path, as_of: date, source: str, digest: str, report: dict[str, object]
) -> SnapshotInfo:
    """Copies the accepted rows and quarantine from the stage into a new
    snapshot schema, atomically."""
    schema = schema_for(as_of)
    snapshot_id = as_of.isoformat()
    ingested_at = now()
    con = connect(store)
    try:
        con.execute(f"ATTACH {literal(str(stage))} AS stage (READ_ONLY)")
        con.execute("BEGIN TRANSACTION")
        _ensure_catalog(con)
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
        for name, table in TABLES.items():
            cols = ", ".join(ident(c) for c in table.column_names)
            con.execute(f"CREATE TABLE {schema}.{name} AS SELECT {cols} FROM stage.accepted_{name}")
        con.execute(f"""
            CREATE TABLE {schema}.quarantine AS
            SELECT * FROM stage.quarantine ORDER BY table_name, file, line""")
        con.execute(f"DELETE FROM {CATALOG} WHERE snapshot_id = ?", [snapshot_id])
        con.execute(
            f"INSERT INTO {CATALOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                snapshot_id,
                as_of,
                schema,
                ingested_at,
                source,
                digest,
                CONTRACT_VERSION,
                json.dumps(report, ensure_ascii=False, default=str),
            ],
        )
        if _has_table(con, ERASURES):
            _erase(con, schema)
        _point_views_at_latest(con)
        con.execute("COMMIT")
        con.execute("DETACH stage")
        con.execute("CHECKPOINT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return SnapshotInfo(snapshot_id, as_of, schema, ingested_at, source, digest, report)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
        [name],
    ).fetchone()
    return bool(found and found[0])


def _erase(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Erases the personal fields of every customer in ``kequn_erasures`` from one
    snapshot, and the quarantined rows' raw values that name them."""
    # holdings and transactions (account numbers) are what anti-money-laundering
    # rules keep: they stay, under the customer number, which is a pseudonym
    personal = [c.name for c in TABLES["customers"].columns if c.personal]
    sets = ", ".join(f"{ident(c)} = NULL" for c in personal)
    con.execute(
        f"UPDATE {schema}.customers SET {sets} WHERE customer_id IN (SELECT customer_id FROM main.{ERASURES})"
    )
    con.execute(f"""
        UPDATE {schema}.quarantine q SET value = NULL, record = NULL
        FROM main.{ERASURES} e
        WHERE q.record IS NOT NULL AND contains(CAST(q.record AS VARCHAR), e.customer_id)""")


def erase_customers(store: Path, customer_ids: list[str], reason: str) -> int:
    """Erases the customers' personal fields from every snapshot in the store and
    keeps them erased in snapshots ingested later; one transaction."""
    con = connect(store)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"""
            CREATE TABLE IF NOT EXISTS main.{ERASURES} (
                customer_id VARCHAR PRIMARY KEY, erased_at TIMESTAMPTZ NOT NULL, reason VARCHAR)""")
        moment = now()
        for cid in customer_ids:
            con.execute(
                f"INSERT INTO main.{ERASURES} VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [cid, moment, reason]
            )
        schemas = (
            [r[0] for r in con.execute(f"SELECT schema_name FROM {CATALOG}").fetchall()]
            if _has_table(con, CATALOG)
            else []
        )
        for schema in schemas:
            _erase(con, schema)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return len(customer_ids)


def _point_views_at_latest(con: duckdb.DuckDBPyConnection) -> None:
    latest = con.execute(f"SELECT schema_name FROM {CATALOG} ORDER BY as_of DESC LIMIT 1").fetchone()
    if latest is None:
        return
    for name in (*TABLES, "quarantine"):
        con.execute(f"CREATE OR REPLACE VIEW main.{name} AS SELECT * FROM {latest[0]}.{name}")


def snapshots(store: Path) -> list[SnapshotInfo]:
    if not Path(store).exists():
        return []
    con = connect(store, read_only=True)
    try:
        found = con.execute(
            f"SELECT count(*) FROM information_schema.tables WHERE table_name = '{CATALOG}'"
        ).fetchone()
        if not found or not found[0]:
            return []
        rows = con.execute(
            f"SELECT snapshot_id, as_of, schema_name, ingested_at, source, digest, "
            f"report FROM {CATALOG} ORDER BY as_of"
        ).fetchall()
    finally:
        con.close()
    return [SnapshotInfo(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]


def latest(store: Path) -> SnapshotInfo:
    found = snapshots(store)
    if not found:
        raise KequnError(f"{store}: no snapshot has been ingested yet (run `kequn ingest`)")
    return found[-1]
