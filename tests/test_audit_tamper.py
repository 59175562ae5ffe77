"""Any tampering with the access trail is named by the entry at fault, and
``kequn audit verify`` never crashes on a row it cannot read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from kequn.cli.main import app as cli
from kequn.privacy.audit import Event, entry_hash, record, verify
from kequn.store import open_store

N = 10
TAMPERING = ("edit", "edit_and_rehash", "remove", "swap", "garble_time", "garble_detail", "cut_end")


def _fresh(path: Path) -> str:
    url = f"sqlite:///{path}"
    path.unlink(missing_ok=True)
    ops = open_store(url)
    with ops.session() as s:
        record(
            s,
            [
                Event(f"user{i % 3}", "service_manager", "view_customer", f"C{i:09d}", {"i": i})
                for i in range(N)
            ],
        )
    ops.dispose()
    return url


def _tamper(url: str, how: str, k: int) -> set[int]:
    """Applies one tampering at entry ``k``; returns the entries a report must name."""
    ops = open_store(url)
    with ops.engine.begin() as con:
        if how == "edit":
            con.execute(text("UPDATE audit_log SET actor = 'intruder' WHERE seq = :k"), {"k": k})
            named = {k}
        elif how == "edit_and_rehash":
            row = con.execute(
                text("SELECT at, role, action, customer_id, detail, prev_hash FROM audit_log WHERE seq = :k"),
                {"k": k},
            ).one()
            from kequn.privacy.audit import _moment

            h = entry_hash(
                row.prev_hash,
                k,
                _moment(row.at),
                "intruder",
                row.role,
                row.action,
                row.customer_id,
                row.detail,
            )
            con.execute(
                text("UPDATE audit_log SET actor = 'intruder', hash = :h WHERE seq = :k"), {"h": h, "k": k}
            )
            named = {k}
        elif how == "remove":
            con.execute(text("DELETE FROM audit_log WHERE seq = :k"), {"k": k})
            named = {k}
        elif how == "swap":
            j = k + 1 if k < N else k - 1
            con.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = :k"), {"k": k})
            con.execute(text("UPDATE audit_log SET seq = :k WHERE seq = :j"), {"k": k, "j": j})
            con.execute(text("UPDATE audit_log SET seq = :j WHERE seq = -1"), {"j": j})
            named = {k, j}
        elif how == "garble_time":
            con.execute(text("UPDATE audit_log SET at = 'yesterday-ish' WHERE seq = :k"), {"k": k})
            named = {k}
        elif how == "garble_detail":
            con.execute(text("UPDATE audit_log SET detail = '{not json' WHERE seq = :k"), {"k": k})
            named = {k}
        else:  # cut_end
            con.execute(text("DELETE FROM audit_log WHERE seq >= :k"), {"k": k})
            named = set(range(k, N + 1))
    ops.dispose()
    return named


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=st.sampled_from(TAMPERING), k=st.integers(1, N))
def test_every_tampering_is_named_by_its_entry(tmp_path: Path, how: str, k: int) -> None:
    url = _fresh(tmp_path / "trail.sqlite")
    named = _tamper(url, how, k)
    ops = open_store(url)
    with ops.session() as s:
        problems = verify(s).problems
    ops.dispose()
    assert problems, f"{how} at {k} went unseen"
    text_ = " ".join(problems)
    if how == "cut_end":
        assert f"entries {k}–{N}" in text_ or f"entry {k}" in text_, problems
    else:
        for n in named:
            assert f"entry {n} " in text_ + " ", (how, k, problems)


def test_the_cli_names_a_garbled_row_and_exits_1(tmp_path: Path) -> None:
    url = _fresh(tmp_path / "trail.sqlite")
    _tamper(url, "garble_time", 4)
    result = CliRunner().invoke(cli, ["audit", "verify", "--store", url])
    assert result.exit_code == 1, result.output
    assert "entry 4 was changed" in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_a_changed_time_is_found_on_postgresql(pg_database: str) -> None:
    ops = open_store(pg_database)
    with ops.engine.begin() as con:
        con.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    ops.dispose()
    ops = open_store(pg_database)
    with ops.session() as s:
        record(s, [Event("u", "hq", "view_customer", f"C{i:09d}", {}) for i in range(5)])
    with ops.engine.begin() as con:
        con.execute(text("UPDATE audit_log SET at = at + :d WHERE seq = 3"), {"d": timedelta(minutes=1)})
    with ops.session() as s:
        problems = verify(s).problems
    ops.dispose()
    assert any("entry 3 was changed" in p for p in problems), problems
