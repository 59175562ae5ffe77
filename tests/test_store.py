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
