"""Snapshots in the analytical store (see ``kequn.warehouse``): each dated
snapshot is a file of its own (``snap_20261120``: the contract's tables, its
quarantine and the tables derived from them, see ``derived``), listed in
``kequn_snapshots`` with its report; the ``main`` views show the latest. A
killed ingest leaves no trace; re-ingesting the same as-of date replaces that
snapshot."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from kequn import warehouse
from kequn.contract import CONTRACT_VERSION, TABLES, Table
from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.core.faults import point
from kequn.ingest.derived import write_derived
from kequn.ingest.sql import ident
from kequn.ingest.stage import HELPER_COLUMNS

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
    """The store: read-only with the latest snapshot, run and decision attached
    (``warehouse.attach`` adds others), or its catalog open for writing."""
    return warehouse.reader(path) if read_only else warehouse.writer(path)


def _ensure_catalog(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS main.{CATALOG} (
            snapshot_id VARCHAR PRIMARY KEY, as_of DATE NOT NULL, schema_name VARCHAR NOT NULL,
            ingested_at TIMESTAMPTZ NOT NULL, source VARCHAR, digest VARCHAR,
            contract_version VARCHAR, report JSON)""")


def _erased(store: Path) -> list[str]:
    if not Path(store).exists():
        return []
    con = warehouse.reader(store, [])
    try:
        if not _has_table(con, ERASURES):
            return []
        return [r[0] for r in con.execute(f"SELECT customer_id FROM main.{ERASURES}").fetchall()]
    finally:
        con.close()


def seal(
    store: Path,
    stage: duckdb.DuckDBPyConnection,
    schema: str,
    tables: Mapping[str, Table] | None = None,
) -> list[str]:
    """Makes the snapshot being written as ``schema`` in the stage connection
    whole: each table's checked rows (written there as the files were read, see
    ``stage.checked_table``) lose their rejected rows and helper columns in
    place, the ``quarantine`` and the derived tables (``derived``) are written
    beside them, and customers erased before keep their personal fields
    erased. Returns the customers erased (``tables``: the contract's, with the
    bank's attributes)."""
    erased = _erased(store)
    for name, table in (tables or TABLES).items():
        # a checked row's _row is its rowid (see stage)
        stage.execute(f"DELETE FROM {schema}.{name} WHERE rowid IN (SELECT _row FROM memory.main.bad_{name})")
        for helper in HELPER_COLUMNS:
            stage.execute(f"ALTER TABLE {schema}.{name} DROP COLUMN {helper}")
        kept = [r[0] for r in stage.execute(f"DESCRIBE {schema}.{name}").fetchall()]
        if kept != list(table.column_names):  # the snapshot's columns are the contract's, in its order
            raise KequnError(f"snapshot table {name} holds {kept}, not {list(table.column_names)}")
    stage.execute(f"""
        CREATE TABLE {schema}.quarantine AS
        SELECT * FROM memory.main.quarantine ORDER BY table_name, file, line""")
    if erased:
        _erase(stage, schema, erased)
    write_derived(stage, schema)
    return erased


def publish(
    store: Path,
    made: warehouse.NewFile,
    source: str,
    digest: str,
    report: dict[str, object],
    erased: Sequence[str],
) -> SnapshotInfo:
    """Lists the snapshot file ``made`` (sealed, see ``seal``) in the catalog and
    points the store's views at the latest snapshot, atomically."""
    as_of = made.as_of
    schema = made.name
    snapshot_id = as_of.isoformat()
    ingested_at = now()
    point("ingest.publish")

    def catalog(cat: duckdb.DuckDBPyConnection) -> None:
        _ensure_catalog(cat)
        cat.execute(f"DELETE FROM {CATALOG} WHERE snapshot_id = ?", [snapshot_id])
        cat.execute(
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
        _point_views_at_latest(cat, store)

    warehouse.publish(store, made, catalog)
    # a deletion answered while this snapshot was being written reaches it too
    late = sorted(set(_erased(store)) - set(erased))
    if late:
        warehouse.rewrite(store, schema, lambda c: _erase(c, schema, late))
    return SnapshotInfo(snapshot_id, as_of, schema, ingested_at, source, digest, report)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'main' AND table_name = ?",
        [name],
    ).fetchone()
    return bool(found and found[0])


def _erase(con: duckdb.DuckDBPyConnection, schema: str, customer_ids: Sequence[str]) -> None:
    """Erases the personal fields of ``customer_ids`` from one snapshot, and the
    quarantined rows' raw values that name them."""
    # holdings and transactions (account numbers) are what anti-money-laundering
    # rules keep: they stay, under the customer number, which is a pseudonym
    con.execute("CREATE OR REPLACE TEMP TABLE _erasing (customer_id VARCHAR)")
    con.execute("INSERT INTO _erasing SELECT unnest(?)", [list(customer_ids)])
    personal = [c.name for c in TABLES["customers"].columns if c.personal]
    sets = ", ".join(f"{ident(c)} = NULL" for c in personal)
    con.execute(
        f"UPDATE {schema}.customers SET {sets} WHERE customer_id IN (SELECT customer_id FROM _erasing)"
    )
    con.execute(f"""
        UPDATE {schema}.quarantine q SET value = NULL, record = NULL
        FROM _erasing e
        WHERE q.record IS NOT NULL AND contains(CAST(q.record AS VARCHAR), e.customer_id)""")


def erase_customers(store: Path, customer_ids: list[str], reason: str) -> int:
    """Erases the customers' personal fields from every snapshot in the store and
    keeps them erased in snapshots ingested later."""
    con = warehouse.writer(store)
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
        con.execute("COMMIT")
        schemas = [a.name for a in warehouse.artifacts(con) if a.kind == "snapshot"]
    finally:
        con.close()
    # the list is kept first: a snapshot published meanwhile applies it itself
    for schema in schemas:
        warehouse.rewrite(store, schema, lambda c, s=schema: _erase(c, s, customer_ids))  # type: ignore[misc]
    return len(customer_ids)


def _point_views_at_latest(con: duckdb.DuckDBPyConnection, store: Path) -> None:
    latest = con.execute(f"SELECT schema_name FROM {CATALOG} ORDER BY as_of DESC LIMIT 1").fetchone()
    if latest is None:
        return
    warehouse.attach(con, store, [latest[0]])
    for name in (*TABLES, "quarantine"):
        con.execute(f"CREATE OR REPLACE VIEW main.{name} AS SELECT * FROM {latest[0]}.{name}")


def snapshots(store: Path) -> list[SnapshotInfo]:
    if not Path(store).exists():
        return []
    con = warehouse.reader(store, [])
    try:
        if not _has_table(con, CATALOG):
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
