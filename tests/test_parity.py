"""One pipeline, two engines: DuckDB and Spark give identical profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kequn import warehouse
from kequn.pipeline import run_pipeline
from kequn.warehouse import copy_store

KEYS = {
    "profiles": ["customer_id"],
    "recommendations": ["customer_id", "rank"],
    "carbon_ledger": ["customer_id", "behaviour"],
    "triggers": ["customer_id", "trigger"],
}


@pytest.mark.spark
@pytest.mark.slow
def test_duckdb_and_spark_give_identical_results(run_store: Path, tmp_path: Path) -> None:
    os.environ.setdefault("KEQUN_SPARK_PARTITIONS", "2")
    store = tmp_path / "parity.duckdb"
    copy_store(run_store, store)
    duck = run_pipeline(store, engine="duckdb")
    spark = run_pipeline(store, engine="spark")
    assert spark.engine == "spark"
    con = warehouse.reader(store, "all")
    for table, keys in KEYS.items():
        a, b = f"{duck.schema}.{table}", f"{spark.schema}.{table}"
        schema_a = con.execute(f"DESCRIBE {a}").fetchall()
        schema_b = con.execute(f"DESCRIBE {b}").fetchall()
        assert [r[:2] for r in schema_a] == [r[:2] for r in schema_b], table
        n = con.execute(f"SELECT count(*) FROM {a}").fetchone()
        assert n == con.execute(f"SELECT count(*) FROM {b}").fetchone()
        assert n and n[0] > 0
        join = " AND ".join(f"x.{k} = y.{k}" for k in keys)
        for column, *_ in schema_a:
            differing = con.execute(
                f"SELECT count(*) FROM {a} x FULL JOIN {b} y ON {join} "
                f"WHERE x.{column} IS DISTINCT FROM y.{column}"
            ).fetchone()
            assert differing == (0,), f"{table}.{column} differs between DuckDB and Spark"
