"""The rules on a handful of rows: one customer's event, one customer's open
tasks after a consent change. The same Ibis expressions as the nightly batch,
compiled once per shape to DuckDB SQL and run in an in-memory DuckDB of this
thread, over Arrow tables registered under the names the expressions read."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

_local = threading.local()


class Local:
    """An in-memory DuckDB for small inputs, with the compiled SQL kept by key."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET threads = 1")
        self.ibis = ibis.duckdb.from_connection(self.con)
        self._sql: dict[Any, str] = {}
        self._schemas: dict[str, pa.Schema] = {}

    def table(self, name: str, schema: ibis.Schema) -> ir.Table:
        """An (empty) input table of this shape, to build expressions against."""
        arrow = schema.to_pyarrow()
        self._schemas[name] = arrow
        self.con.register(name, arrow.empty_table())
        return self.ibis.table(name)

    def run(
        self, key: Any, build: Callable[[], ir.Table], inputs: Mapping[str, pa.Table | list[dict[str, Any]]]
    ) -> pa.Table:
        """``build`` once per ``key`` (its inputs made with ``table``), then run the
        compiled SQL over ``inputs``."""
        sql = self._sql.get(key)
        if sql is None:
            sql = self.ibis.compile(build())
            self._sql[key] = sql
        for name, rows in inputs.items():
            data = (
                rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema=self._schemas[name])
            )
            self.con.register(name, data)
        return self.con.execute(sql).to_arrow_table()


def local() -> Local:
    """This thread's in-memory DuckDB."""
    found: Local | None = getattr(_local, "engine", None)
    if found is None:
        found = Local()
        _local.engine = found
    return found
