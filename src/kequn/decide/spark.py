"""The funnel's stages on Spark (``kequn decide --engine spark``): the inputs the
batch prepared in DuckDB are handed over as Parquet, Spark evaluates the same
``funnel.verdicts`` expression, and the verdicts come back as Arrow, held to
the types the expression declares."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from kequn.decide import funnel
from kequn.pipeline.engines import spark_session
from kequn.playbook import LoadedPlaybook


def verdicts_on_spark(duck: duckdb.DuckDBPyConnection, pb: LoadedPlaybook) -> pa.Table:
    workdir = Path(tempfile.mkdtemp(prefix="kequn-decide-spark-"))
    try:
        con = ibis.pyspark.connect(spark_session())
        tables = {}
        for name in funnel.INPUTS:
            path = workdir / f"{name}.parquet"
            duck.execute(f"COPY (SELECT * FROM {name}) TO '{path}' (FORMAT parquet)")
            tables[name] = con.read_parquet(str(path), table_name=f"kequn_{name}").cast(funnel.INPUTS[name])
        expr = funnel.verdicts(tables, pb)
        return con.to_pyarrow(expr).cast(expr.schema().to_pyarrow())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
