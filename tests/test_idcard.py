from datetime import date

import duckdb
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kequn.contract import TABLES
from kequn.contract.idcard import CHECK_CHARS, birth_date, check_digit, gender, problem
from kequn.ingest.sql import problem_expr
from kequn.synth.people import id_numbers


def test_the_standard_example() -> None:
    # GB 11643-1999's worked example
    assert check_digit("11010519491231002") == "X"
    assert problem("11010519491231002X") is None
    assert problem("110105194912310021") == "bad_id_check_digit"
    assert birth_date("11010519491231002X") == date(1949, 12, 31)
    assert gender("11010519491231002X") == "F"


def test_generator_makes_valid_numbers_with_the_stated_birth_and_gender() -> None:
    rng = np.random.default_rng(3)
    birth = np.datetime64("1950-01-01") + rng.integers(0, 20000, 500) * np.timedelta64(1, "D")
    seq = rng.integers(0, 1000, 500)
    ids = id_numbers(np.full(500, "140105"), birth, seq)
    for number, b, s in zip(ids, birth, seq, strict=True):
        assert problem(str(number)) is None
        assert birth_date(str(number)) == b.astype(date)
        assert gender(str(number)) == ("M" if s % 2 else "F")


id_like = st.one_of(
    st.text(alphabet="0123456789X", min_size=16, max_size=19),
    st.builds(
        lambda p, b, s: p + b + s,
        st.sampled_from(["140105", "110105", "990101", "410102"]),
        st.dates(date(1900, 1, 1), date(2030, 12, 31)).map(lambda d: d.strftime("%Y%m%d")),
        st.text(alphabet="0123456789", min_size=4, max_size=4),
    ),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(id_like, min_size=1, max_size=40))
def test_sql_validator_agrees_with_the_python_one(numbers: list[str]) -> None:
    col = TABLES["customers"].column("id_number")
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id_number VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[n] for n in numbers])
    sql = problem_expr(col, date(2026, 1, 1))
    # the stage trims spaces and turns empty values into NULL before any check
    rows = con.execute(
        f"SELECT id_number, {sql} FROM (SELECT NULLIF(trim(id_number), '') AS id_number FROM t)"
    ).fetchall()
    for value, reason in rows:
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            # control characters are refused as such, before any format is checked
            assert reason == "control_characters", repr(value)
            continue
        assert reason == (problem(value) if value is not None else None), repr(value)


def test_check_characters_are_the_standard_ones() -> None:
    assert sorted(CHECK_CHARS) == sorted("0123456789X")
