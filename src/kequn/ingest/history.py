"""``kequn history import``: the bank's past contacts brought in once, on their own.

A bank that starts with Kequn has years of call-centre and campaign results.
They arrive as a ``contacts`` export (CSV in UTF-8 or GBK, or Parquet), read
through a mapping like any table of the nightly extract (the bank's headers,
outcome codes and own attributes), checked row by row, the bad rows
quarantined with their reason, and published whole as a history of the
analytical store (``history_<day>_<n>``) beside the snapshots: what the model
learns from, and what a customer's history counts.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import asdict
from datetime import date
from pathlib import Path

from kequn import warehouse
from kequn.core.clock import today
from kequn.core.errors import InputError
from kequn.ingest.guards import never_empty
from kequn.ingest.mapping import Mapping, load_mapping
from kequn.ingest.run import STAGE_MEMORY, TableCount, count_of, stage_connection
from kequn.ingest.sources import open_source, table_files
from kequn.ingest.sql import ident
from kequn.ingest.stage import stage_table
from kequn.ingest.validate import FILES_DDL, check_table

TABLE = "contacts"


def import_history(
    folder: Path, into: Path, mapping_file: Path | None = None, memory_limit: str = STAGE_MEMORY
) -> tuple[str, TableCount]:
    """Validates the past contacts in ``folder`` and publishes them; returns the
    history's name and its counts."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "is not a folder holding a contacts export")
    mapping = load_mapping(mapping_file) if mapping_file else Mapping(version=1)
    table = mapping.table(TABLE)
    tm = mapping.for_table(TABLE)
    paths = table_files(folder, TABLE, tm.files)
    if not paths:
        raise InputError(
            folder / f"{TABLE}.csv",
            "missing: a history needs contacts.csv, contacts.parquet or a folder of parts",
        )
    sources = [
        open_source(p, tm.encoding or mapping.encoding, tm.delimiter or mapping.delimiter) for p in paths
    ]
    for src in sources:
        header = set(src.header)
        missing = [
            c for c in table.required_columns if c not in tm.constants and tm.columns.get(c, c) not in header
        ]
        if missing:
            raise InputError(
                src.path,
                f"header lacks required column(s) {', '.join(missing)}; header is: {', '.join(src.header)}",
            )
    day = today()
    scratch = Path(into).with_name(f"{Path(into).name}.history-{uuid.uuid4().hex[:8]}.files")
    scratch.mkdir(parents=True)
    con = stage_connection(scratch, memory_limit)
    try:
        con.execute(FILES_DDL)
        rows = ", ".join(f"('{TABLE}', {i}, '{s.name}')" for i, s in enumerate(sources))
        con.execute(f"INSERT INTO files VALUES {rows}")
        staged = stage_table(con, table, sources, mapping, scratch, day)
        check_table(con, table, day, {TABLE}, staged)
        counts = count_of(con, TABLE, staged)
        never_empty([(TABLE, counts.read, counts.accepted, False)])
        name = _next_name(into, day)
        cols = ", ".join(ident(c) for c in table.column_names)
        with warehouse.new_artifact(con, into, name, "history", day) as made:
            con.execute(f"CREATE TABLE {name}.{TABLE} AS SELECT {cols} FROM memory.main.accepted_{TABLE}")
            con.execute(f"""
                CREATE TABLE {name}.quarantine AS
                SELECT q.table_name, f.file, q.line, q.field, q.value, q.reason, q.problems, q.detail,
                       q.record
                FROM memory.main.quarantine_{TABLE} q JOIN memory.main.files f
                  ON f.table_name = q.table_name AND f.idx = q._file ORDER BY f.file, q.line""")
            report = {"table": asdict(counts), "attributes": mapping.attributes(TABLE)}
            con.execute(
                f"CREATE TABLE {name}.report AS SELECT ? AS report", [json.dumps(report, ensure_ascii=False)]
            )
        warehouse.publish(into, made, lambda cat: None)
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return name, counts


def _next_name(into: Path, day: date) -> str:
    taken: set[str] = set()
    if Path(into).exists():
        con = warehouse.reader(into, [])
        try:
            taken = {a.name for a in warehouse.artifacts(con)}
        finally:
            con.close()
    n = 1
    while f"history_{day:%Y%m%d}_{n:02d}" in taken:
        n += 1
    return f"history_{day:%Y%m%d}_{n:02d}"
