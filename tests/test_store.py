"""The operational store's schema comes from its migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from kequn.store import Base, open_store


def test_migrations_build_exactly_the_models(store_url: str) -> None:
    store = open_store(store_url)
    try:
        with store.engine.connect() as con:
            diff = compare_metadata(MigrationContext.configure(con), Base.metadata)
        assert diff == [], diff
        tables = set(inspect(store.engine).get_table_names())
        assert {"tasks", "outcomes", "consents", "customers", "staff"} <= tables
        # upgrading again is a no-op
        store.upgrade()
    finally:
        store.dispose()


def test_the_head_a_store_is_checked_against_is_alembics_head(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Opening a store skips Alembic when the store is at the newest migration;
    that newest migration is read from the files' numbers, so it must be the
    head Alembic itself finds, and a store one step behind must still be upgraded."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from kequn.store.db import MIGRATIONS, head_revision

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_heads() == [head_revision()]
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    store = open_store(url)
    try:
        assert store.at_head()
        columns = {t: {c["name"] for c in inspect(store.engine).get_columns(t)} for t in Base.metadata.tables}
        cfg.set_main_option("sqlalchemy.url", url)
        previous = script.get_revision(head_revision()).down_revision
        with store.engine.begin() as con:
            cfg.attributes["connection"] = con
            command.downgrade(cfg, str(previous))
        assert not store.at_head()
        store.upgrade()
        assert store.at_head()
        assert columns == {
            t: {c["name"] for c in inspect(store.engine).get_columns(t)} for t in Base.metadata.tables
        }
    finally:
        store.dispose()


def _index_definitions(con, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    if con.dialect.name == "postgresql":
        sql = "SELECT indexdef FROM pg_indexes WHERE tablename = :t AND schemaname = current_schema()"
    else:
        sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
    return set(con.execute(text(sql), {"t": table}).scalars())


def test_an_empty_table_is_filled_with_its_indexes_built_after_and_kept_whatever_happens(
    store_url: str,
) -> None:
    """``indexes_after``: an empty table loses its secondary indexes (never its
    primary key) while it is filled, and has exactly the same ones after; a
    table with rows keeps its own; a fill that fails takes nothing away."""
    from datetime import datetime

    import pytest
    from sqlalchemy import text

    from kequn.core.clock import SHANGHAI
    from kequn.store.bulk import indexes_after, load_rows
    from kequn.store.models import CustomerHolding

    store = open_store(store_url)
    try:
        with store.engine.connect() as con:
            before = {t: _index_definitions(con, t) for t in ("customer_timeline", "customer_holdings")}
        assert before["customer_timeline"] and before["customer_holdings"]
        at = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
        with store.session() as s:
            s.add(
                CustomerHolding(
                    customer_id="C1",
                    account_id="A1",
                    product_id="P1",
                    product_name="存款",
                    product_type="deposit",
                    asset_class="cash",
                    risk_level="R1",
                    balance=100,
                    currency="CNY",
                )
            )
        with store.engine.begin() as con, indexes_after(con, ["customer_timeline", "customer_holdings"]):
            during = {t: _index_definitions(con, t) for t in before}
            load_rows(
                con,
                "customer_timeline",
                ["customer_id", "at", "kind", "amount", "channel", "note"],
                [(f"C{i}", at, "salary", 1000 + i, "auto", None) for i in range(50)],
            )
        with store.engine.connect() as con:
            after = {t: _index_definitions(con, t) for t in before}
            rows = con.execute(text("SELECT count(*) FROM customer_timeline")).scalar_one()
        assert after == before
        assert rows == 50
        assert during["customer_holdings"] == before["customer_holdings"], (
            "a table with rows kept its indexes"
        )
        if store.engine.dialect.name == "postgresql":
            assert during["customer_timeline"] < before["customer_timeline"], "built after the rows"
            assert any("PRIMARY KEY" in d or "pkey" in d for d in during["customer_timeline"])
        else:
            assert during["customer_timeline"] == before["customer_timeline"]
        # a fill that fails midway is rolled back with the indexes it dropped
        with store.engine.begin() as con:
            con.execute(text("DELETE FROM customer_timeline"))
        with (
            pytest.raises(RuntimeError),
            store.engine.begin() as con,
            indexes_after(con, ["customer_timeline"]),
        ):
            raise RuntimeError("the copy broke")
        with store.engine.connect() as con:
            assert _index_definitions(con, "customer_timeline") == before["customer_timeline"]
    finally:
        store.dispose()


def test_rows_streamed_from_duckdb_land_whole_or_not_at_all(store_url: str) -> None:
    """``copy_from_duckdb``: many more rows than a pipe holds arrive, every one;
    a DuckDB query failing after it has sent rows (a cast error on the last
    row) raises, and the store's table is as it was."""
    import duckdb
    import pytest
    from sqlalchemy import text

    from kequn.store.bulk import copy_from_duckdb

    store = open_store(store_url)
    duck = duckdb.connect()
    columns = ["product_id", "name", "type", "risk_level", "asset_class", "is_pension", "fee_rate"]
    many = """SELECT 'P' || i, '产品 "' || i || '"', 'fund', 'R2', 'equity', i % 2 = 0, i / 1e6
              FROM range(200000) t(i)"""
    try:
        with store.engine.begin() as con:
            assert copy_from_duckdb(duck, many, con, "products", columns) == 200_000
        broken = """SELECT 'Q' || i, 'x', 'fund', 'R2', 'equity', FALSE,
                           CAST(CASE WHEN i = 199999 THEN 'not a rate' ELSE '0.1' END AS DOUBLE)
                    FROM range(200000) t(i)"""
        with pytest.raises(duckdb.Error, match="not a rate"), store.engine.begin() as con:
            copy_from_duckdb(duck, broken, con, "products", columns)
        with store.engine.connect() as con:
            assert con.execute(text("SELECT count(*) FROM products")).scalar_one() == 200_000
            assert (
                con.execute(text("SELECT count(*) FROM products WHERE product_id LIKE 'Q%'")).scalar_one()
                == 0
            )
            assert (
                con.execute(text("SELECT name FROM products WHERE product_id = 'P7'")).scalar_one()
                == '产品 "7"'
            )
    finally:
        duck.close()
        store.dispose()


def test_a_streamed_query_that_fails_always_names_its_cause() -> None:
    """DuckDB 1.5 sometimes reports a query failing on one of its two threads
    as "Interrupted!" (one to two in a hundred here); ``duck_batches`` must
    raise the cause every time, so a bank's bad value is named, not hidden."""
    import duckdb
    import pytest

    from kequn.store.bulk import duck_batches

    duck = duckdb.connect()
    duck.execute("SET threads = 2")
    failing = """SELECT 'Q' || i, CAST(CASE WHEN i = 199999 THEN 'not a rate' ELSE '0.1' END AS DOUBLE)
                 FROM range(200000) t(i)"""
    try:
        for _ in range(200):
            with pytest.raises(duckdb.Error, match="not a rate"):
                for _batch in duck_batches(duck, failing, 50_000):
                    pass
    finally:
        duck.close()


def test_a_copy_stopped_early_leaves_no_writer_and_no_pipe_behind(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The database side of a copy can fail at any row: the stream from DuckDB
    closed after its first rows ends DuckDB's writer, removes its pipe, and
    leaves the connection answering the next query."""
    import tempfile
    import threading

    import duckdb

    from kequn.store.bulk import _csv_stream

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    duck = duckdb.connect()
    try:
        rows = _csv_stream(duck, "SELECT i, repeat('x', 50) FROM range(5000000) t(i)")
        assert next(rows)
        assert [t for t in threading.enumerate() if t.name == "kequn-copy"]
        rows.close()
        assert not [t for t in threading.enumerate() if t.name == "kequn-copy"]
        assert list(tmp_path.iterdir()) == []
        assert duck.execute("SELECT 42").fetchone() == (42,)
    finally:
        duck.close()


def test_rows_written_between_an_empty_read_and_the_end_are_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The reader of DuckDB's pipe may find it empty before DuckDB opens it, then
    be paused while DuckDB writes every row and finishes: the rows are still
    read, not left in the pipe with the copy ended as if whole. The pause is
    made here by holding the first empty read until the writer is gone."""
    import threading
    import time

    import duckdb

    from kequn.store import bulk

    real_read = os.read
    held = []

    def writing() -> bool:
        return bool([t for t in threading.enumerate() if t.name == "kequn-copy"])

    def read(fd: int, n: int) -> bytes:
        if not held and writing():
            # the first read, DuckDB not done (nor yet at the pipe, a few
            # microseconds after its thread began): it finds nothing, and the
            # reader is paused until DuckDB has written every row and gone
            held.append(True)
            while writing():
                time.sleep(0.001)
            return b""
        return real_read(fd, n)

    monkeypatch.setattr(bulk.os, "read", read)
    duck = duckdb.connect()
    try:
        got = b"".join(bulk._csv_stream(duck, "SELECT i FROM range(299) t(i)"))
    finally:
        duck.close()
    assert held, "the empty read was held"
    assert got.decode().split() == [str(i) for i in range(299)]
