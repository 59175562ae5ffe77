"""Connecting to the operational store and bringing its schema up to date."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from kequn.core.errors import KequnError
from kequn.store.models import sqlite_instant

MIGRATIONS = Path(__file__).parent / "migrations"

# a moment bound in raw SQL on SQLite (``text("... WHERE at >= :since")``) is
# written exactly as the ORM and the bulk loads write it, or text comparisons
# of times would compare two formats
sqlite3.register_adapter(datetime, sqlite_instant)


def default_url(snapshot_store: Path) -> str:
    """SQLite beside the analytical store: bank.duckdb -> bank.ops.sqlite."""
    path = Path(snapshot_store)
    return f"sqlite:///{path.with_name(path.stem + '.ops.sqlite')}"


def _sqlite_pragmas(dbapi_con: object, _record: object) -> None:
    cur = dbapi_con.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA busy_timeout = 10000")
    cur.close()


@dataclass
class Store:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as s:
            yield s

    def at_head(self) -> bool:
        """The store's schema is already the newest (one query; Alembic itself
        costs half a second to load and compare, on every command)."""
        try:
            with self.engine.connect() as con:
                found = con.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        except Exception:  # no table yet: a new store
            return False
        return found == [head_revision()]

    def upgrade(self) -> None:
        if self.at_head():
            return
        from alembic import command  # only a store being brought up to date needs it
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url)
        with self.engine.begin() as con:
            cfg.attributes["connection"] = con
            command.upgrade(cfg, "head")

    def refresh_statistics(self) -> None:
        """Tells the query planner what the tables now hold, after a bulk write.

        Without statistics PostgreSQL guesses: at 1,000,000 customers, right after
        the first decide had copied them in, one customer's holdings were read by
        a parallel scan of 4 million rows (5.8 ms and two worker processes on
        every customer page, not 0.1 ms), and autovacuum, which would analyse
        them in time, may be off. PostgreSQL's own advice after filling a
        database is ANALYZE (2.4 s there); SQLite's too, each index sampled
        (``analysis_limit``) rather than read whole."""
        with self.engine.connect() as con:
            if self.is_sqlite:
                con.exec_driver_sql("PRAGMA analysis_limit = 1000")
            con.exec_driver_sql("ANALYZE")
            con.commit()
        if not self.is_sqlite:
            # the day's tasks marked all-visible, so that counting a manager's
            # booked slots (every event does) reads ``ix_tasks_manager_day``
            # alone rather than a task row for each of them (2 ms, not 0.2 ms)
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
                con.exec_driver_sql("VACUUM tasks")

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()


def head_revision() -> str:
    """The newest migration's revision: migrations are numbered files, each
    ``NNNN_what_it_does.py`` with ``revision = "NNNN"`` (a test holds this to
    Alembic's own idea of the head)."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def open_store(url: str, upgrade: bool = True, pool_size: int = 10) -> Store:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise KequnError(f"not a database URL: {url!r} ({exc})") from None
    if parsed.drivername.startswith("sqlite"):
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    store = Store(
        str(parsed.render_as_string(hide_password=False)),
        engine,
        sessionmaker(engine, expire_on_commit=False),
    )
    if upgrade:
        store.upgrade()
    return store
