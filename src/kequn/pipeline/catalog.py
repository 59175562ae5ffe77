"""Runs in the analytical store: each run is a file of its own (``run_20261120_01``,
see ``kequn.warehouse``) with profiles, recommendations and triggers (and the
lookups derived with them), listed with its playbook version and input
snapshot in ``kequn_runs``; the ``main`` views show the latest run."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from kequn import warehouse
from kequn.core.clock import now
from kequn.core.faults import point

CATALOG = "kequn_runs"
OUTPUTS = ("profiles", "recommendations", "triggers")
#: outputs of earlier runs that later runs no longer write: their ``main``
#: views are dropped when a later run is listed, not left on an old run
RETIRED = ("carbon_ledger",)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    schema: str
    snapshot_id: str
    as_of: date
    engine: str
    playbook_version: str
    playbook_digest: str
    started_at: datetime
    finished_at: datetime
    summary: dict[str, object]


def ensure_catalog(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS main.{CATALOG} (
            run_id VARCHAR PRIMARY KEY, schema_name VARCHAR NOT NULL, snapshot_id VARCHAR NOT NULL,
            as_of DATE NOT NULL, engine VARCHAR NOT NULL, playbook_name VARCHAR,
            playbook_version VARCHAR, playbook_digest VARCHAR, playbook_source VARCHAR,
            started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, summary JSON)""")


def _has_catalog(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        f"AND table_schema = 'main' AND table_name = '{CATALOG}'"
    ).fetchone()
    return bool(row and row[0])


def runs(store: Path) -> list[RunInfo]:
    if not Path(store).exists():
        return []
    con = warehouse.reader(store, [])
    try:
        return list_runs(con)
    finally:
        con.close()


def list_runs(con: duckdb.DuckDBPyConnection) -> list[RunInfo]:
    if not _has_catalog(con):
        return []
    rows = con.execute(f"""
        SELECT run_id, schema_name, snapshot_id, as_of, engine, playbook_version,
               playbook_digest, started_at, finished_at, summary
        FROM {CATALOG} ORDER BY as_of, run_id""").fetchall()
    return [
        RunInfo(
            run_id=r[0],
            schema=r[1],
            snapshot_id=r[2],
            as_of=r[3],
            engine=r[4],
            playbook_version=r[5],
            playbook_digest=r[6],
            started_at=r[7],
            finished_at=r[8],
            summary=json.loads(r[9]) if r[9] else {},
        )
        for r in rows
    ]


def previous_run(con: duckdb.DuckDBPyConnection, as_of: date) -> RunInfo | None:
    """The latest run on an earlier snapshot: what tiers and migrations compare with."""
    earlier = [r for r in list_runs(con) if r.as_of < as_of]
    return earlier[-1] if earlier else None


def next_run_id(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    same_day = [r for r in list_runs(con) if r.as_of == as_of]
    return f"{as_of:%Y%m%d}_{len(same_day) + 1:02d}"


@dataclass
class RunWritten:
    """A run's file, written but not yet listed: ``list_run`` publishes it once
    the writing connection is closed (one process may not hold the catalog
    read-only and read-write at once)."""

    made: warehouse.NewFile
    info: RunInfo
    playbook: dict[str, str]


def write_run(
    con: duckdb.DuckDBPyConnection,
    made: warehouse.NewFile,
    run_id: str,
    sources: dict[str, str],
    snapshot_id: str,
    as_of: date,
    engine: str,
    playbook: dict[str, str],
    started_at: datetime,
    summarise: Callable[[dict[str, str]], dict[str, object]],
    derived: dict[str, Callable[[str], str]] | None = None,
    order: Mapping[str, str] | None = None,
    indexed: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None,
    kept: Collection[str] = (),
    views: Mapping[str, str] | None = None,
) -> RunWritten:
    """Writes each table of the run (``sources``: table name -> relation or
    query to read, in ``con``) into the run's own file ``made`` (``run_file``),
    but those the run already ``kept`` there, and summarises its ``OUTPUTS``
    there. ``views``: outputs read through a view over those tables (its SQL
    names them unqualified, bound in the run's file); ``derived``: further
    tables of the run, each built from the SQL its function gives for the run's
    schema (lookups that readers would otherwise rebuild each time); ``order``:
    the order to write a table in; ``indexed``: indexes the run's tables once
    they are written."""
    schema = made.name
    for name, source in sources.items():
        if name in kept:
            continue
        ordered = f" ORDER BY {order[name]}" if order and name in order else ""
        con.execute(f"CREATE TABLE {schema}.{name} AS SELECT * FROM {source}{ordered}")
    for name, view in (views or {}).items():
        con.execute(f"CREATE VIEW {schema}.{name} AS {view}")
    for name, sql in (derived or {}).items():
        con.execute(f"CREATE TABLE {schema}.{name} AS {sql(schema)}")
    if indexed is not None:
        indexed(con, schema)
    summary = summarise({name: f"{schema}.{name}" for name in OUTPUTS})
    info = RunInfo(
        run_id,
        schema,
        snapshot_id,
        as_of,
        engine,
        playbook["version"],
        playbook["digest"],
        started_at,
        now(),
        summary,
    )
    return RunWritten(made, info, playbook)


def run_file(
    con: duckdb.DuckDBPyConnection, store: Path, run_id: str, as_of: date
) -> AbstractContextManager[warehouse.NewFile]:
    """The run's own file, attached as its schema while it is written (nothing
    of it is read by others until ``list_run``; a failed run leaves nothing)."""
    return warehouse.new_artifact(con, store, f"run_{run_id}", "run", as_of)


def list_run(store: Path, written: RunWritten) -> RunInfo:
    """Lists the run in ``kequn_runs`` and points the views at the latest run, in
    one catalog transaction."""
    info, playbook = written.info, written.playbook
    point("run.publish")

    def catalog(cat: duckdb.DuckDBPyConnection) -> None:
        ensure_catalog(cat)
        cat.execute(f"DELETE FROM {CATALOG} WHERE run_id = ?", [info.run_id])
        cat.execute(
            f"INSERT INTO {CATALOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                info.run_id,
                info.schema,
                info.snapshot_id,
                info.as_of,
                info.engine,
                playbook["name"],
                playbook["version"],
                playbook["digest"],
                playbook["source"],
                info.started_at,
                info.finished_at,
                json.dumps(info.summary, ensure_ascii=False, default=str),
            ],
        )
        latest = cat.execute(
            f"SELECT schema_name FROM {CATALOG} ORDER BY as_of DESC, run_id DESC LIMIT 1"
        ).fetchone()
        assert latest is not None
        warehouse.attach(cat, store, [latest[0]])
        for name in OUTPUTS:
            cat.execute(f"CREATE OR REPLACE VIEW main.{name} AS SELECT * FROM {latest[0]}.{name}")
        for name in RETIRED:
            cat.execute(f"DROP VIEW IF EXISTS main.{name}")

    warehouse.publish(store, written.made, catalog)
    return info
