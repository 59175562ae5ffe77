"""Where the pipeline runs: DuckDB inside the store (the default) or Spark.

Both read the same snapshot and previous run, evaluate the same Ibis
expressions, and hand their results to the same atomic publish."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends.sql.datatypes import DuckDBType

from kequn import warehouse
from kequn.core.clock import SHANGHAI
from kequn.ingest.store import SnapshotInfo
from kequn.pipeline.catalog import OUTPUTS, RunInfo
from kequn.pipeline.compiled import CompiledRun
from kequn.pipeline.health import HEALTH_FORMULA
from kequn.pipeline.inputs import Inputs
from kequn.pipeline.today import Today, set_variables

TABLES = ("customers", "products", "holdings", "transactions", "employers")


class Engine(Protocol):
    name: str

    def inputs(
        self,
        snapshot: SnapshotInfo,
        previous: RunInfo | None,
        portfolios: list[dict[str, object]],
        window_months: int,
    ) -> Inputs: ...

    def keep(self, name: str, expr: ir.Table, frees: tuple[str, ...] = ()) -> ir.Table: ...

    def outputs(self, results: dict[str, ir.Table]) -> dict[str, str]:
        """Makes each result readable by the store's connection; returns the
        relation names to copy from."""
        ...


#: what the run's DuckDB may hold before it spills beside the store. The
#: process peaks well above it (by 0.6 GiB at 1,000,000 customers and 0.9 GiB
#: at 4,000,000: what DuckDB does not count, and Python), so it is set for the
#: whole run to stay within 3 GiB. Measured on the synthetic banks: at 4,000,000
#: customers 2.2 GB peaked at 2,999 MiB in 178.9 s, 2.3 GB at 3,112 MiB in
#: 173.2 s, and 3 GB at 3,817 MiB in 178.3 s; at 1,000,000, 2.3 GB peaked at
#: 2,836 MiB in 1.01 times the time of 3 GB (3,347 MiB)
RUN_MEMORY = "2.2GB"


def previous_profiles(previous: RunInfo) -> str:
    """The previous run's profiles as tonight's run reads them: its health scores
    only if they were worked out as tonight's are (``HEALTH_FORMULA``), for a
    change measured against another formula's score would be the formula's, not
    the customer's, and would fire the health-drop trigger across the bank."""
    comparable = previous.summary.get("health_formula") == HEALTH_FORMULA
    unscored = "" if comparable else " REPLACE (CAST(NULL AS DOUBLE) AS health_score)"
    return f"SELECT *{unscored} FROM {previous.schema}.profiles"


class DuckDBEngine:
    """Runs inside the store's own DuckDB connection.

    The inputs are read through temporary views of fixed names and the day
    through session variables, so the SQL is the same whatever the snapshot:
    what it runs is recorded (``compiled``) and can be run again as it is
    (``replay``) without building the expressions."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, memory_limit: str = RUN_MEMORY) -> None:
        self.raw = con
        self.con = ibis.duckdb.from_connection(con)
        # Ibis sets the session's zone to UTC; a transaction's day and month are
        # Beijing's (a salary at 00:30 on the 1st is that month's), as on Spark
        con.execute(f"SET TimeZone = '{SHANGHAI.key}'")
        warehouse.limit_memory(con, memory_limit)
        con.execute(f"SET threads = {os.cpu_count() or 2}")
        con.execute("SET preserve_insertion_order = false")
        # each join builds its hash table on the side the expressions put on the
        # right: the smaller or the narrower one (the holdings' two codes, not the
        # picks' dozen columns, whose row count DuckDB underestimated and so built
        # on). At 1,000,000 customers the run took 0.967 of the wall time and
        # 0.954 of the CPU (farm-bench, four pairs), every output the same
        con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        self.steps: list[tuple[str, str, tuple[str, ...]]] = []
        self.results: dict[str, str] = {}
        #: the run's file being written, and the outputs kept straight into it
        self.run_schema: str | None = None
        self.written: set[str] = set()

    def publish_into(self, run_schema: str) -> None:
        """Keeps a step named as an output of the run (``catalog.OUTPUTS``)
        straight in the run's file ``run_schema``, as it is published: the
        profiles are written once, compressed, and the later steps read from
        them only the columns they need."""
        self.run_schema = run_schema

    def inputs(
        self,
        snapshot: SnapshotInfo,
        previous: RunInfo | None,
        portfolios: list[dict[str, object]],
        window_months: int,
    ) -> Inputs:
        for t in TABLES:
            self.raw.execute(f"CREATE OR REPLACE TEMP VIEW kequn_{t} AS SELECT * FROM {snapshot.schema}.{t}")
        tables = {t: self.con.table(f"kequn_{t}") for t in TABLES}
        prev = None
        if previous:
            self.raw.execute(
                f"CREATE OR REPLACE TEMP VIEW kequn_prev_profiles AS {previous_profiles(previous)}"
            )
            prev = self.con.table("kequn_prev_profiles")
        self.raw.register("_kequn_rows", pd.DataFrame(portfolios))
        self.raw.execute("CREATE OR REPLACE TEMP TABLE kequn_portfolios AS SELECT * FROM _kequn_rows")
        self.raw.unregister("_kequn_rows")
        set_variables(self.raw, snapshot.as_of, window_months)
        return Inputs(
            as_of=snapshot.as_of,
            previous=prev,
            portfolio_targets=self.con.table("kequn_portfolios"),
            today=Today.variables(),
            **tables,
        )

    def input_names(self, previous: bool) -> list[str]:
        return (
            [f"kequn_{t}" for t in TABLES]
            + ["kequn_portfolios"]
            + (["kequn_prev_profiles"] if previous else [])
        )

    def keep(self, name: str, expr: ir.Table, frees: tuple[str, ...] = ()) -> ir.Table:
        # held to the types the expressions declare (DuckDB would widen a sum to HUGEINT)
        columns = ", ".join(
            f'CAST("{c}" AS {DuckDBType.to_string(t)}) AS "{c}"' for c, t in expr.schema().items()
        )
        sql = f"SELECT {columns} FROM ({self.con.compile(expr)})"
        self._materialise(name, sql, frees)
        self.steps.append((name, sql, frees))
        return self.con.table(f"_kequn_{name}")

    def _materialise(self, name: str, sql: str, frees: tuple[str, ...]) -> None:
        if self.run_schema is not None and name in OUTPUTS:
            # read by later steps through a view of a fixed name, so that the
            # SQL they run is the same whatever the run (``compiled``)
            self.raw.execute(f"CREATE TABLE {self.run_schema}.{name} AS {sql}")
            self.raw.execute(
                f"CREATE OR REPLACE TEMP VIEW _kequn_{name} AS SELECT * FROM {self.run_schema}.{name}"
            )
            self.written.add(name)
        else:
            self.raw.execute(f"CREATE OR REPLACE TEMP TABLE _kequn_{name} AS {sql}")
        for done in frees:
            self.raw.execute(f"DROP TABLE IF EXISTS _kequn_{done}")

    def outputs(self, results: dict[str, ir.Table]) -> dict[str, str]:
        # computed straight into the run's tables when it is published (those
        # not already kept there)
        self.results = {name: str(self.con.compile(expr)) for name, expr in results.items()}
        return {name: f"({sql})" for name, sql in self.results.items()}

    def compiled(self) -> CompiledRun:
        return CompiledRun(tuple(self.steps), tuple(self.results.items()))

    def replay(self, compiled: CompiledRun, report: Callable[[str], None]) -> dict[str, str]:
        """Runs SQL recorded by an earlier run of the same code, playbook and inputs."""
        for name, sql, frees in compiled.steps:
            report(name)
            self._materialise(name, sql, frees)
        return {name: f"({sql})" for name, sql in compiled.outputs}


class SparkEngine:
    """Runs on Spark: the snapshot is handed over as Parquet, the results come
    back as Arrow and are published into the store like DuckDB's."""

    name = "spark"

    def __init__(self, con: duckdb.DuckDBPyConnection, session: Any, workdir: Path) -> None:
        self.raw = con
        self.session = session
        self.workdir = workdir
        self.con = ibis.pyspark.connect(session)
        # as on DuckDB: Ibis sets the session's zone to UTC, the days are Beijing's
        session.conf.set("spark.sql.session.timeZone", SHANGHAI.key)

    def _export(self, schema: str, table: str, sql: str | None = None) -> str:
        path = self.workdir / f"{schema}.{table}.parquet"
        self.raw.execute(f"COPY ({sql or f'SELECT * FROM {schema}.{table}'}) TO '{path}' (FORMAT parquet)")
        return str(path)

    def inputs(
        self,
        snapshot: SnapshotInfo,
        previous: RunInfo | None,
        portfolios: list[dict[str, object]],
        window_months: int,
    ) -> Inputs:
        tables = {
            t: self.con.read_parquet(self._export(snapshot.schema, t), table_name=f"kequn_{t}")
            for t in TABLES
        }
        prev = None
        if previous:
            prev = self.con.read_parquet(
                self._export(previous.schema, "profiles", previous_profiles(previous)),
                table_name="kequn_prev_profiles",
            )
        path = self.workdir / "portfolios.parquet"
        pd.DataFrame(portfolios).to_parquet(path)
        targets = self.con.read_parquet(str(path), table_name="kequn_portfolios")
        return Inputs(as_of=snapshot.as_of, previous=prev, portfolio_targets=targets, **tables)

    def keep(self, name: str, expr: ir.Table, frees: tuple[str, ...] = ()) -> ir.Table:
        # ``frees`` is not acted on: Spark caches lazily, so a cache let go here
        # could be recomputed by the step that reads it, and Spark spills its
        # caches itself. A cached table reports Spark's own types (int for an
        # Ibis int64): cast back, so later steps see the schema declared
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
            # tables Spark keeps go beside its temporary files, never into the
            # folder Kequn was started from
            .config("spark.sql.warehouse.dir", str(Path(tempfile.gettempdir()) / "kequn-spark-warehouse"))
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
