"""Reading an extract's files into a scratch DuckDB (the stage), as contract-named text.

Each staged row keeps its file and line. Lines the CSV reader cannot split
into the header's columns are kept too, as malformed rows for quarantine.
Each file is read once into a table of its own (``_read_<table>_<n>``, in the
file's order, the contract's names already mapped); ``stage_<table>`` is the
view that numbers its rows with their file and line and unites the files, so
a file's rows are copied once, not twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from kequn.contract import Table
from kequn.core.errors import InputError
from kequn.ingest.mapping import Mapping
from kequn.ingest.repair import repair_csv
from kequn.ingest.sources import SourceFile, transcode_to_utf8
from kequn.ingest.sql import ident, literal, mapped_expr


@dataclass
class StagedFile:
    source: SourceFile
    index: int
    rows: int  # well-formed rows staged
    malformed: int  # lines rejected by the CSV reader


def stage_table(
    con: duckdb.DuckDBPyConnection, table: Table, files: list[SourceFile], mapping: Mapping, scratch: Path
) -> list[StagedFile]:
    """Creates ``stage_<table>`` (text columns plus _row, _file, _line) and
    ``malformed_<table>``; returns per-file counts."""
    tm = mapping.for_table(table.name)
    names = ", ".join(ident(c) for c in table.column_names)
    con.execute(
        f"CREATE OR REPLACE TABLE malformed_{table.name} (_file INTEGER, _line BIGINT, "
        "field VARCHAR, value VARCHAR, error VARCHAR)"
    )
    staged: list[StagedFile] = []
    parts: list[str] = []
    base = 0
    for index, src in enumerate(files):
        read = f"_read_{table.name}_{index}"
        header = set(src.header)
        parquet = src.kind == "parquet"
        exprs = ", ".join(
            f"{mapped_expr(c, header, tm, mapping, parquet)} AS {ident(c.name)}" for c in table.columns
        )
        malformed = 0
        if parquet:
            try:
                con.execute(f"""
                    CREATE OR REPLACE TABLE {read} AS
                    SELECT file_row_number AS _n, {exprs}
                    FROM read_parquet({literal(str(src.path))}, file_row_number = true)""")
            except duckdb.Error as exc:
                # a footer that reads but pages that do not: which rows are lost is
                # unknowable, so the file is refused whole rather than half-taken
                reason = str(exc).splitlines()[0][:300]
                raise InputError(
                    src.path, f"is not a readable Parquet file: its data is damaged ({reason})"
                ) from None
            rows_of = f"SELECT {base} + _n AS _row, {index} AS _file, _n + 1 AS _line, {names} FROM {read}"
        else:
            path = src.path
            if src.encoding != "utf-8":
                path = transcode_to_utf8(src, scratch / f"{table.name}-{index}.utf8.csv")
            try:
                malformed, rows_of = _fast_csv(con, table.name, read, index, base, src, path, exprs, names)
            except (duckdb.InvalidInputException, _LinesDisagree):
                # the strict reader gave up on the whole file, or its records do not
                # match the physical lines one to one: read the file line by line
                malformed, rows_of = _careful_csv(
                    con, table.name, read, index, base, src, path, exprs, names, scratch
                )
        rows = con.execute(f"SELECT count(*) FROM {read}").fetchone()[0]  # type: ignore[index]
        staged.append(StagedFile(src, index, rows, malformed))
        parts.append(rows_of)
        base += rows
    if not parts:  # an optional table the extract does not carry: no rows
        empty = ", ".join(f"NULL::VARCHAR AS {ident(c)}" for c in table.column_names)
        parts.append(
            f"SELECT NULL::BIGINT AS _row, NULL::INTEGER AS _file, NULL::BIGINT AS _line, {empty} LIMIT 0"
        )
    con.execute(f"CREATE OR REPLACE VIEW stage_{table.name} AS {' UNION ALL '.join(parts)}")
    return staged


class _LinesDisagree(Exception):
    """Records span several lines (a quoted newline, or an unclosed quote that
    swallowed good lines), so line numbers cannot be derived from row order."""


def _fast_csv(
    con: duckdb.DuckDBPyConnection,
    name: str,
    read: str,
    index: int,
    base: int,
    src: SourceFile,
    path: Path,
    exprs: str,
    names: str,
) -> tuple[int, str]:
    """DuckDB's strict reader into ``read``, in the file's order; bad lines go to
    its rejects table. Returns how many lines were rejected, and the query that
    numbers the rows read with their file and line."""
    if src.mixed_endings:
        raise _LinesDisagree
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in src.header) + "}"
    con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _scans")
    con.execute(f"""
        CREATE OR REPLACE TABLE {read} AS
        SELECT {exprs} FROM read_csv({literal(str(path))}, header = true, auto_detect = false,
            columns = {columns}, delim = {literal(src.delimiter)}, quote = '"',
            escape = '"', store_rejects = true, rejects_table = '_rejects',
            rejects_scan = '_scans', strict_mode = true, null_padding = false)""")
    # lines the reader rejected, and where each accepted row really sits
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _bad_lines AS
        SELECT line, any_value(column_name) AS field, any_value(csv_line) AS value,
               string_agg(DISTINCT error_type, ', ') AS error
        FROM _rejects GROUP BY line""")
    bad = con.execute("SELECT line, value FROM _bad_lines").fetchall()
    rows = con.execute(f"SELECT count(*) FROM {read}").fetchone()[0]  # type: ignore[index]
    if rows + len(bad) + len(src.blank_lines) != src.lines - 1 or any(
        "\n" in (value or "").rstrip("\r\n") for _, value in bad
    ):
        raise _LinesDisagree
    malformed = len(bad)
    con.execute(f"""
        INSERT INTO malformed_{name}
        SELECT {index}, line, field, value, error FROM _bad_lines""")
    # physical lines that hold no accepted row: blank lines and rejected lines
    gaps = set(src.blank_lines) | {line for line, _ in bad}
    if not gaps:
        return (
            malformed,
            f"SELECT {base} + rowid AS _row, {index} AS _file, rowid + 2 AS _line, {names} FROM {read}",
        )
    # accepted row k sits on line k + 2 + (gap lines before it); gap i (from 1)
    # on line L comes after L - 1 - i accepted rows
    con.execute(f"CREATE OR REPLACE TABLE {read}_gaps AS SELECT unnest(?) AS line", [sorted(gaps)])
    con.execute(f"""
        CREATE OR REPLACE TABLE {read}_shift AS
        SELECT line - 1 - i AS _shift_a, max(i) AS _shift_i FROM (
            SELECT line, row_number() OVER (ORDER BY line) AS i FROM {read}_gaps)
        GROUP BY 1""")
    return (
        malformed,
        f"""
        SELECT {base} + r.rowid AS _row, {index} AS _file, r.rowid + 2 + coalesce(s._shift_i, 0) AS _line,
               {", ".join(f"r.{c.strip()}" for c in names.split(", "))}
        FROM {read} r ASOF LEFT JOIN {read}_shift s ON r.rowid >= s._shift_a""",
    )


def _careful_csv(
    con: duckdb.DuckDBPyConnection,
    name: str,
    read: str,
    index: int,
    base: int,
    src: SourceFile,
    path: Path,
    exprs: str,
    names: str,
    scratch: Path,
) -> tuple[int, str]:
    clean = scratch / f"{name}-{index}.repaired.csv"
    bad = repair_csv(path, "utf-8", src.delimiter, len(src.header), clean)
    if bad:
        con.executemany(
            f"INSERT INTO malformed_{name} VALUES ({index}, ?, NULL, ?, ?)",
            [[b.line, b.text, b.error] for b in bad],
        )
    header = ["_line", *src.header]
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header) + "}"
    con.execute(f"""
        CREATE OR REPLACE TABLE {read} AS
        SELECT CAST(_line AS BIGINT) AS _l, {exprs}
        FROM read_csv({literal(str(clean))}, header = true, auto_detect = false,
            columns = {columns}, delim = ',', quote = '"', escape = '"', strict_mode = true)""")
    clean.unlink()
    return len(bad), f"SELECT {base} + rowid AS _row, {index} AS _file, _l AS _line, {names} FROM {read}"
