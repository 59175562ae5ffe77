"""The operational store's schema comes from its migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

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
