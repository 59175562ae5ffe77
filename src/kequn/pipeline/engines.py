"""Where the pipeline runs: DuckDB inside the store (the default) or Spark.

Both read the same snapshot and previous run, evaluate the same Ibis
expressions, and hand their results to the same atomic publish."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd

from kequn.ingest.store import SnapshotInfo
from kequn.pipeline.catalog import RunInfo
from kequn.pipeline.inputs import Inputs

TABLES = ("customers", "products", "holdings", "transactions", "employers")


class Engine(Protocol):
    name: str

    def inputs(
        self, snapshot: SnapshotInfo, previous: RunInfo | None, portfolios: list[dict[str, object]]
    ) -> Inputs: ...

    def keep(self, name: str, expr: ir.Table) -> ir.Table: ...

    def outputs(self, results: dict[str, ir.Table]) -> dict[str, str]:
        """Makes each result readable by the store's connection; returns the
        relation names to copy from."""
        ...


class DuckDBEngine:
    """Runs inside the store's own DuckDB connection."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, memory_limit: str = "5GB") -> None:
        self.raw = con
        self.con = ibis.duckdb.from_connection(con)
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET threads = {os.cpu_count() or 2}")
        con.execute("SET preserve_insertion_order = false")

    def inputs(
        self, snapshot: SnapshotInfo, previous: RunInfo | None, portfolios: list[dict[str, object]]
    ) -> Inputs:
        tables = {t: self.con.table(t, database=snapshot.schema) for t in TABLES}
        prev = self.con.table("profiles", database=previous.schema) if previous else None
        targets = self.con.create_table(
            "_kequn_portfolios", pd.DataFrame(portfolios), temp=True, overwrite=True
        )
        return Inputs(as_of=snapshot.as_of, previous=prev, portfolio_targets=targets, **tables)

    def keep(self, name: str, expr: ir.Table) -> ir.Table:
        return self.con.create_table(f"_kequn_{name}", expr, temp=True, overwrite=True)

    def outputs(self, results: dict[str, ir.Table]) -> dict[str, str]:
        # computed straight into the run's tables when it is published
        return {name: f"({self.con.compile(expr)})" for name, expr in results.items()}


class SparkEngine:
    """Runs on Spark: the snapshot is handed over as Parquet, the results come
    back as Arrow and are published into the store like DuckDB's."""

    name = "spark"

    def __init__(self, con: duckdb.DuckDBPyConnection, session: Any, workdir: Path) -> None:
        self.raw = con
        self.session = session
        self.workdir = workdir
        self.con = ibis.pyspark.connect(session)

    def _export(self, schema: str, table: str) -> str:
        path = self.workdir / f"{schema}.{table}.parquet"
        self.raw.execute(f"COPY (SELECT * FROM {schema}.{table}) TO '{path}' (FORMAT parquet)")
        return str(path)

    def inputs(
        self, snapshot: SnapshotInfo, previous: RunInfo | None, portfolios: list[dict[str, object]]
    ) -> Inputs:
        tables = {
            t: self.con.read_parquet(self._export(snapshot.schema, t), table_name=f"kequn_{t}")
            for t in TABLES
        }
        prev = None
        if previous:
            prev = self.con.read_parquet(
                self._export(previous.schema, "profiles"), table_name="kequn_prev_profiles"
            )
        path = self.workdir / "portfolios.parquet"
        pd.DataFrame(portfolios).to_parquet(path)
        targets = self.con.read_parquet(str(path), table_name="kequn_portfolios")
        return Inputs(as_of=snapshot.as_of, previous=prev, portfolio_targets=targets, **tables)

    def keep(self, name: str, expr: ir.Table) -> ir.Table:
        # a cached table reports Spark's own types (int for an Ibis int64):
        # cast back, so later steps see the schema the expressions declared
        return expr.cache().cast(expr.schema())

    def outputs(self, results: dict[str, ir.Table]) -> dict[str, str]:
        names = {}
        for name, expr in results.items():
            # Spark's own SQL types drift from Ibis's (int for bigint, decimal for
            # double); hold the results to the schema the expressions declare
            arrow = self.con.to_pyarrow(expr).cast(expr.schema().to_pyarrow())
            self.raw.register(f"_kequn_spark_{name}", arrow)
            names[name] = f"_kequn_spark_{name}"
        return names


_SPARK: Any = None


def spark_session() -> Any:
    """One local Spark session per process (it takes seconds to start)."""
    global _SPARK
    if _SPARK is None:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession

        _SPARK = (
            SparkSession.builder.master(os.environ.get("KEQUN_SPARK_MASTER", "local[2]"))
            .appName("kequn")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "Asia/Shanghai")
            .config("spark.sql.shuffle.partitions", os.environ.get("KEQUN_SPARK_PARTITIONS", "8"))
            .config("spark.driver.memory", "4g")
            .getOrCreate()
        )
        _SPARK.sparkContext.setLogLevel("ERROR")
    return _SPARK


@contextmanager
def spark_engine(con: duckdb.DuckDBPyConnection) -> Iterator[SparkEngine]:
    workdir = Path(tempfile.mkdtemp(prefix="kequn-spark-"))
    try:
        yield SparkEngine(con, spark_session(), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
