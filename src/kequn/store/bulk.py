"""Moving many rows into the operational store fast: PostgreSQL's COPY, SQLite's
executemany, both inside the caller's transaction."""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import tempfile
import threading
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from kequn.store.models import sqlite_instant


def _copy_value(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, (dict, list)):
        v = json.dumps(v, ensure_ascii=False, default=str)
    elif isinstance(v, (datetime, date)):
        v = v.isoformat()
    elif isinstance(v, Decimal):
        v = format(v, "f")
    s = str(v)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def sqlite_value(v: Any) -> Any:
    """A value as the store's SQLite types keep it (see store.models: Money as
    text, Instant as naive UTC, JSON as text)."""
    if isinstance(v, Decimal):
        return str(v.quantize(Decimal("0.01")))
    if isinstance(v, datetime):
        return sqlite_instant(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return v


def load_rows(
    con: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    upsert_key: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
) -> int:
    """Inserts ``rows`` (or upserts on ``upsert_key``, updating ``update``)."""
    if not rows:
        return 0
    cols = ", ".join(columns)
    conflict = ""
    if upsert_key:
        sets = ", ".join(f"{c} = excluded.{c}" for c in (update or []))
        conflict = f" ON CONFLICT ({', '.join(upsert_key)}) DO " + (
            f"UPDATE SET {sets}" if sets else "NOTHING"
        )
    if con.dialect.name == "postgresql":
        raw = con.connection.driver_connection  # psycopg connection, same transaction
        staging = f"_load_{table}"
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            cur.execute(f"TRUNCATE {staging}")
            buf = io.StringIO()
            for r in rows:
                buf.write("\t".join(_copy_value(v) for v in r))
                buf.write("\n")
            with cur.copy(f"COPY {staging} ({cols}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging}{conflict}")
        return len(rows)
    # the DB-API cursor with plain tuples: SQLAlchemy's per-row dict handling costs
    # more than SQLite itself at a million rows
    marks = ", ".join("?" for _ in columns)
    cur = con.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cur.executemany(
        f"INSERT INTO {table} ({cols}) VALUES ({marks}){conflict}",
        [tuple(sqlite_value(v) for v in r) for r in rows],
    )
    cur.close()
    return len(rows)


def update_column(con: Connection, table: str, key: str, column: str, rows: Sequence[tuple[Any, Any]]) -> int:
    """Sets ``column`` to each row's value where ``key`` matches: (key, value) pairs."""
    if not rows:
        return 0
    if con.dialect.name == "postgresql":
        raw = con.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS _upd_{table} (k text, v text) ON COMMIT DROP")
            cur.execute(f"TRUNCATE _upd_{table}")
            with cur.copy(f"COPY _upd_{table} (k, v) FROM STDIN") as copy:
                for k, v in rows:
                    copy.write_row((k, v))
            cur.execute(
                "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = %s::regclass AND a.attname = %s",
                (table, column),
            )
            found = cur.fetchone()
            kind = found[0] if found else "text"  # the staged text, cast to the column's own type
            cur.execute(
                f"UPDATE {table} t SET {column} = u.v::{kind} FROM _upd_{table} u WHERE t.{key} = u.k"
            )
        return len(rows)
    cur = con.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cur.executemany(
        f"UPDATE {table} SET {column} = ? WHERE {key} = ?", [(sqlite_value(v), k) for k, v in rows]
    )
    cur.close()
    return len(rows)


@contextlib.contextmanager
def indexes_after(con: Connection, tables: Sequence[str]) -> Iterator[None]:
    """On PostgreSQL, fills empty ``tables`` without their secondary indexes,
    built again once the rows are in, inside the caller's transaction: one
    sorted build instead of millions of scattered inserts (a million
    customers' timeline: 12 s instead of 19 s). A table holding rows keeps its
    indexes, and so does SQLite, whose DDL outside a transaction would commit."""
    kept: list[str] = []
    if con.dialect.name == "postgresql":
        for table in tables:
            if con.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
                continue
            # the indexes behind a constraint (the primary key) stay: they are the table's rules
            found = con.execute(
                text("""
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.tablename = :t AND i.schemaname = current_schema()
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                  WHERE c.conname = i.indexname AND c.conrelid = CAST(:t AS regclass))"""),
                {"t": table},
            ).all()
            for name, definition in found:
                con.execute(text(f'DROP INDEX "{name}"'))
                kept.append(definition)
    yield
    if kept:
        con.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for definition in kept:
        con.execute(text(definition))


def _csv_stream(duck: Any, query: str) -> Iterator[bytes]:
    """The query's rows as DuckDB writes them in CSV, read while it writes: its
    COPY goes to a pipe from a thread of its own, so the database reading the
    rows works beside DuckDB instead of after it. A DuckDB that fails raises
    here, before the copy could end as if it were whole."""
    folder = tempfile.mkdtemp(prefix="kequn-copy-")
    pipe = os.path.join(folder, "rows.csv")
    os.mkfifo(pipe)
    # the reading end first, not waiting for a writer: DuckDB's open never blocks
    fd = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    failed: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            duck.execute(
                f"COPY ({query}) TO '{pipe}' (FORMAT csv, HEADER false, NULLSTR '\\N', USE_TMP_FILE false)"
            )
        except BaseException as exc:  # re-raised by the reader
            failed.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write, name="kequn-copy", daemon=True)
    writer.start()
    try:
        while True:
            # whether DuckDB had finished is asked before the read: asked after
            # it, a writer that came, wrote every row and went between an empty
            # read (no writer yet) and the question left its rows unread in the
            # pipe, and the copy ended as if whole with none of them (a busy
            # machine's decide once synced no products that way)
            finished = done.is_set()
            try:
                chunk = os.read(fd, 1 << 22)
            except BlockingIOError:  # DuckDB is writing: wait for its next rows
                select.select([fd], [], [], 0.05)
                continue
            if chunk:
                yield chunk
            elif finished:  # no writer since before this read, and nothing left in the pipe
                break
            else:  # DuckDB has not opened the pipe yet, or is between files
                done.wait(0.005)
        writer.join()
        if failed:
            raise failed[0]
    finally:
        os.close(fd)  # no reader: a DuckDB still writing fails and its thread ends
        while writer.is_alive():
            # a DuckDB not yet at the pipe would wait at its open for a reader:
            # one comes and goes, so its first write fails too
            os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
            writer.join(0.05)
        os.unlink(pipe)
        os.rmdir(folder)


def copy_from_duckdb(
    duck: Any,
    query: str,
    con: Connection,
    table: str,
    columns: Sequence[str],
    replace: bool = False,
    upsert_key: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
) -> int:
    """Streams a DuckDB query's rows into an operational table (``replace``:
    emptying it first; ``upsert_key``: updating ``update`` on a clash), without
    holding them all in Python."""
    if replace:
        con.execute(text(f"DELETE FROM {table}"))
    cols = ", ".join(columns)
    conflict = ""
    if upsert_key:
        sets = ", ".join(f"{c} = excluded.{c}" for c in (update or []))
        conflict = f" ON CONFLICT ({', '.join(upsert_key)}) DO " + (
            f"UPDATE SET {sets}" if sets else "NOTHING"
        )
    n = 0
    if con.dialect.name == "postgresql":
        raw = con.connection.driver_connection
        target = table
        with raw.cursor() as cur:  # type: ignore[union-attr]
            if upsert_key:
                target = f"_stream_{table}"
                cur.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {target} "
                    f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
                )
                cur.execute(f"TRUNCATE {target}")
            with cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv, NULL '\\N')") as copy:
                for chunk in _csv_stream(duck, query):
                    copy.write(chunk)
            n = cur.rowcount
            if upsert_key:
                cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {target}{conflict}")
        return n
    # DuckDB renders each value as SQLite keeps it, so rows go to the cursor as they come
    cur = con.connection.driver_connection.cursor()  # type: ignore[union-attr]
    marks = ", ".join("?" for _ in columns)
    for batch in duck_batches(duck, _as_sqlite(query, table, columns), 50_000):
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks}){conflict}", batch)
        n += len(batch)
    cur.close()
    return n


def duck_batches(duck: Any, query: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The query's rows, ``size`` at a time, as DuckDB streams them.

    DuckDB 1.5 can report a query that failed on one of its threads as
    "Interrupted!" when another thread was stopped first (a race: about one
    failing query in a hundred on two cores), which names no cause. The query
    is then run once more to its end, which raises the cause itself."""
    import duckdb

    result = duck.execute(query)
    try:
        while batch := result.fetchmany(size):
            yield batch
    except duckdb.InterruptException:
        duck.execute(f"COPY ({query}) TO '/dev/null' (FORMAT csv)")
        raise


def _as_sqlite(query: str, table: str, columns: Sequence[str]) -> str:
    """``query``'s columns (in order, named as ``columns``) converted in DuckDB to
    the forms the store keeps in SQLite (see store.models): moments as UTC text
    in ``SQLITE_INSTANT``, money as text with two decimals, dates as text, JSON
    as text."""
    from kequn.store.models import Base, Instant, Money

    types = {c.name: c.type for c in Base.metadata.tables[table].columns}
    out = []
    for i, name in enumerate(columns):
        col = f"q.column{i}"
        kind = types.get(name)
        if isinstance(kind, Instant):
            out.append(f"strftime(timezone('UTC', CAST({col} AS TIMESTAMPTZ)), '%Y-%m-%d %H:%M:%S.%f')")
        elif isinstance(kind, Money):
            out.append(f"CAST(CAST(round(CAST({col} AS DECIMAL(38, 4)), 2) AS DECIMAL(18, 2)) AS VARCHAR)")
        elif kind is not None and type(kind).__name__ in ("Date", "JSON"):
            out.append(f"CAST({col} AS VARCHAR)")
        else:
            out.append(col)
    names = ", ".join(f"column{i}" for i in range(len(columns)))
    return f"SELECT {', '.join(out)} FROM ({query}) AS q({names})"
