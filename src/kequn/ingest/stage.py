"""Reading an extract's files into a scratch DuckDB (the stage), as contract-named text.

Each staged row keeps its file and line. Lines the CSV reader cannot split
into the header's columns are kept too, as malformed rows for quarantine.
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
    cols = ", ".join(f"{ident(c)} VARCHAR" for c in table.column_names)
    con.execute(
        f"CREATE OR REPLACE TABLE stage_{table.name} (_row BIGINT, _file INTEGER, _line BIGINT, {cols})"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE malformed_{table.name} (_file INTEGER, _line BIGINT, "
        "field VARCHAR, value VARCHAR, error VARCHAR)"
    )
    staged: list[StagedFile] = []
    base = 0
    for index, src in enumerate(files):
        header = set(src.header)
        parquet = src.kind == "parquet"
        exprs = ", ".join(
            f"{mapped_expr(c, header, tm, mapping, parquet)} AS {ident(c.name)}" for c in table.columns
        )
        malformed = 0
        if parquet:
            try:
                con.execute(f"""
                    INSERT INTO stage_{table.name}
                    SELECT {base} + file_row_number, {index}, file_row_number + 1, {exprs}
                    FROM read_parquet({literal(str(src.path))}, file_row_number = true)""")
            except duckdb.Error as exc:
                # a footer that reads but pages that do not: which rows are lost is
                # unknowable, so the file is refused whole rather than half-taken
                reason = str(exc).splitlines()[0][:300]
                raise InputError(
                    src.path, f"is not a readable Parquet file: its data is damaged ({reason})"
                ) from None
        else:
            path = src.path
            if src.encoding != "utf-8":
                path = transcode_to_utf8(src, scratch / f"{table.name}-{index}.utf8.csv")
            try:
                malformed = _fast_csv(con, table.name, index, base, src, path, exprs)
            except (duckdb.InvalidInputException, _LinesDisagree):
                # the strict reader gave up on the whole file, or its records do not
                # match the physical lines one to one: read the file line by line
                malformed = _careful_csv(con, table.name, index, base, src, path, exprs, scratch)
            con.execute("DROP TABLE IF EXISTS _read")
        rows = con.execute(f"SELECT count(*) FROM stage_{table.name} WHERE _file = {index}").fetchone()[0]  # type: ignore[index]
        staged.append(StagedFile(src, index, rows, malformed))
        base += rows
    return staged


class _LinesDisagree(Exception):
    """Records span several lines (a quoted newline, or an unclosed quote that
    swallowed good lines), so line numbers cannot be derived from row order."""


def _fast_csv(
    con: duckdb.DuckDBPyConnection, name: str, index: int, base: int, src: SourceFile, path: Path, exprs: str
) -> int:
    """DuckDB's strict reader; bad lines go to its rejects table. Returns how
    many lines were rejected."""
    if src.mixed_endings:
        raise _LinesDisagree
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in src.header) + "}"
    con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _scans")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _read AS
        SELECT * FROM read_csv({literal(str(path))}, header = true, auto_detect = false,
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
    rows = con.execute("SELECT count(*) FROM _read").fetchone()[0]  # type: ignore[index]
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
    if gaps:
        con.execute("CREATE OR REPLACE TEMP TABLE _gaps (line BIGINT)")
        con.executemany("INSERT INTO _gaps VALUES (?)", [[g] for g in sorted(gaps)])
        # accepted row k sits on line k + 2 + (gap lines before it); gap i (from 1)
        # on line L comes after L - 1 - i accepted rows
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _shift AS
            SELECT line - 1 - i AS _shift_a, max(i) AS _shift_i FROM (
                SELECT line, row_number() OVER (ORDER BY line) AS i FROM _gaps)
            GROUP BY 1""")
        line = "r.rowid + 2 + coalesce(s._shift_i, 0)"
        source = "_read r ASOF LEFT JOIN _shift s ON r.rowid >= s._shift_a"
    else:
        line = "r.rowid + 2"
        source = "_read r"
    con.execute(f"""
        INSERT INTO stage_{name}
        SELECT {base} + r.rowid, {index}, {line}, {exprs}
        FROM {source}""")
    return malformed


def _careful_csv(
    con: duckdb.DuckDBPyConnection,
    name: str,
    index: int,
    base: int,
    src: SourceFile,
    path: Path,
    exprs: str,
    scratch: Path,
) -> int:
    clean = scratch / f"{name}-{index}.repaired.csv"
    bad = repair_csv(path, "utf-8", src.delimiter, len(src.header), clean)
    if bad:
        con.executemany(
            f"INSERT INTO malformed_{name} VALUES ({index}, ?, NULL, ?, ?)",
            [[b.line, b.text, b.error] for b in bad],
        )
    names = ["_line", *src.header]
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in names) + "}"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _read AS
        SELECT * FROM read_csv({literal(str(clean))}, header = true, auto_detect = false,
            columns = {columns}, delim = ',', quote = '"', escape = '"', strict_mode = true)""")
    con.execute(f"""
        INSERT INTO stage_{name}
        SELECT {base} + r.rowid, {index}, CAST(r._line AS BIGINT), {exprs} FROM _read r""")
    clean.unlink()
    return len(bad)
