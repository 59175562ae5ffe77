"""One pipeline, two engines: DuckDB and Spark give identical profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kequn import warehouse
from kequn.pipeline import run_pipeline
from kequn.warehouse import copy_store

# one worker, one Spark session (it takes seconds to start) for both tests
pytestmark = pytest.mark.xdist_group("spark")

KEYS = {
    "profiles": ["customer_id"],
    "recommendations": ["customer_id", "rank"],
    "carbon_behaviours": ["ordinal"],
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


@pytest.mark.spark
@pytest.mark.slow
def test_the_same_bank_decided_on_duckdb_and_on_spark_gives_the_same_tasks(
    run_store: Path, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, text

    from kequn.decide.batch import decide
    from kequn.decide.simulate import simulate_history
    from kequn.playbook import load_playbook
    from kequn.store import open_store
    from kequn.store.cards import Cards

    os.environ.setdefault("KEQUN_SPARK_PARTITIONS", "2")
    found = {}
    for engine in ("duckdb", "spark"):
        store = copy_store(run_store, tmp_path / f"{engine}.duckdb")
        url = f"sqlite:///{tmp_path / engine}.sqlite"
        decide(store, url)
        ops = open_store(url)
        simulate_history(
            ops, Cards(store), load_playbook(), store_as_of(store), days=20, contacts_per_day=50, seed=3
        )
        ops.dispose()
        report = decide(store, url, engine=engine, replace=True)
        assert report.engine == engine
        db = create_engine(url)
        with db.connect() as con:
            found[engine] = (
                con.execute(
                    text(
                        "SELECT task_id, manager_id, channel, product_id, scheduled_at, priority FROM tasks "
                        "WHERE status = 'open' ORDER BY task_id"
                    )
                ).all(),
                report.dropped,
            )
        db.dispose()
    assert len(found["duckdb"][0]) > 50
    assert found["duckdb"][0] == found["spark"][0]
    assert found["duckdb"][1] == found["spark"][1]


def store_as_of(store: Path):  # type: ignore[no-untyped-def]
    from kequn.ingest import latest

    return latest(store).as_of
