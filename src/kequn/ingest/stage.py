"""Reading an extract's files into a scratch DuckDB (the stage), as contract-named text.

Each staged row keeps its file and line. Lines the CSV reader cannot split
into the header's columns are kept too, as malformed rows for quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from kequn.contract import Table
from kequn.ingest.mapping import Mapping
from kequn.ingest.sources import SourceFile, transcode_to_utf8
from kequn.ingest.sql import ident, literal, mapped_expr


@dataclass
class StagedFile:
    source: SourceFile
    index: int
    rows: int  # well-formed rows staged
    malformed: int  # lines rejected by the CSV reader


def stage_table(con: duckdb.DuckDBPyConnection, table: Table, files: list[SourceFile],
                mapping: Mapping, scratch: Path) -> list[StagedFile]:
    """Creates ``stage_<table>`` (text columns plus _row, _file, _line) and
    ``malformed_<table>``; returns per-file counts."""
    tm = mapping.for_table(table.name)
    cols = ", ".join(f"{ident(c)} VARCHAR" for c in table.column_names)
    con.execute(f"CREATE OR REPLACE TABLE stage_{table.name} (_row BIGINT, _file INTEGER, "
                f"_line BIGINT, {cols})")
    con.execute(f"CREATE OR REPLACE TABLE malformed_{table.name} (_file INTEGER, _line BIGINT, "
                "field VARCHAR, value VARCHAR, error VARCHAR)")
    staged: list[StagedFile] = []
    base = 0
    for index, src in enumerate(files):
        header = set(src.header)
        parquet = src.kind == "parquet"
        exprs = ", ".join(f"{mapped_expr(c, header, tm, mapping, parquet)} AS {ident(c.name)}"
                          for c in table.columns)
        malformed = 0
        if parquet:
            con.execute(f"""
                INSERT INTO stage_{table.name}
                SELECT {base} + file_row_number, {index}, file_row_number + 1, {exprs}
                FROM read_parquet({literal(str(src.path))}, file_row_number = true)""")
        else:
            path = src.path
            if src.encoding != "utf-8":
                path = transcode_to_utf8(src, scratch / f"{table.name}-{index}.utf8.csv")
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
            malformed = con.execute("SELECT count(*) FROM _bad_lines").fetchone()[0]  # type: ignore[index]
            con.execute(f"""
                INSERT INTO malformed_{table.name}
                SELECT {index}, line, field, left(value, 500), error FROM _bad_lines""")
            if malformed:
                con.execute("""
                    CREATE OR REPLACE TEMP TABLE _shift AS
                    SELECT line - 1 - j AS _shift_a, max(j) AS _shift_j FROM (
                        SELECT line, row_number() OVER (ORDER BY line) AS j FROM _bad_lines)
                    GROUP BY 1""")
                line = "r.rowid + 2 + coalesce(s._shift_j, 0)"
                source = "_read r ASOF LEFT JOIN _shift s ON r.rowid >= s._shift_a"
            else:
                line = "r.rowid + 2"
                source = "_read r"
            con.execute(f"""
                INSERT INTO stage_{table.name}
                SELECT {base} + r.rowid, {index}, {line}, {exprs}
                FROM {source}""")
            con.execute("DROP TABLE _read")
        rows = con.execute(f"SELECT count(*) FROM stage_{table.name} WHERE _file = {index}"
                           ).fetchone()[0]  # type: ignore[index]
        staged.append(StagedFile(src, index, rows, malformed))
        base += rows
    return staged
