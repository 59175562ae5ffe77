"""The analytical store: a small catalog file and the immutable files it lists.

``bank.duckdb`` holds only catalogs (which snapshots, runs and decisions exist)
and the ``main`` views that show the latest. Each snapshot, run and decision is
a DuckDB file of its own in ``bank.duckdb.d/``, written once by the step that
makes it and published by one short catalog transaction. Readers attach the
files they need under the artifact's name (``snap_20261201``, ``run_20261201_01``),
so ``snap_20261201.customers`` reads the same as it always did.

Why: DuckDB lets one process write a file, and nobody read it meanwhile. With
every artifact in a file of its own, a night's ``kequn run`` (minutes at a
million customers) writes only its new file, and the workbench keeps reading
the last published one; the catalog file is locked for writing only for the
milliseconds a publish takes, and a step that meets that lock waits for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb

from kequn.core.errors import KequnError

FILES = "kequn_files"
KINDS = ("snapshot", "run", "decision", "history")
#: how long a step waits for another process to let go of a file
WRITER_WAIT = float(os.environ.get("KEQUN_LOCK_WAIT", "600"))
READER_WAIT = 30.0


def folder(store: Path | str) -> Path:
    store = Path(store)
    return store.with_name(store.name + ".d")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _locked(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Conflicting" in text or "Could not set lock" in text)


def open_file(path: Path | str, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    """Opens a DuckDB file, waiting while another process holds a conflicting lock."""
    deadline = time.monotonic() + wait
    pause = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            con.execute("SET TimeZone = 'Asia/Shanghai'")
            return con
        except duckdb.IOException as exc:
            if not _locked(exc) or time.monotonic() >= deadline:
                if _locked(exc):
                    raise KequnError(
                        f"{path} is held by another process (waited {wait:.0f} s): {str(exc).splitlines()[0]}"
                    ) from None
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS main.{FILES} (
            name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, as_of DATE NOT NULL,
            file VARCHAR NOT NULL, published_at TIMESTAMPTZ DEFAULT current_timestamp)""")


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'main' AND table_name = ?",
        [table],
    ).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: str
    as_of: date
    file: str


def artifacts(con: duckdb.DuckDBPyConnection) -> list[Artifact]:
    """Every published artifact, oldest first (the catalog must be the main database)."""
    if not _has(con, FILES):
        return []
    rows = con.execute(f"SELECT name, kind, as_of, file FROM main.{FILES} ORDER BY as_of, name").fetchall()
    return [Artifact(*r) for r in rows]


def attached(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}


def has_table(con: duckdb.DuckDBPyConnection, database: str, table: str) -> bool:
    """Whether the attached ``database`` holds ``table`` (an artifact written
    before a table was kept in it does not)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?", [database, table]
    ).fetchone()
    return bool(found and found[0])


def store_of(con: duckdb.DuckDBPyConnection) -> Path:
    """The catalog file a connection was opened on."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not row or not row[0]:
        raise KequnError("this connection is not on an analytical store")
    return Path(row[0])


def attach(con: duckdb.DuckDBPyConnection, store: Path | str | None, names: Iterable[str]) -> None:
    """Attaches the named artifacts (read-only) that are not attached yet
    (``store`` None: the store ``con`` was opened on)."""
    wanted = set(names) - attached(con)
    if not wanted:
        return
    store = store_of(con) if store is None else store
    known = {a.name: a for a in artifacts(con)}
    for name in sorted(wanted):
        found = known.get(name)
        if found is None:
            raise KequnError(f"{store}: no {name} in the store")
        path = folder(store) / found.file
        deadline = time.monotonic() + READER_WAIT
        while True:
            try:
                con.execute(f"ATTACH {_quote(str(path))} AS {name} (READ_ONLY)")
                break
            except duckdb.IOException as exc:
                if not _locked(exc) or time.monotonic() >= deadline:
                    raise KequnError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None
                time.sleep(0.05)


def latest(con: duckdb.DuckDBPyConnection, kind: str) -> Artifact | None:
    found = [a for a in artifacts(con) if a.kind == kind]
    return found[-1] if found else None


#: an in-memory database every cursor of a connection sees, where a temp table
#: is its own connection's alone: what one thread builds, another can read
SHARED = "k_shared"


def share(con: duckdb.DuckDBPyConnection) -> None:
    """Attaches ``SHARED`` to ``con`` (a reader too) and looks names up there
    after the catalog's own, so ``SHARED``'s tables read by their bare names."""
    if SHARED not in attached(con):
        con.execute(f"ATTACH ':memory:' AS {SHARED} (READ_WRITE)")
    _look_in_shared(con)


def shared_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A connection of its own (for another thread) to ``con``'s database, the
    artifacts and ``SHARED`` attached to ``con`` seen alike (``share`` first)."""
    cursor = con.cursor()
    _look_in_shared(cursor)
    return cursor


def _look_in_shared(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute("SELECT current_database()").fetchone()
    assert row is not None
    con.execute(f"SET search_path = {_quote(f'{row[0]}.main,{SHARED}.main')}")


def limit_memory(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """Holds ``con``'s DuckDB to ``limit`` (``2GB``, ``1500MB``): beyond it, it
    spills beside the store. A limit that is no size is refused, naming it."""
    quoted = limit.replace("'", "''")
    try:
        con.execute(f"SET memory_limit = '{quoted}'")
    except duckdb.Error as exc:
        raise KequnError(f"memory limit {limit!r}: {exc}") from None


#: compression DuckDB need not try on what the run writes: FSST (compressing
#: strings by a symbol table) is tried on each of a profile's thirty-odd text
#: columns. Without it the 1,000,000-customer run took 0.975 of the time and
#: 0.97 of the CPU (farm-bench, three pairs in turn), its file 7% larger (440
#: against 410 MB); the text columns that repeat are still dictionary-compressed
RUN_SKIPS_COMPRESSION = "fsst"


def skip_costly_compression(con: duckdb.DuckDBPyConnection) -> None:
    """Has ``con`` write tables without the compression ``RUN_SKIPS_COMPRESSION`` names."""
    con.execute(f"SET disabled_compression_methods = '{RUN_SKIPS_COMPRESSION}'")


def reader(
    store: Path | str, names: Iterable[str] | Literal["all"] | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the store with the named artifacts attached,
    (``names`` None) the latest snapshot, run and decision, or every one."""
    con = open_file(store, read_only=True, wait=READER_WAIT)
    try:
        if names is None:
            names = [a.name for k in KINDS if (a := latest(con, k)) is not None]
        elif names == "all":
            names = [a.name for a in artifacts(con)]
        attach(con, store, names)
    except BaseException:
        con.close()
        raise
    return con


def writer(store: Path | str) -> duckdb.DuckDBPyConnection:
    """The catalog open for writing (waiting for readers to let go); a store in
    the older layout, every artifact a schema of the catalog file, is moved
    into files first."""
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    con = open_file(store, read_only=False, wait=WRITER_WAIT)
    try:
        _ensure(con)
        _move_out_schemas(con, store)
        _clear_leftovers(con, store)
    except BaseException:
        con.close()
        raise
    return con


@dataclass
class NewFile:
    """An artifact being written: attached read-write in the writing connection
    under its own name, its file not yet listed in the catalog."""

    name: str
    kind: str
    as_of: date
    file: str
    path: Path


@contextmanager
def new_artifact(
    con: duckdb.DuckDBPyConnection, store: Path | str, name: str, kind: str, as_of: date
) -> Iterator[NewFile]:
    """Attaches a fresh file as ``name`` in ``con`` (which may be read-only);
    detaches it when the block ends. Nothing is visible to readers until
    ``publish`` lists the file; a failed block leaves only a file that the
    next writer deletes."""
    if kind not in KINDS:
        raise ValueError(kind)
    where = folder(store)
    where.mkdir(parents=True, exist_ok=True)
    file = f"{name}.{uuid.uuid4().hex[:12]}.duckdb"
    path = where / file
    if name in attached(con):
        con.execute(f"DETACH {name}")
    con.execute(f"ATTACH {_quote(str(path))} AS {name} (READ_WRITE)")
    made = NewFile(name, kind, as_of, file, path)
    try:
        yield made
        con.execute(f"CHECKPOINT {name}")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"DETACH {name}")
        path.unlink(missing_ok=True)
        Path(str(path) + ".wal").unlink(missing_ok=True)
        raise
    con.execute(f"DETACH {name}")


def publish(
    store: Path | str,
    made: NewFile,
    catalog: Callable[[duckdb.DuckDBPyConnection], None],
) -> None:
    """Lists ``made`` in the catalog and runs ``catalog`` (the kind's own rows
    and views) in one transaction; the file it replaces is deleted after."""
    con = writer(store)
    old: str | None = None
    try:
        con.execute("BEGIN TRANSACTION")
        row = con.execute(f"SELECT file FROM main.{FILES} WHERE name = ?", [made.name]).fetchone()
        old = row[0] if row else None
        con.execute(f"DELETE FROM main.{FILES} WHERE name = ?", [made.name])
        con.execute(
            f"INSERT INTO main.{FILES} (name, kind, as_of, file) VALUES (?, ?, ?, ?)",
            [made.name, made.kind, made.as_of, made.file],
        )
        # the kind's catalog reads the new file under its name
        con.execute(f"ATTACH {_quote(str(made.path))} AS {made.name} (READ_ONLY)")
        catalog(con)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        con.close()
        raise
    con.close()
    if old and old != made.file:
        _remove(folder(store) / old)


def rewrite(store: Path | str, name: str, change: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """Changes one published artifact in place (an erasure is the only reason):
    its file opened for writing, waiting for its readers to let go."""
    con = open_file(store, read_only=True, wait=READER_WAIT)
    try:
        found = {a.name: a for a in artifacts(con)}.get(name)
    finally:
        con.close()
    if found is None:
        raise KequnError(f"{store}: no {name} in the store")
    target = open_file(":memory:", read_only=False, wait=0)
    try:
        path = folder(store) / found.file
        deadline = time.monotonic() + WRITER_WAIT
        while True:
            try:
                target.execute(f"ATTACH {_quote(str(path))} AS {name} (READ_WRITE)")
                break
            except duckdb.IOException as exc:
                if not _locked(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
        target.execute("BEGIN TRANSACTION")
        change(target)
        target.execute("COMMIT")
        target.execute(f"DETACH {name}")
    finally:
        target.close()


def _remove(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        with contextlib.suppress(OSError):
            p.unlink()


def _unlisted(where: Path, listed: set[str], pattern: str = "*.duckdb") -> Iterator[Path]:
    """The files in ``where`` matching ``pattern`` that no catalog row lists."""
    return (p for p in where.glob(pattern) if p.name not in listed)


def clear_unlisted(store: Path | str, prefix: str) -> None:
    """Files named ``prefix…`` that no catalog row lists, whatever their age: for
    a step holding the lock on what it writes (an ingest and its snapshot files),
    so that a file no catalog lists can only have been left by a killed step."""
    where = folder(store)
    if not where.is_dir():
        return
    listed: set[str] = set()
    if Path(store).exists():
        con = reader(store, [])
        try:
            listed = {a.file for a in artifacts(con)}
        finally:
            con.close()
    for p in _unlisted(where, listed, f"{prefix}*.duckdb"):
        _remove(p)


def _clear_leftovers(con: duckdb.DuckDBPyConnection, store: Path) -> None:
    """Files that no catalog row lists: left by a killed step, or replaced."""
    where = folder(store)
    if not where.is_dir():
        return
    cutoff = time.time() - 24 * 3600
    for p in _unlisted(where, {a.file for a in artifacts(con)}):
        # a file being written right now by another step is young: keep it
        if p.stat().st_mtime < cutoff:
            _remove(p)


def _move_out_schemas(con: duckdb.DuckDBPyConnection, store: Path) -> None:
    """The older layout kept snapshots, runs and decisions as schemas of the
    catalog file: each moves into a file of its own, once."""
    legacy = [
        r[0]
        for r in con.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database() "
            "AND (schema_name LIKE 'snap\\_%' ESCAPE '\\' OR schema_name LIKE 'run\\_%' ESCAPE '\\' "
            "OR schema_name LIKE 'decision\\_%' ESCAPE '\\')"
        ).fetchall()
    ]
    if not legacy:
        return
    where = folder(store)
    where.mkdir(parents=True, exist_ok=True)
    for schema in legacy:
        kind = "snapshot" if schema.startswith("snap_") else schema.split("_")[0]
        digits = "".join(ch for ch in schema.split("_")[1])[:8]
        as_of = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        file = f"{schema}.{uuid.uuid4().hex[:12]}.duckdb"
        con.execute(f"ATTACH {_quote(str(where / file))} AS _moving (READ_WRITE)")
        for (table,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_schema = ? AND table_type = 'BASE TABLE'",
            [schema],
        ).fetchall():
            con.execute(f'CREATE TABLE _moving.main."{table}" AS SELECT * FROM {schema}."{table}"')
        con.execute("DETACH _moving")
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"INSERT INTO main.{FILES} (name, kind, as_of, file) VALUES (?, ?, ?, ?)",
            [schema, kind, as_of, file],
        )
        con.execute(f"DROP SCHEMA {schema} CASCADE")
        con.execute("COMMIT")


def copy_store(source: Path | str, target: Path | str) -> Path:
    """A copy of a whole store (catalog and files), as a backup or a test's own."""
    source, target = Path(source), Path(target)
    shutil.copy(source, target)
    if folder(source).is_dir():
        shutil.copytree(folder(source), folder(target), dirs_exist_ok=True)
    return target


def remove_store(store: Path | str) -> None:
    store = Path(store)
    _remove(store)
    shutil.rmtree(folder(store), ignore_errors=True)
