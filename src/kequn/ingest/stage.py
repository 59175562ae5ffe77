"""Reading an extract's files and typing their rows in one pass, each row kept
with its file and line.

Each file of a table is read once, straight into the table's checked rows
(typed, with their column problems, see ``sql.checked_select``): the
snapshot's own table when an ingest writes one, so that the accepted rows are
never copied again. A file's rows are inserted in one statement, in the
file's order, so the row's ``rowid`` tells its place in the file; the
``checked_<table>`` view numbers each row with ``_row`` (its rowid), ``_file``
and ``_line``. Lines the CSV reader cannot split into the header's columns
are kept too, as malformed rows for quarantine.

The rows' text is not kept: what quarantine shows of a rejected row is read
again from its file (``stage_view``), only for the files that have one, in
the same order, so that the text is the file's own; only the rejected rows'
text is kept from that read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from kequn.contract import Table
from kequn.core.errors import InputError, KequnError
from kequn.ingest.mapping import Mapping
from kequn.ingest.repair import repair_csv
from kequn.ingest.sources import SourceFile, file_digest, physical_lines, transcode_to_utf8
from kequn.ingest.sql import checked_select, ident, literal, mapped_expr

#: types and inserts one file's text rows (its index, its SELECT); returns the
#: rowid of its first row and how many rows it has
Insert = Callable[[int, str], tuple[int, int]]

#: the checked table's columns beside the contract's: the file, the line when
#: it is known as the row is read (a careful read, Parquet), and the problems
HELPER_COLUMNS = ("_file", "_l", "_p")


@dataclass
class StagedFile:
    source: SourceFile
    index: int
    rows: int  # well-formed rows read
    malformed: int  # lines rejected by the CSV reader
    #: the rowid of the file's first row in the checked table
    start: int = 0
    #: the file's rows as text, in the file's order, as they were read (with
    #: ``_l``, their line, when the read knows it)
    text: str = ""
    #: the read gave each row its line (``_l``): a careful read, Parquet
    lines_read: bool = False
    #: the table of (position, shift) steps by which a fast-read row's line moves
    #: past the blank and rejected lines before it; empty when there are none
    shifts: str = ""
    #: a fast read: the file its text reads (the source or its UTF-8 copy), whose
    #: physical lines are its rows' lines, and the ingest's scratch folder
    read_from: Path | None = None
    scratch: Path | None = None

    def lines(self, rows: str, alias: str, position: str) -> tuple[str, str]:
        """The FROM clause over ``rows`` (as ``alias``) and the SQL of each row's
        line: the line the read gave (``_l``), or the row's 0-based ``position``
        in the file moved past the blank and rejected lines before it."""
        if self.lines_read:
            return f"{rows} {alias}", f"{alias}._l"
        if self.shifts:
            return (
                f"{rows} {alias} ASOF LEFT JOIN {self.shifts} s ON {position} >= s._shift_a",
                f"{position} + 2 + coalesce(s._shift_i, 0)",
            )
        return f"{rows} {alias}", f"{position} + 2"


def checked_table(table: str, into: str | None = None) -> str:
    """Where ``table``'s checked rows are kept: the table of that name in the
    snapshot schema ``into``, or ``_checked_<table>`` in the stage."""
    return f"{into}.{table}" if into else f"_checked_{table}"


def stage_table(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    files: list[SourceFile],
    mapping: Mapping,
    scratch: Path,
    as_of: date,
    into: str | None = None,
) -> list[StagedFile]:
    """Reads and types ``files`` into ``checked_table(table, into)``, makes the
    ``checked_<table>`` view and ``malformed_<table>``; returns per-file counts."""
    tm = mapping.for_table(table.name)
    name = table.name
    target = checked_table(name, into)
    con.execute(
        f"CREATE OR REPLACE TABLE malformed_{name} (_file INTEGER, _line BIGINT, "
        "field VARCHAR, value VARCHAR, error VARCHAR)"
    )
    nothing = ", ".join(f"NULL::VARCHAR AS {ident(c)}" for c in table.column_names)
    empty = f"(SELECT NULL::INTEGER AS _file, NULL::BIGINT AS _l, {nothing} LIMIT 0)"
    con.execute(
        f"CREATE OR REPLACE TABLE {target} AS {checked_select(table.columns, as_of, empty, '_file, _l')}"
    )

    def insert(index: int, text: str) -> tuple[int, int]:
        """Types and inserts one file's text rows; returns its first rowid and rows."""
        source = f"(SELECT {index} AS _file, _l, * EXCLUDE (_l) FROM ({text}))"
        select = checked_select(table.columns, as_of, source, "_file, _l")
        _keeps_order(con, select)
        con.execute(f"INSERT INTO {target} {select}")
        first, rows, last = con.execute(
            f"SELECT min(rowid), count(*), max(rowid) FROM {target} WHERE _file = {index}"
        ).fetchone()  # type: ignore[misc]
        if rows and last - first + 1 != rows:  # a row's place in its file would be lost
            raise KequnError(f"{name}: the rows of file {index} were not kept together")
        return int(first or 0), int(rows)

    staged: list[StagedFile] = []
    for index, src in enumerate(files):
        header = set(src.header)
        parquet = src.kind == "parquet"
        exprs = ", ".join(
            f"{mapped_expr(c, header, tm, mapping, parquet)} AS {ident(c.name)}" for c in table.columns
        )
        if parquet:
            text = (
                f"SELECT file_row_number + 1 AS _l, {exprs} "
                f"FROM read_parquet({literal(str(src.path))}, file_row_number = true)"
            )
            try:
                start, rows = insert(index, text)
            except duckdb.Error as exc:
                # a footer that reads but pages that do not: which rows are lost is
                # unknowable, so the file is refused whole rather than half-taken
                reason = str(exc).splitlines()[0][:300]
                raise InputError(
                    src.path, f"is not a readable Parquet file: its data is damaged ({reason})"
                ) from None
            staged.append(StagedFile(src, index, rows, 0, start, text, lines_read=True))
            continue
        path = src.path
        if src.encoding != "utf-8":
            path = transcode_to_utf8(src, scratch / f"{name}-{index}.utf8.csv")
        try:
            fast = _fast_csv(con, name, index, src, path, exprs, insert)
            fast.read_from, fast.scratch = path, scratch
            staged.append(fast)
        except (duckdb.InvalidInputException, _LinesDisagree):
            # the strict reader gave up on the whole file, or its records do not
            # match the physical lines one to one: read the file line by line
            con.execute(f"DELETE FROM {target} WHERE _file = {index}")
            con.execute(f"DELETE FROM malformed_{name} WHERE _file = {index}")
            staged.append(_careful_csv(con, name, index, src, path, exprs, scratch, insert))
    _checked_view(con, name, target, staged)
    return staged


#: the operators that keep a file's rows in its order as they are inserted
IN_ORDER = frozenset({"READ_CSV", "READ_PARQUET", "PROJECTION"})


def _keeps_order(con: duckdb.DuckDBPyConnection, select: str) -> None:
    """Refuses a reading statement whose plan could reorder rows (a join, say):
    a row's place in its file is its rowid, and its line is told from that."""

    def operators(node: dict[str, Any]) -> Iterator[str]:
        yield node["name"]
        for child in node.get("children", []):
            yield from operators(child)

    plan = con.execute(f"EXPLAIN (FORMAT json) {select}").fetchall()
    found = {name for root in json.loads(plan[0][1]) for name in operators(root)}
    if not found <= IN_ORDER:
        raise KequnError(f"reading a file would not keep its rows in order: {sorted(found - IN_ORDER)}")


def _checked_view(con: duckdb.DuckDBPyConnection, name: str, target: str, staged: list[StagedFile]) -> None:
    """``checked_<name>``: the checked rows with ``_row`` (their rowid), ``_file``
    and ``_line``, the typed columns and ``_p``."""
    parts = []
    for f in staged:
        source, line = f.lines(target, "c", f"(c.rowid - {f.start})")
        where = f" WHERE c._file = {f.index}" if len(staged) > 1 else ""
        parts.append(
            f"SELECT c.rowid AS _row, c._file, {line} AS _line, c.* EXCLUDE (_file, _l) FROM {source}{where}"
        )
    if not parts:  # an optional table the extract does not carry: no rows
        parts.append(
            f"SELECT c.rowid AS _row, c._file, c._l AS _line, c.* EXCLUDE (_file, _l) FROM {target} c"
        )
    con.execute(f"CREATE OR REPLACE VIEW checked_{name} AS {' UNION ALL '.join(parts)}")


def stage_view(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    staged: list[StagedFile],
    files: set[int] | None = None,
    wanted: str | None = None,
) -> None:
    """``stage_<table>``: the text of the rows of ``files`` (every file when None),
    read again from them, each row with the ``_row``, ``_file`` and ``_line`` its
    checked row has. ``wanted``: a relation of the ``_row``s whose text is
    needed (every row's when None); only those are kept from the second read."""
    name = table.name
    parts = []
    for f in staged:
        if files is not None and f.index not in files:
            continue
        read = f"_read_{name}_{f.index}"
        if file_digest(f.source.path) != f.source.digest:  # its rows could no longer be matched
            raise InputError(f.source.path, "changed while it was being ingested; ingest it again")
        if wanted is not None and f.read_from is not None and f.scratch is not None:
            parts.append(_rows_on_their_lines(con, table, f, wanted))
            continue
        con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _scans")
        _keeps_order(con, f.text)  # read in the order it was read the first time
        # a row's place in the read is its number in the reader's order (an empty
        # OVER keeps it); the last row is kept too, to tell that the read has as
        # many rows as the first. A file's one rejected row once kept a copy of
        # every row's text: 28 million transactions' for one bad amount
        keep = "TRUE"
        if wanted is not None:
            last = f.rows - 1
            keep = (
                f"_pos >= {last} OR _pos IN (SELECT _row - {f.start} FROM ({wanted}) "
                f"WHERE _row BETWEEN {f.start} AND {f.start + last})"
            )
        con.execute(f"""
            CREATE OR REPLACE TABLE {read} AS
            SELECT * FROM (SELECT row_number() OVER () - 1 AS _pos, * FROM ({f.text})) WHERE {keep}""")
        rows = con.execute(f"SELECT coalesce(max(_pos), -1) + 1 FROM {read}").fetchone()[0]  # type: ignore[index]
        if rows != f.rows:  # the same bytes read otherwise: nothing can be matched
            raise KequnError(f"{f.source.path}: read {rows} rows the second time, against {f.rows} the first")
        source, line = f.lines(read, "r", "r._pos")
        parts.append(
            f"SELECT {f.start} + r._pos AS _row, {f.index} AS _file, {line} AS _line, "
            f"{', '.join(f'r.{ident(c)}' for c in table.column_names)} FROM {source}"
        )
    if not parts:
        empty = ", ".join(f"NULL::VARCHAR AS {ident(c)}" for c in table.column_names)
        parts.append(
            f"SELECT NULL::BIGINT AS _row, NULL::INTEGER AS _file, NULL::BIGINT AS _line, {empty} LIMIT 0"
        )
    con.execute(f"CREATE OR REPLACE VIEW stage_{name} AS {' UNION ALL '.join(parts)}")


def _rows_on_their_lines(con: duckdb.DuckDBPyConnection, table: Table, f: StagedFile, wanted: str) -> str:
    """The SELECT of the ``wanted`` rows of a fast-read file, read again from their
    own lines alone: in such a file each row is one physical line, and its line
    is known, so the reader is given those lines (under the header) instead of
    the whole file again."""
    assert f.read_from is not None and f.scratch is not None
    name = table.name
    rows = con.execute(f"""
        SELECT _row, _line FROM checked_{name}
        WHERE _file = {f.index} AND _row IN (SELECT _row FROM ({wanted})) ORDER BY _line""").fetchall()
    lines = physical_lines(f.read_from, {line for _, line in rows})
    header = io.StringIO()
    csv.writer(header, delimiter=f.source.delimiter, lineterminator="\n").writerow(f.source.header)
    few = f.scratch / f"_wanted_{name}_{f.index}.csv"
    read = f"_read_{name}_{f.index}"
    whole, alone = literal(str(f.read_from)), literal(str(few))
    if f.text.count(whole) != 1:
        raise KequnError(f"{f.source.path}: its read does not name the file once")
    try:
        with open(few, "wb") as out:
            out.write(header.getvalue().encode("utf-8"))
            # LF endings alone: a fast-read file's lines all end alike, and a CRLF
            # line's ``\r`` is its ending, not its text
            out.writelines(lines[line].removesuffix(b"\r") + b"\n" for _, line in rows)
        con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _scans")
        con.execute(f"""
            CREATE OR REPLACE TABLE {read} AS
            SELECT row_number() OVER () - 1 AS _pos, * FROM ({f.text.replace(whole, alone)})""")
    finally:
        few.unlink(missing_ok=True)
    got = con.execute(f"SELECT count(*) FROM {read}").fetchone()[0]  # type: ignore[index]
    if got != len(rows):  # a line that read as one row the first time did not now
        raise KequnError(f"{f.source.path}: its rejected rows read as {got} rows again, against {len(rows)}")
    con.execute(
        f"CREATE OR REPLACE TABLE _at_{read} AS "
        "SELECT unnest(?::BIGINT[]) AS _row, unnest(?::BIGINT[]) AS _line, unnest(range(?)) AS _pos",
        [[r for r, _ in rows], [line for _, line in rows], len(rows)],
    )
    columns = ", ".join(f"r.{ident(c)}" for c in table.column_names)
    joined = f"{read} r JOIN _at_{read} m USING (_pos)"
    return f"SELECT m._row, {f.index} AS _file, m._line, {columns} FROM {joined}"


class _LinesDisagree(Exception):
    """Records span several lines (a quoted newline, or an unclosed quote that
    swallowed good lines), so line numbers cannot be derived from row order."""


def _fast_csv(
    con: duckdb.DuckDBPyConnection,
    name: str,
    index: int,
    src: SourceFile,
    path: Path,
    exprs: str,
    insert: Insert,
) -> StagedFile:
    """DuckDB's strict reader, in the file's order; bad lines go to its rejects
    table. Raises ``_LinesDisagree`` when rows cannot be matched to lines."""
    if src.mixed_endings:
        raise _LinesDisagree
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in src.header) + "}"
    text = f"""
        SELECT NULL::BIGINT AS _l, {exprs} FROM read_csv({literal(str(path))}, header = true,
            auto_detect = false, columns = {columns}, delim = {literal(src.delimiter)}, quote = '"',
            escape = '"', store_rejects = true, rejects_table = '_rejects',
            rejects_scan = '_scans', strict_mode = true, null_padding = false)"""
    con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _scans")
    start, rows = insert(index, text)
    # lines the reader rejected, and where each accepted row really sits
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _bad_lines AS
        SELECT line, any_value(column_name) AS field, any_value(csv_line) AS value,
               string_agg(DISTINCT error_type, ', ') AS error
        FROM _rejects GROUP BY line""")
    bad = con.execute("SELECT line, value FROM _bad_lines").fetchall()
    if rows + len(bad) + len(src.blank_lines) != src.lines - 1 or any(
        "\n" in (value or "").rstrip("\r\n") for _, value in bad
    ):
        raise _LinesDisagree
    con.execute(f"""
        INSERT INTO malformed_{name}
        SELECT {index}, line, field, value, error FROM _bad_lines""")
    staged = StagedFile(src, index, rows, len(bad), start, text)
    # physical lines that hold no accepted row: blank lines and rejected lines
    gaps = set(src.blank_lines) | {line for line, _ in bad}
    if gaps:
        # accepted row k sits on line k + 2 + (gap lines before it); gap i (from 1)
        # on line L comes after L - 1 - i accepted rows
        shifts = f"_shift_{name}_{index}"
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {shifts} AS
            SELECT line - 1 - i AS _shift_a, max(i) AS _shift_i FROM (
                SELECT line, row_number() OVER (ORDER BY line) AS i FROM (SELECT unnest(?) AS line))
            GROUP BY 1""",
            [sorted(gaps)],
        )
        staged.shifts = shifts
    return staged


def _careful_csv(
    con: duckdb.DuckDBPyConnection,
    name: str,
    index: int,
    src: SourceFile,
    path: Path,
    exprs: str,
    scratch: Path,
    insert: Insert,
) -> StagedFile:
    # the clean copy stays in the scratch folder: quarantine may read it again
    clean = scratch / f"{name}-{index}.repaired.csv"
    bad = repair_csv(path, "utf-8", src.delimiter, len(src.header), clean)
    if bad:
        con.executemany(
            f"INSERT INTO malformed_{name} VALUES ({index}, ?, NULL, ?, ?)",
            [[b.line, b.text, b.error] for b in bad],
        )
    header = ["_line", *src.header]
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header) + "}"
    text = f"""
        SELECT CAST(_line AS BIGINT) AS _l, {exprs}
        FROM read_csv({literal(str(clean))}, header = true, auto_detect = false,
            columns = {columns}, delim = ',', quote = '"', escape = '"', strict_mode = true)"""
    start, rows = insert(index, text)
    return StagedFile(src, index, rows, len(bad), start, text, lines_read=True)
