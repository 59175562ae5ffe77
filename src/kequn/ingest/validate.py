"""Checking staged rows against the contract, a table at a time, in load order.

For table ``t`` this builds, in the stage database:
- ``checked_t`` (made as the files are read, see ``stage``): every row read,
  typed, with its column problems;
- ``bad_t``: one line per problem (stage 0 column checks, 1 duplicate keys,
  2 foreign keys, 3 row rules);
- ``accepted_t``: the rows without problems (a view);
- ``quarantine_t``: one row per rejected source row, with file, line, field,
  value, first reason, all reasons and the whole record.
"""

from __future__ import annotations

from datetime import date

import duckdb

from kequn.contract import Table
from kequn.ingest.sql import ident, literal
from kequn.ingest.stage import StagedFile, stage_view

STAGE_COLUMN, STAGE_DUPLICATE, STAGE_FOREIGN_KEY, STAGE_RULE = 0, 1, 2, 3


def _key(cols: tuple[str, ...], alias: str) -> str:
    return ", ".join(f"{alias}.{ident(c)}" for c in cols)


def _join(left: tuple[str, ...], right: tuple[str, ...], la: str, ra: str) -> str:
    return " AND ".join(f"{la}.{ident(a)} = {ra}.{ident(b)}" for a, b in zip(left, right, strict=True))


FILES_DDL = "CREATE TABLE IF NOT EXISTS files (table_name VARCHAR, idx INTEGER, file VARCHAR)"


def check_table(
    con: duckdb.DuckDBPyConnection, table: Table, as_of: date, present: set[str], staged: list[StagedFile]
) -> None:
    """Checks ``checked_<table>`` (see ``stage.stage_table``, which read
    ``staged``); ``files`` names each staged file (``FILES_DDL``)."""
    t = table.name
    con.execute(FILES_DDL)
    # detail: what a reason alone does not say (the line a duplicate repeats)
    con.execute(
        f"CREATE OR REPLACE TABLE bad_{t} (_row BIGINT, stage INTEGER, problem VARCHAR, detail VARCHAR)"
    )
    con.execute(f"INSERT INTO bad_{t} SELECT _row, {STAGE_COLUMN}, _p, NULL FROM checked_{t} WHERE _p <> ''")

    pk = table.primary_key
    not_null = " AND ".join(f"{ident(c)} IS NOT NULL" for c in pk)
    con.execute(f"""
        INSERT INTO bad_{t}
        WITH dup AS (
            SELECT {_key(pk, "c")} FROM checked_{t} c WHERE _p = '' AND {not_null}
            GROUP BY ALL HAVING count(*) > 1),
        ranked AS (
            SELECT c._row, c._file,
                   row_number() OVER w AS rn, first_value(c._file) OVER w AS first_file,
                   first_value(c._line) OVER w AS first_line
            FROM checked_{t} c SEMI JOIN dup d ON {_join(pk, pk, "c", "d")}
            WHERE c._p = ''
            WINDOW w AS (PARTITION BY {_key(pk, "c")} ORDER BY c._file, c._line))
        SELECT r._row, {STAGE_DUPLICATE}, {literal(",".join(pk) + ":duplicate_key")},
               'repeats line ' || r.first_line
               || CASE WHEN r.first_file <> r._file THEN ' of ' || f.file ELSE '' END
        FROM ranked r LEFT JOIN files f ON f.table_name = {literal(t)} AND f.idx = r.first_file
        WHERE r.rn > 1""")

    for fk in table.foreign_keys:
        if fk.ref_table not in present:
            continue
        if fk.ref_table == t:
            _self_reference(con, table, fk.columns, fk.ref_columns, fk.reason)
            continue
        ref = fk.ref_table
        cols_nn = " AND ".join(f"c.{ident(c)} IS NOT NULL" for c in fk.columns)
        field = ",".join(fk.columns)
        con.execute(f"""
            INSERT INTO bad_{t}
            SELECT c._row, {STAGE_FOREIGN_KEY},
                   {literal(field + ":")} || CASE WHEN EXISTS (
                       SELECT 1 FROM checked_{ref} r WHERE {_join(fk.columns, fk.ref_columns, "c", "r")})
                   THEN 'parent_quarantined' ELSE {literal(fk.reason)} END, NULL
            FROM checked_{t} c ANTI JOIN accepted_{ref} p
                ON {_join(fk.columns, fk.ref_columns, "c", "p")}
            WHERE {cols_nn}""")

    for check in table.checks:
        if check.lookup:
            ref, cols, ref_cols = check.lookup
            if ref not in present:
                continue
            source = f"checked_{t} c LEFT JOIN accepted_{ref} ref ON {_join(cols, ref_cols, 'c', 'ref')}"
        else:
            source = f"checked_{t} c"
        con.execute(f"""
            INSERT INTO bad_{t}
            SELECT c._row, {STAGE_RULE}, {literal(check.field + ":" + check.reason)}, NULL
            FROM {source} WHERE coalesce(({check.bad_when}), FALSE)""")

    con.execute(f"""
        CREATE OR REPLACE VIEW accepted_{t} AS
        SELECT * EXCLUDE (_p) FROM checked_{t} ANTI JOIN bad_{t} USING (_row)""")
    _quarantine(con, table, staged)


def _self_reference(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    cols: tuple[str, ...],
    ref_cols: tuple[str, ...],
    reason: str,
) -> None:
    """A tree (branches): a row whose parent is missing or rejected goes too,
    and so, in turn, do its children."""
    t = table.name
    cols_nn = " AND ".join(f"c.{ident(c)} IS NOT NULL" for c in cols)
    field = ",".join(cols)
    while True:
        added = con.execute(f"""
            INSERT INTO bad_{t}
            SELECT c._row, {STAGE_FOREIGN_KEY},
                   {literal(field + ":")} || CASE WHEN EXISTS (
                       SELECT 1 FROM checked_{t} r WHERE {_join(cols, ref_cols, "c", "r")})
                   THEN 'parent_quarantined' ELSE {literal(reason)} END, NULL
            FROM (SELECT * FROM checked_{t} ANTI JOIN bad_{t} USING (_row)) c
            ANTI JOIN (SELECT * FROM checked_{t} ANTI JOIN bad_{t} USING (_row)) p
                ON {_join(cols, ref_cols, "c", "p")}
            WHERE {cols_nn}""").fetchone()[0]  # type: ignore[index]
        if not added:
            return


def _quarantine(con: duckdb.DuckDBPyConnection, table: Table, staged: list[StagedFile]) -> None:
    t = table.name
    # the text of the rejected rows, read again from the files that hold one
    files = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT c._file FROM checked_{t} c SEMI JOIN bad_{t} b USING (_row)"
        ).fetchall()
    }
    stage_view(con, table, staged, files, wanted=f"SELECT _row FROM bad_{t}")
    record = (
        "to_json(struct_pack(" + ", ".join(f"{ident(c)} := s.{ident(c)}" for c in table.column_names) + "))"
    )
    value_cases = " ".join(f"WHEN {literal(c)} THEN s.{ident(c)}" for c in table.column_names)
    pk_field = ",".join(table.primary_key)
    pk_value = " || ',' || ".join(f"coalesce(s.{ident(c)}, '')" for c in table.primary_key)
    value_cases += f" WHEN {literal(pk_field)} THEN {pk_value}"
    con.execute(f"""
        CREATE OR REPLACE TABLE quarantine_{t} AS
        WITH p AS (
            SELECT _row, string_agg(problem, ';' ORDER BY stage, problem) AS problems,
                   string_agg(detail, '; ' ORDER BY stage, problem) AS detail
            FROM bad_{t} GROUP BY _row),
        q AS (
            SELECT s._file, s._line,
                   split_part(split_part(p.problems, ';', 1), ':', 1) AS field,
                   split_part(split_part(p.problems, ';', 1), ':', 2) AS reason, p.problems,
                   CASE field {value_cases} END AS value, p.detail, {record} AS record
            FROM p JOIN stage_{t} s USING (_row))
        SELECT {literal(t)} AS table_name, _file, _line AS line, field, value, reason, problems,
               detail, record
        FROM q
        UNION ALL
        SELECT {literal(t)}, _file, _line, coalesce(field, ''), value, 'malformed_row',
               ':malformed_row (' || error || ')', NULL, NULL
        FROM malformed_{t}""")
