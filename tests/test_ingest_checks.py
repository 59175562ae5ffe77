"""The checks of staged rows, written for speed, against their plain forms:
a timestamp read as the time-zone cast reads it, and a row's problems found
by one control-character search and one typing of each value exactly as by a
search and a typing in every check."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kequn.contract import TABLES
from kequn.ingest.sql import (
    FIXED_OFFSET_SINCE,
    OFFSET_SECONDS,
    blank_to_null,
    checked_select,
    ident,
    problem_expr,
    timestamp_expr,
    typed_expr,
)

AS_OF = date(2026, 12, 1)


def _session() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")  # as the ingest's session
    return con


def test_beijing_time_has_kept_one_offset_since_the_day_the_fast_reading_starts() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    day = datetime.fromisoformat(FIXED_OFFSET_SINCE)
    assert (day - timedelta(days=1)).replace(hour=1, tzinfo=zone).utcoffset() == timedelta(hours=9)
    while day.year < 2200:
        for hour in (0, 12):
            assert day.replace(hour=hour, tzinfo=zone).utcoffset() == timedelta(seconds=OFFSET_SECONDS)
        day += timedelta(days=1)


two = st.integers(0, 99).map(lambda n: f"{n:02d}")
moment = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, zone: f"{y:04d}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{zone}",
    st.integers(1890, 2199),
    st.one_of(two, st.sampled_from(["01", "02", "06", "09", "12"])),
    st.one_of(two, st.sampled_from(["01", "15", "28", "29", "30", "31"])),
    st.sampled_from([" ", "T", "  ", "_"]),
    st.one_of(two, st.sampled_from(["00", "01", "02", "03", "23", "24"])),
    two,
    two,
    st.sampled_from(["", "", ".5", ".123456"]),
    st.sampled_from(["", "", "", "Z", "+08", "+08:00", "-05:00", "+0930", " UTC"]),
)
# well-formed wall-clock times, Beijing's summers of 1986-1991 among them
wall_clock = st.one_of(
    st.datetimes(datetime(1900, 1, 1), datetime(2199, 12, 31)),
    st.datetimes(datetime(1985, 1, 1), datetime(1992, 12, 31)),
).map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S"))
texts = st.one_of(
    wall_clock,
    moment,
    moment.map(lambda m: m[:16]),  # no seconds
    moment.map(lambda m: m[:10]),  # a date alone
    moment.map(lambda m: m[:19].replace(":", "+", 1)),
    st.text(max_size=22),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(texts, min_size=1, max_size=40))
def test_a_timestamp_is_read_as_the_time_zone_cast_reads_it_alone(values: list[str]) -> None:
    """Each text read in a batch of texts as the cast reads it on its own (in a
    batch, DuckDB 1.5's cast carries a zone named by one text over to the
    texts after it that name none)."""
    con = _session()
    alone = [con.execute("SELECT TRY_CAST(? AS TIMESTAMPTZ)", [v]).fetchone()[0] for v in values]  # type: ignore[index]
    con.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    batch = [r[0] for r in con.execute(f"SELECT {timestamp_expr('v')} FROM t ORDER BY i").fetchall()]
    assert batch == alone, values


#: characters a cell may start or end with: spaces DuckDB's trim removes (the
#: Unicode space separators), and those it keeps (tab, newline, other controls)
edges = st.sampled_from([" ", "\u3000", "\u00a0", "\u2002", "\u202f", "\t", "\n", "\x01", "\u200b", "\ufeff"])
cells = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(max_codepoint=127), max_size=12),
    st.tuples(st.lists(edges, max_size=2), st.text(max_size=6), st.lists(edges, max_size=2)).map(
        lambda t: "".join(t[0]) + t[1] + "".join(t[2])
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), cells), min_size=1, max_size=40))
def test_a_cell_is_trimmed_and_blanked_as_trim_alone_does_it(values: list[str | None]) -> None:
    """The ingest's quick trim (``blank_to_null``) gives what ``NULLIF(trim(v), '')``
    gives, for every text: ASCII or not, padded by any kind of space or none."""
    con = _session()
    con.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    got = con.execute(f"SELECT {blank_to_null('v')}, NULLIF(trim(v), '') FROM t ORDER BY i").fetchall()
    assert [a for a, _ in got] == [b for _, b in got], values


def test_a_zone_named_by_one_timestamp_is_not_carried_to_the_next() -> None:
    con = _session()
    con.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
    values = ["2000-01-01 00:00:00 UTC", "2000-01-01 00:00:00.5", "1990-06-01 12:00:00", "2000-01-01"]
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    read = con.execute(f"SELECT strftime({timestamp_expr('v')}, '%H:%M') FROM t ORDER BY i").fetchall()
    assert [r[0] for r in read] == ["08:00", "00:00", "12:00", "00:00"]


def _plain_select(table: str) -> str:
    """The checks as they read before: each value typed again by each check
    that reads it, and a pattern search for control characters in each text."""
    columns = TABLES[table].columns
    typed = ", ".join(
        f"{'TRY_CAST(' + ident(c.name) + ' AS TIMESTAMPTZ)' if c.kind == 'timestamp' else typed_expr(c)} "
        f"AS {ident(c.name)}"
        for c in columns
    )
    parts = [f"'{c.name}:' || {problem_expr(c, AS_OF)}" for c in columns if problem_expr(c, AS_OF) != "NULL"]
    return f"SELECT _row, {typed}, concat_ws(';', {', '.join(parts)}) AS _p FROM stage"


cell = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["C1", "2026-09-01 21:13:07", "2026-12-02 00:00:00", "-76.44", "CNY", "pos", "5411"]),
    st.sampled_from(["card_spend", "salary", "true", "x", "1e5", "1980-01-02", "2099-01-01", "B1"]),
    st.builds(
        lambda a, c, b: a + c + b,
        st.text(max_size=3),
        st.sampled_from(["\x00", "\x1f", "\x7f", "\t"]),
        st.text(max_size=3),
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["transactions", "customers", "products", "consents"]), st.data())
def test_a_rows_problems_and_typed_values_are_those_each_check_finds_alone(
    table: str, data: st.DataObject
) -> None:
    columns = TABLES[table].columns
    rows = data.draw(
        st.lists(st.lists(cell, min_size=len(columns), max_size=len(columns)), min_size=1, max_size=12)
    )
    con = _session()
    con.execute(
        "CREATE TABLE stage (_row BIGINT, _file INTEGER, _line BIGINT, "
        + ", ".join(f"{ident(c.name)} VARCHAR" for c in columns)
        + ")"
    )
    con.executemany(
        f"INSERT INTO stage VALUES ({', '.join('?' * (len(columns) + 3))})",
        [[i, 0, i + 2, *r] for i, r in enumerate(rows)],
    )
    names = ", ".join(ident(c.name) for c in columns)
    fast = con.execute(
        f"SELECT _row, {names}, _p FROM ({checked_select(columns, AS_OF, 'stage')}) ORDER BY 1"
    ).fetchall()
    plain = con.execute(f"SELECT _row, {names}, _p FROM ({_plain_select(table)}) ORDER BY 1").fetchall()
    assert fast == plain
    assert len(fast) == len(rows)


def test_a_big_file_read_on_two_threads_keeps_every_row_on_its_own_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A file's rows are typed as they are read and their lines told from their
    place (see ``ingest.stage``): in a file large enough to be read in parallel,
    with blank lines, lines the reader rejects and values quarantine shows,
    every row must come out on its own line, and its text read again must be
    its own."""
    from pathlib import Path

    from kequn.ingest.mapping import Mapping
    from kequn.ingest.run import stage_connection
    from kequn.ingest.sources import open_source
    from kequn.ingest.stage import stage_table, stage_view
    from kequn.ingest.validate import FILES_DDL, check_table

    lines = ['"customer_id","purpose","granted","ts","source"']
    for n in range(2, 400_002):
        if n % 99_991 == 0:
            lines.append("")  # a blank line
        elif n % 77_777 == 0:
            lines.append(f'"C{n:09d}","marketing_sms"')  # too few fields: rejected by the reader
        elif n % 5_003 == 0:
            lines.append(f'"C{n:09d}","not_a_purpose","true","2025-01-01 08:00:00","counter"')
        else:
            lines.append(f'"C{n:09d}","marketing_sms","true","2025-01-01 08:00:00","counter"')
    path = Path(tmp_path) / "consents.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = stage_connection(Path(tmp_path), "500MB")
    try:
        con.execute("SET threads = 2")
        con.execute(FILES_DDL)
        con.execute("INSERT INTO files VALUES ('consents', 0, 'consents.csv')")
        staged = stage_table(
            con, TABLES["consents"], [open_source(path, None, ",")], Mapping(version=1), Path(tmp_path), AS_OF
        )
        check_table(con, TABLES["consents"], AS_OF, {"consents"}, staged)
        rows = con.execute("SELECT _line, customer_id, purpose FROM checked_consents").fetchall()
        assert len(rows) == sum(1 for n in range(2, 400_002) if n % 99_991 and n % 77_777)
        assert all(int(cid[1:]) == line for line, cid, _ in rows)
        quarantined = con.execute(
            "SELECT line, reason, value FROM quarantine_consents ORDER BY line"
        ).fetchall()
        assert {(line, reason) for line, reason, _ in quarantined} == {
            (n, "malformed_row" if n % 77_777 == 0 else "unknown_code")
            for n in range(2, 400_002)
            if n % 99_991 and (n % 77_777 == 0 or n % 5_003 == 0)
        }
        assert all(value == "not_a_purpose" for _, reason, value in quarantined if reason == "unknown_code")
        # what quarantine shows is each rejected row's own text, read again from
        # its own line alone, not with every other row of the file
        records = con.execute(
            "SELECT line, record->>'customer_id' FROM quarantine_consents WHERE reason = 'unknown_code'"
        ).fetchall()
        assert records and all(int(cid[1:]) == line for line, cid in records)
        kept = con.execute("SELECT count(*) FROM _read_consents_0").fetchone()
        assert kept == (len(records),)
        stage_view(con, TABLES["consents"], staged)
        mismatched = con.execute("""
            SELECT count(*) FROM checked_consents c JOIN stage_consents s USING (_row)
            WHERE c._line <> s._line OR c.customer_id <> s.customer_id""").fetchone()
        assert mismatched == (0,)
    finally:
        con.close()


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.text(alphabet='ab,"\r中', max_size=6), min_size=1, max_size=20),
    final_newline=st.booleans(),
    chunk_size=st.integers(1, 9),
    data=st.data(),
)
def test_a_files_lines_are_found_by_their_numbers_across_chunks(
    lines: list[str], final_newline: bool, chunk_size: int, data: st.DataObject
) -> None:
    """Quarantine reads a fast-read file's rejected rows from their own lines:
    each line asked for must be that line's bytes, wherever the chunks cut."""
    import tempfile
    from pathlib import Path

    from kequn.ingest.sources import physical_lines

    body = ("\n".join(lines) + ("\n" if final_newline else "")).encode("utf-8")
    assume(body)  # an empty file has no line
    truth = body.split(b"\n")
    if body.endswith(b"\n"):  # a final newline ends the last line; no line follows it
        truth.pop()
    numbers = data.draw(st.sets(st.integers(1, len(truth))))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.csv"
        path.write_bytes(body)
        assert physical_lines(path, numbers, chunk_size) == {n: truth[n - 1] for n in numbers}


def test_a_file_changed_while_it_is_ingested_is_refused_before_its_rows_are_matched(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Quarantine reads a file with rejected rows a second time and matches the
    rows by their place: a file changed in between (the same number of lines,
    another value) is refused, naming the file, not matched row to wrong row."""
    from pathlib import Path

    import pytest

    from kequn.core.errors import InputError
    from kequn.ingest.mapping import Mapping
    from kequn.ingest.run import stage_connection
    from kequn.ingest.sources import open_source
    from kequn.ingest.stage import stage_table, stage_view

    path = Path(tmp_path) / "consents.csv"
    rows = [f'"C{n:09d}","marketing_sms","true","2025-01-01 08:00:00","counter"' for n in range(1, 50)]
    header = '"customer_id","purpose","granted","ts","source"'
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    con = stage_connection(Path(tmp_path), "200MB")
    try:
        source = open_source(path, None, ",")
        staged = stage_table(con, TABLES["consents"], [source], Mapping(version=1), Path(tmp_path), AS_OF)
        stage_view(con, TABLES["consents"], staged)  # unchanged: read again
        changed = path.read_text(encoding="utf-8").replace("C000000007", "C000000070")
        path.write_text(changed, encoding="utf-8")
        with pytest.raises(InputError, match="changed while it was being ingested"):
            stage_view(con, TABLES["consents"], staged)
    finally:
        con.close()
