"""Part of a night's publish, written beside the decisions still being made.

A first night copies a million cards, their positions and their timeline into
the operational store: on PostgreSQL that is half a minute of the database
parsing and indexing rows on one core while Kequn, on the other, could be
running the funnel and the arbitration, which do not read what the copy
writes. So the copy starts inside the publish transaction as soon as the
cards and owners are known, from a thread and a DuckDB connection of its own
(``warehouse.shared_cursor``), and the rest of the publish waits for it. The
transaction commits only after the tasks are written: a failure anywhere,
here or in the decisions, leaves the store as it was.

SQLite takes one writer at a time and keeps a connection to its own thread:
there the same writes run in order when the publish comes to them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import duckdb
from sqlalchemy import Connection

from kequn import warehouse

T = TypeVar("T")
Writes = Callable[[duckdb.DuckDBPyConnection], T]


class Beside(Generic[T]):
    """``writes(duck)`` on the publish connection ``con``: started now on
    PostgreSQL, run at ``result()`` on SQLite."""

    def __init__(self, con: Connection, duck: duckdb.DuckDBPyConnection, writes: Writes[T]) -> None:
        self._con, self._duck, self._writes = con, duck, writes
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if con.dialect.name == "postgresql":
            cursor = warehouse.shared_cursor(duck)
            self._thread = threading.Thread(
                target=self._run, args=(cursor,), name="kequn-beside", daemon=True
            )
            self._thread.start()

    def _run(self, cursor: duckdb.DuckDBPyConnection) -> None:
        try:
            self._value = self._writes(cursor)
        except BaseException as exc:  # raised again by result()
            self._error = exc
        finally:
            cursor.close()

    def result(self) -> T:
        """What the writes returned, once they are done; their error if they failed."""
        if self._thread is None:
            return self._writes(self._duck)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def abandon(self) -> None:
        """Stops the writes, the caller having failed: each statement still
        running is cancelled until the thread ends. The transaction is left to
        the caller to roll back."""
        if self._thread is None:
            return
        raw = self._con.connection.driver_connection
        while self._thread.is_alive():
            with contextlib.suppress(Exception):
                raw.cancel_safe()  # type: ignore[union-attr]
            self._thread.join(0.1)
