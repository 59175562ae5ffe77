"""SQL built from the contract: mapping a bank's columns, checking and typing them.

Everything runs inside DuckDB, a whole table per statement, so that tens of
millions of rows are checked at the speed of a scan. Each column check yields
``field:reason`` or NULL; a row's problems are joined with ``;``.
"""

from __future__ import annotations

from collections.abc import Mapping as Mapping_
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


def _one_of(value: str, values: tuple[str, ...] | frozenset[str]) -> str:
    """``value`` is one of ``values`` (NULL for NULL). Not ``IN (…)``: DuckDB reads
    a long list as a join, and a join does not keep the rows in the file's
    order, which the reading of a file relies on (see ``stage``)."""
    return f"list_contains([{', '.join(literal(v) for v in sorted(values))}], {value})"


def blank_to_null(raw: str) -> str:
    """``raw`` trimmed, NULL when blank: ``NULLIF(trim(raw), '')``, whose trim
    (Unicode spaces, such as U+3000, at either end) cost 60 ns a value, ten
    seconds of a 1,000,000-customer bank's transactions. A value of ASCII
    characters only that neither starts nor ends with a space is its own
    trim, and is found by cheap tests (``length`` counts characters, ``strlen``
    bytes), so only the others are trimmed (tests/test_ingest_checks.py holds
    the two equal)."""
    return (
        f"(CASE WHEN {raw} = '' THEN NULL "
        f"WHEN strlen({raw}) = length({raw}) AND NOT prefix({raw}, ' ') AND NOT suffix({raw}, ' ') "
        f"THEN {raw} ELSE NULLIF(trim({raw}), '') END)"
    )


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
    e = blank_to_null(raw)
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
        f"OR NOT {_one_of(f'substr({v}, 1, 2)', PROVINCE_CODES)} "
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


#: Beijing time has been UTC+8 all year since this day (its last summer time
#: ended on 1991-09-15); a test holds the zone database to it
FIXED_OFFSET_SINCE = "1991-09-16"
OFFSET_SECONDS = 8 * 3600


def timestamp_expr(v: str) -> str:
    """The text as a moment, read as Beijing time when it names no offset: what
    ``TRY_CAST(v AS TIMESTAMPTZ)`` gives in the ingest's session (Asia/Shanghai).

    A plain ``YYYY-MM-DD HH:MM:SS`` since Beijing's offset became fixed is read
    as a wall-clock time and moved by that offset, without the time-zone
    library that the cast calls on every row (it cost more than twice as much
    over 28 million transactions). Any other text goes through the cast, a
    text naming its zone (``UTC``, ``Asia/Shanghai``) apart from the rest:
    DuckDB 1.5's cast reads a text without a zone in the zone named by a text
    before it in the same batch (eight hours off after a ``UTC``)."""
    cast = f"TRY_CAST({v} AS TIMESTAMPTZ)"
    cast = f"(CASE WHEN regexp_matches({v}, '[A-Za-z]{{2}}') THEN {cast} ELSE {cast} END)"
    wall = f"TRY_CAST({v} AS TIMESTAMP)"
    return (
        f"(CASE WHEN length({v}) = 19 AND substr({v}, 17, 1) = ':' "
        f"AND {wall} >= TIMESTAMP '{FIXED_OFFSET_SINCE}' "
        f"THEN to_timestamp(epoch({wall}) - {OFFSET_SECONDS}) ELSE {cast} END)"
    )


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
        "timestamp": timestamp_expr(v),
        "bool": (
            f"(CASE WHEN {_one_of(f'lower({v})', frozenset(TRUE_WORDS))} THEN TRUE "
            f"WHEN {_one_of(f'lower({v})', frozenset(FALSE_WORDS))} THEN FALSE END)"
        ),
    }[col.kind]


#: NUL and the other C0 controls, and DEL
CONTROL_CHARACTERS = "'[\\x00-\\x1f\\x7f]'"


def _is_text(col: Column) -> bool:
    return col.kind in ("str", "enum")


def problem_expr(col: Column, as_of: date, controls: bool = True, typed: str | None = None) -> str:
    """``'column:reason'`` for the first thing wrong with the value, else NULL.
    ``controls=False``: for a row known to hold no control character, the
    check for them is left out (it cannot fire). ``typed``: where the typed
    value is already computed (else it is computed here, once per use)."""
    v = ident(col.name)
    typed = typed or typed_expr(col)
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
        body += f"WHEN NOT {_one_of(v, frozenset(col.values))} THEN 'unknown_code' "
    if _is_text(col) and controls:
        # NUL and the other C0 controls never belong in a bank's text (a NUL would
        # also end the string in the systems it is sent on to)
        body += f"WHEN regexp_matches({v}, {CONTROL_CHARACTERS}) THEN 'control_characters' "
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


def _problems(columns: tuple[Column, ...], as_of: date, controls: bool, typed: Mapping_[str, str]) -> str:
    parts = []
    for col in columns:
        expr = problem_expr(col, as_of, controls, typed.get(col.name))
        if expr != "NULL":
            parts.append(f"{literal(col.name + ':')} || {expr}")
    if not parts:
        return "''"
    return "concat_ws(';', " + ", ".join(parts) + ")"


def problems_of_row(columns: tuple[Column, ...], as_of: date, typed: Mapping_[str, str] | None = None) -> str:
    """Every problem of a row, ``column:reason`` joined by ``;`` ('' for none);
    ``typed``: column -> where its typed value is already computed.

    Control characters are looked for once in the row's text columns joined
    together, and column by column only in a row that has one: a pattern run
    on every text column of every row cost more than the rest of the checks
    (transactions have nine such columns)."""
    typed = typed or {}
    texts = [ident(c.name) for c in columns if _is_text(c)]
    clean = _problems(columns, as_of, False, typed)
    if not texts:
        return clean
    full = _problems(columns, as_of, True, typed)
    any_control = f"regexp_matches(concat_ws('', {', '.join(texts)}), {CONTROL_CHARACTERS})"
    return f"(CASE WHEN {any_control} THEN {full} ELSE {clean} END)"


#: the prefix of a column's typed value beside its text while a table is checked
TYPED = "_typed_"


def checked_select(
    columns: tuple[Column, ...], as_of: date, source: str, keep: str = "_row, _file, _line"
) -> str:
    """The rows of ``source`` (text, with the columns ``keep`` names carried
    through in front) typed, with their problems in ``_p``: each value is typed
    once, below, and read by its column and by the checks that compare it (a
    date's range, a moment in the future), rather than typed again by each."""
    converted = [c for c in columns if typed_expr(c) != ident(c.name)]
    refs = {c.name: ident(TYPED + c.name) for c in converted}
    inner = ", ".join(f"{typed_expr(c)} AS {refs[c.name]}" for c in converted)
    out = ", ".join(f"{refs.get(c.name, ident(c.name))} AS {ident(c.name)}" for c in columns)
    below = f"(SELECT *, {inner} FROM {source})" if inner else source
    return f"SELECT {keep}, {out}, {problems_of_row(columns, as_of, refs)} AS _p FROM {below}"
