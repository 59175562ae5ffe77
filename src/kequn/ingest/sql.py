"""SQL built from the contract: mapping a bank's columns, checking and typing them.

Everything runs inside DuckDB, a whole table per statement, so that tens of
millions of rows are checked at the speed of a scan. Each column check yields
``field:reason`` or NULL; a row's problems are joined with ``;``.
"""

from __future__ import annotations

from datetime import date

from kequn.contract import Column
from kequn.contract.idcard import CHECK_CHARS, PROVINCE_CODES, WEIGHTS
from kequn.ingest.mapping import Mapping, TableMapping

TRUE_WORDS = ("true", "t", "1", "y", "yes")
FALSE_WORDS = ("false", "f", "0", "n", "no")


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: tuple[str, ...] | frozenset[str]) -> str:
    return ", ".join(literal(v) for v in sorted(values))


def mapped_expr(col: Column, header: set[str], tm: TableMapping, m: Mapping, parquet: bool) -> str:
    """The contract column as text, from the bank's column and formats."""
    if col.name in tm.constants:
        return literal(tm.constants[col.name])
    source = tm.columns.get(col.name, col.name)
    if source not in header:
        return "CAST(NULL AS VARCHAR)"
    raw = ident(source)
    if parquet:
        raw = f"CAST({raw} AS VARCHAR)"
    e = f"NULLIF(trim({raw}), '')"
    codes = tm.values.get(col.name)
    if codes:
        # a code mapped to "" is the bank's word for "not known": empty, as a blank cell
        cases = " ".join(f"WHEN {literal(k)} THEN {literal(v) if v else 'NULL'}" for k, v in codes.items())
        e = f"(CASE {e} {cases} ELSE {e} END)"
    fmt = tm.formats.get(col.name)
    if col.kind == "date" and (fmt or m.date_format):
        p = literal(fmt or m.date_format or "")
        e = f"COALESCE(strftime(try_strptime({e}, {p}), '%Y-%m-%d'), {e})"
    elif col.kind == "timestamp" and (fmt or m.timestamp_format):
        p = literal(fmt or m.timestamp_format or "")
        e = f"COALESCE(strftime(try_strptime({e}, {p}), '%Y-%m-%d %H:%M:%S'), {e})"
    elif col.kind == "money":
        unit = fmt or m.amount_format
        if unit == "fen":
            e = (
                f"(CASE WHEN regexp_full_match({e}, '[+-]?[0-9]{{1,20}}') THEN CAST(CAST("
                f"CAST({e} AS DECIMAL(38,0)) / 100 AS DECIMAL(38,2)) AS VARCHAR) ELSE {e} END)"
            )
        elif unit == "thousands":
            e = (
                f"(CASE WHEN regexp_full_match({e}, '[+-]?[0-9]{{1,3}}(,[0-9]{{3}})*"
                f"(\\.[0-9]+)?') THEN replace({e}, ',', '') ELSE {e} END)"
            )
    return e


def _id_number_problem(v: str) -> str:
    digits = " + ".join(f"{w} * CAST(substr({v}, {i + 1}, 1) AS INTEGER)" for i, w in enumerate(WEIGHTS))
    return (
        f"WHEN NOT regexp_full_match({v}, '[0-9]{{17}}[0-9X]') "
        f"OR substr({v}, 1, 2) NOT IN ({_in_list(PROVINCE_CODES)}) "
        f"OR try_strptime(substr({v}, 7, 8), '%Y%m%d') IS NULL THEN 'bad_id_format' "
        f"WHEN substr({literal(CHECK_CHARS)}, (({digits}) % 11) + 1, 1) <> substr({v}, 18, 1) "
        "THEN 'bad_id_check_digit' "
    )


FORMAT_CHECKS = {
    "mobile": lambda v: f"WHEN NOT regexp_full_match({v}, '1[3-9][0-9]{{9}}') THEN 'bad_phone' ",
    "mcc": lambda v: f"WHEN NOT regexp_full_match({v}, '[0-9]{{4}}') THEN 'unknown_code' ",
    "currency": lambda v: f"WHEN NOT regexp_full_match({v}, '[A-Z]{{3}}') THEN 'unknown_code' ",
    "month_day": lambda v: f"WHEN try_strptime('2000-' || {v}, '%Y-%m-%d') IS NULL THEN 'unparseable_date' ",
    "id_number": _id_number_problem,
}


def typed_expr(col: Column) -> str:
    v = ident(col.name)
    return {
        "str": v,
        "enum": v,
        "int": f"TRY_CAST({v} AS INTEGER)",
        "number": f"TRY_CAST({v} AS DOUBLE)",
        "money": f"TRY_CAST({v} AS DECIMAL(18,2))",
        "rate": f"TRY_CAST({v} AS DECIMAL(12,6))",
        "date": f"TRY_CAST({v} AS DATE)",
        "timestamp": f"TRY_CAST({v} AS TIMESTAMPTZ)",
        "bool": (
            f"(CASE WHEN lower({v}) IN ({_in_list(frozenset(TRUE_WORDS))}) THEN TRUE "
            f"WHEN lower({v}) IN ({_in_list(frozenset(FALSE_WORDS))}) THEN FALSE END)"
        ),
    }[col.kind]


def problem_expr(col: Column, as_of: date) -> str:
    """``'column:reason'`` for the first thing wrong with the value, else NULL."""
    v = ident(col.name)
    typed = typed_expr(col)
    whens = ""
    if col.required:
        whens += f"WHEN {v} IS NULL THEN 'missing_required' "
    body = ""
    if col.kind == "int":
        body += f"WHEN NOT regexp_full_match({v}, '[+-]?[0-9]{{1,9}}') THEN 'unparseable_number' "
    elif col.kind == "number":
        body += (
            f"WHEN NOT regexp_full_match({v}, '[+-]?([0-9]{{1,15}}(\\.[0-9]*)?|\\.[0-9]+)"
            f"([eE][+-]?[0-9]{{1,3}})?') THEN 'unparseable_decimal' "
        )
    elif col.kind == "money":
        body += (
            f"WHEN NOT regexp_full_match({v}, '[+-]?[0-9]{{1,16}}(\\.[0-9]{{1,2}})?') "
            "THEN 'unparseable_amount' "
        )
    elif col.kind == "rate":
        body += (
            f"WHEN NOT regexp_full_match({v}, '[+-]?([0-9]{{1,6}}(\\.[0-9]{{0,6}})?"
            f"|\\.[0-9]{{1,6}})') THEN 'unparseable_rate' "
        )
    elif col.kind == "date":
        body += f"WHEN {typed} IS NULL THEN 'unparseable_date' "
        body += f"WHEN {typed} < DATE '1900-01-01' OR {typed} > DATE '2200-12-31' THEN 'out_of_range' "
    elif col.kind == "timestamp":
        body += f"WHEN {typed} IS NULL THEN 'unparseable_timestamp' "
    elif col.kind == "bool":
        body += f"WHEN {typed} IS NULL THEN 'unparseable_bool' "
    elif col.kind == "enum":
        body += f"WHEN {v} NOT IN ({_in_list(frozenset(col.values))}) THEN 'unknown_code' "
    if col.kind in ("str", "enum"):
        # NUL and the other C0 controls never belong in a bank's text (a NUL would
        # also end the string in the systems it is sent on to)
        body += f"WHEN regexp_matches({v}, '[\\x00-\\x1f\\x7f]') THEN 'control_characters' "
    if col.max_length:
        body += f"WHEN length({v}) > {col.max_length} THEN 'too_long' "
    if col.check:
        body += FORMAT_CHECKS[col.check](v)
    if col.minimum is not None:
        body += f"WHEN {typed} < {col.minimum} THEN 'out_of_range' "
    if col.maximum is not None:
        body += f"WHEN {typed} > {col.maximum} THEN 'out_of_range' "
    if col.not_future and col.kind == "date":
        body += f"WHEN {typed} > DATE '{as_of.isoformat()}' THEN 'future_date' "
    if col.not_future and col.kind == "timestamp":
        # anything on the as-of day (Beijing time) is in the extract's past
        body += (
            f"WHEN {typed} >= TIMESTAMPTZ '{as_of.isoformat()} 00:00:00+08' "
            "+ INTERVAL 1 DAY THEN 'future_date' "
        )
    if body:
        whens += f"WHEN {v} IS NOT NULL THEN (CASE {body} END) "
    if not whens:
        return "NULL"
    return f"(CASE {whens} END)"


def problems_of_row(columns: tuple[Column, ...], as_of: date) -> str:
    parts = []
    for col in columns:
        expr = problem_expr(col, as_of)
        if expr != "NULL":
            parts.append(f"{literal(col.name + ':')} || {expr}")
    if not parts:
        return "''"
    return "concat_ws(';', " + ", ".join(parts) + ")"
