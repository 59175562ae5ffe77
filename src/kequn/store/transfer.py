"""Moving operational state into the decision's DuckDB, whole tables at once.

PostgreSQL writes its rows with COPY, SQLite through its cursor a chunk at a
time; either way they land in a CSV file that DuckDB reads with the declared
types. Nothing of the kind is held in Python all at once, and moments arrive
as moments (UTC) whichever store they come from.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import duckdb
from sqlalchemy import Connection

CHUNK = 50_000
NULL = "\\N"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def to_duckdb(
    con: Connection,
    duck: duckdb.DuckDBPyConnection,
    name: str,
    sql: str,
    columns: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
) -> int:
    """Creates the temp table ``name`` in ``duck`` from the operational store's
    ``sql`` (its columns in the order of ``columns``: name -> DuckDB type; a
    TIMESTAMPTZ column must be selected as text with its offset, or as a
    PostgreSQL timestamptz). Returns the rows moved."""
    fd, path = tempfile.mkstemp(prefix=f"kequn-{name}-", suffix=".csv")
    os.close(fd)
    try:
        if con.dialect.name == "postgresql":
            bound = sql
            for key, value in (params or {}).items():
                bound = bound.replace(f":{key}", _literal(value))
            raw = con.connection.driver_connection
            copy_sql = f"COPY ({bound}) TO STDOUT (FORMAT csv, NULL '{NULL}')"
            with raw.cursor() as cur, open(path, "wb") as out, cur.copy(copy_sql) as copy:  # type: ignore[union-attr]
                for chunk in copy:
                    out.write(chunk)
        else:
            cur = con.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cur.execute(sql, dict(params or {}))  # sqlite3 binds :name itself
            with open(path, "w", newline="", encoding="utf-8") as out:
                w = csv.writer(out)
                while rows := cur.fetchmany(CHUNK):
                    w.writerows([NULL if v is None else _sqlite_text(v) for v in r] for r in rows)
            cur.close()
        types = "{" + ", ".join(f"'{c}': '{t}'" for c, t in columns.items()) + "}"
        duck.execute(f"""
            CREATE OR REPLACE TEMP TABLE {name} AS
            SELECT * FROM read_csv('{path}', header = false, columns = {types}, nullstr = '{NULL}',
                                   quote = '"', escape = '"', auto_detect = false)""")
        row = duck.execute(f"SELECT count(*) FROM {name}").fetchone()
        return int(row[0]) if row else 0
    finally:
        os.unlink(path)


def _sqlite_text(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def instant(column: str, dialect: str) -> str:
    """A moment column as the transfer reads it: SQLite keeps UTC text without an
    offset (see ``store.models.SQLITE_INSTANT``), so it is given one."""
    return f"({column} || '+00')" if dialect == "sqlite" else column
