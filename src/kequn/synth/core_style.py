"""Writes an extract the way a core banking system would (``kequn synth --style core``).

The shape is not hand-coded here: the exporter reads the shipped mapping file
and applies it backwards (contract value -> bank code, ISO date -> YYYYMMDD,
yuan -> fen). Ingesting the result with that mapping must give the same
snapshot as the contract-shaped extract, which a test checks.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import duckdb

from kequn.contract import TABLES, Column
from kequn.ingest.mapping import Mapping, TableMapping, load_mapping
from kequn.ingest.sql import ident, literal

MAPPING_NAME = "core_system_mapping.toml"


def core_mapping_path() -> Path:
    return Path(str(resources.files("kequn.synth").joinpath(MAPPING_NAME)))


def _export_expr(col: Column, tm: TableMapping, m: Mapping) -> str:
    v = ident(col.name)
    if col.kind == "bool":
        v = f"CASE lower({v}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE {v} END"
    codes = tm.values.get(col.name)
    if codes:
        inverse: dict[str, str] = {}
        for code, value in codes.items():
            inverse.setdefault(value, code)
        cases = " ".join(f"WHEN {literal(val)} THEN {literal(code)}" for val, code in inverse.items())
        v = f"(CASE {v} {cases} ELSE {v} END)"
    fmt = tm.formats.get(col.name)
    if col.kind == "date" and (fmt or m.date_format):
        v = f"strftime(TRY_CAST({v} AS DATE), {literal(fmt or m.date_format or '')})"
    elif col.kind == "timestamp" and (fmt or m.timestamp_format):
        v = f"strftime(TRY_CAST({v} AS TIMESTAMP), {literal(fmt or m.timestamp_format or '')})"
    elif col.kind == "money" and (fmt or m.amount_format) == "fen":
        v = f"CAST(CAST(CAST({v} AS DECIMAL(18,2)) * 100 AS BIGINT) AS VARCHAR)"
    elif col.kind == "money" and (fmt or m.amount_format) == "thousands":
        v = f"format('{{:,.2f}}', CAST({v} AS DECIMAL(18,2)))"
    return f"{v} AS {ident(tm.columns.get(col.name, col.name))}"


def export_core_style(src: Path, out: Path, mapping_file: Path | None = None) -> Path:
    """Rewrites a contract-shaped CSV extract at ``src`` into core-system shape at ``out``."""
    mapping = load_mapping(mapping_file or core_mapping_path())
    src, out = Path(src), Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    con = duckdb.connect()
    try:
        for name, table in TABLES.items():
            path = src / f"{name}.csv"
            if not path.is_file():
                continue
            tm = mapping.for_table(name)
            columns = "{" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in table.column_names) + "}"
            exprs = ", ".join(
                _export_expr(c, tm, mapping) for c in table.columns if c.name not in tm.constants
            )
            target = out / (tm.files[0] if tm.files else f"{name}.csv")
            utf8 = target.with_suffix(".utf8")
            con.execute(f"""
                COPY (SELECT {exprs} FROM read_csv({literal(str(path))}, header = true,
                      auto_detect = false, columns = {columns}, quote = '"', escape = '"'))
                TO {literal(str(utf8))} (HEADER, DELIMITER ',')""")
            encoding = tm.encoding or mapping.encoding or "utf-8"
            with (
                open(utf8, encoding="utf-8") as fin,
                open(target, "w", encoding=encoding, newline="") as fout,
            ):
                shutil.copyfileobj(fin, fout, 1 << 22)
            utf8.unlink()
    finally:
        con.close()
    for extra in ("extract.json",):
        if (src / extra).is_file():
            shutil.copy(src / extra, out / extra)
    shutil.copy(mapping_file or core_mapping_path(), out / "mapping.toml")
    return out
