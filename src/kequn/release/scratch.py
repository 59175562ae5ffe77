"""Scratch copies of a bank's two stores, for a rehearsal that must leave the
real ones untouched.

The analytical store's artifacts are immutable once published (see
``kequn.warehouse``), so a copy links them instead of copying gigabytes; only
the small catalog file is copied. The operational store is copied where it
lives: a SQLite file byte for byte through SQLite's backup API; a PostgreSQL
store into a schema of its own in the same database, filled by the server
itself from one consistent snapshot (no row crosses into Python), with its own
sequences so that nothing written there moves the real store's, and dropped
when the rehearsal ends."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from kequn import warehouse
from kequn.store import Base

#: the prefix of a rehearsal's schema in a PostgreSQL store (one left by a
#: killed rehearsal is recognisable, and never the store's own)
SCRATCH_PREFIX = "kequn_rehearsal_"

#: tables that only the customer's page reads, rebuilt from the snapshot for each
#: changed card by decide's sync: a rehearsal starts them empty (no rule reads them,
#: and at a million customers they are half the store)
FOR_THE_PAGE_ONLY = ("customer_holdings", "customer_timeline")


def clone_store(source: Path, target: Path) -> Path:
    """The analytical store at ``target``: its catalog copied, its immutable
    artifact files linked (copied where the file system cannot link)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    src_dir, dst_dir = warehouse.folder(source), warehouse.folder(target)
    if src_dir.is_dir():
        dst_dir.mkdir(exist_ok=True)
        for path in src_dir.iterdir():
            if not path.is_file() or path.suffix != ".duckdb":
                continue  # a write in progress (.wal, .tmp) is not part of what was published
            try:
                os.link(path, dst_dir / path.name)
            except OSError:
                shutil.copy(path, dst_dir / path.name)
    return target


@contextmanager
def scratch_ops(url: str, target: Path) -> Iterator[str]:
    """A scratch copy of the operational store at ``url`` for as long as the
    block runs; yields its URL (a SQLite file at ``target``, or a schema of its
    own beside a PostgreSQL store's)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{parsed.database}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # a consistent copy, even while the workbench writes
        finally:
            copy.close()
            source.close()
        yield f"sqlite:///{target}"
        return
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    schema = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    engine = create_engine(parsed)
    try:
        with engine.connect() as con:
            # one snapshot of every table, even while the workbench writes
            con.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            _copy_schema(con, str(con.execute(text("SELECT current_schema()")).scalar_one()), schema)
            con.commit()
        given = parsed.query.get("options") or ""
        given = given if isinstance(given, str) else " ".join(given)
        options = f"{given} -csearch_path={schema}".strip()
        try:
            yield parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)
        finally:
            with engine.begin() as con:
                con.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()


def _copy_schema(con: Connection, source: str, schema: str) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    present = set(
        con.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": source}
        ).scalars()
    )
    con.execute(text(f'CREATE SCHEMA "{schema}"'))
    for name in [*tables, "alembic_version"]:
        if name not in present:
            continue
        # LIKE ... INCLUDING ALL: columns, defaults, checks and indexes (not the
        # foreign keys, which a copy taken whole does not need)
        con.execute(text(f'CREATE TABLE "{schema}"."{name}" (LIKE "{source}"."{name}" INCLUDING ALL)'))
        if name not in FOR_THE_PAGE_ONLY:
            con.execute(text(f'INSERT INTO "{schema}"."{name}" SELECT * FROM "{source}"."{name}"'))
    # a copied default still draws on the store's own sequence: give each its own
    serials = con.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = :s AND column_default LIKE 'nextval(%'"
        ),
        {"s": schema},
    ).all()
    for table, column in serials:
        seq, owner = f'"{schema}"."{table}_{column}_seq"', f'"{schema}"."{table}"'
        con.execute(text(f'CREATE SEQUENCE {seq} OWNED BY {owner}."{column}"'))
        con.execute(text(f"SELECT setval('{seq}', coalesce(max(\"{column}\"), 0) + 1, false) FROM {owner}"))
        con.execute(text(f"ALTER TABLE {owner} ALTER COLUMN \"{column}\" SET DEFAULT nextval('{seq}')"))
