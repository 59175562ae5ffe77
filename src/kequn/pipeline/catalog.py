"""Runs in the analytical store: each run is a schema (``run_20261120_01``) with
profiles, recommendations and the carbon ledger, published in one transaction
with its playbook version and input snapshot recorded in ``kequn_runs``; the
``main`` views show the latest run."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from kequn.core.clock import now
from kequn.ingest.store import connect

CATALOG = "kequn_runs"
OUTPUTS = ("profiles", "recommendations", "carbon_ledger", "triggers")


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
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_schema = 'main' AND table_name = '{CATALOG}'"
    ).fetchone()
    return bool(row and row[0])


def runs(store: Path) -> list[RunInfo]:
    if not Path(store).exists():
        return []
    con = connect(store, read_only=True)
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


def publish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    sources: dict[str, str],
    snapshot_id: str,
    as_of: date,
    engine: str,
    playbook: dict[str, str],
    started_at: datetime,
    summarise: Callable[[dict[str, str]], dict[str, object]],
    derived: dict[str, str] | None = None,
) -> RunInfo:
    """Writes each output (``sources``: output name -> relation or query to read)
    into the run's schema, summarises it there, and points the views at the
    latest run, in one transaction. ``derived``: further tables of the run, built
    in DuckDB from SQL (lookups that readers would otherwise rebuild each time)."""
    schema = f"run_{run_id}"
    con.execute("BEGIN TRANSACTION")
    try:
        ensure_catalog(con)
        con.execute(f"CREATE SCHEMA {schema}")
        for name in OUTPUTS:
            con.execute(f"CREATE TABLE {schema}.{name} AS SELECT * FROM {sources[name]}")
        for name, sql in (derived or {}).items():
            con.execute(f"CREATE TABLE {schema}.{name} AS {sql}")
        summary = summarise({name: f"{schema}.{name}" for name in OUTPUTS})
        finished = now()
        con.execute(
            f"INSERT INTO {CATALOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                schema,
                snapshot_id,
                as_of,
                engine,
                playbook["name"],
                playbook["version"],
                playbook["digest"],
                playbook["source"],
                started_at,
                finished,
                json.dumps(summary, ensure_ascii=False, default=str),
            ],
        )
        latest = con.execute(
            f"SELECT schema_name FROM {CATALOG} ORDER BY as_of DESC, run_id DESC LIMIT 1"
        ).fetchone()
        assert latest is not None
        for name in OUTPUTS:
            con.execute(f"CREATE OR REPLACE VIEW main.{name} AS SELECT * FROM {latest[0]}.{name}")
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return RunInfo(
        run_id,
        schema,
        snapshot_id,
        as_of,
        engine,
        playbook["version"],
        playbook["digest"],
        started_at,
        finished,
        summary,
    )
