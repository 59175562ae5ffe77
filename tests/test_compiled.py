"""The run's SQL compiled once: the same SQL every night, read back from the
cache only for the same code, playbook and input columns, and a run from the
cache publishes exactly what a compiled run does."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from kequn import warehouse
from kequn.ingest import ingest
from kequn.pipeline import compiled, run_pipeline
from kequn.playbook import load_playbook
from kequn.synth.nightly import next_night
from kequn.warehouse import copy_store
from tests.conftest import AS_OF, make_bank

pytestmark = pytest.mark.xdist_group("compiled")
PLAYBOOK = Path(__file__).parents[1] / "src" / "kequn" / "playbook" / "default.toml"


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding three nights' snapshots of a small bank (no run yet)."""
    root = tmp_path_factory.mktemp("compiled")
    make_bank(root, "night0", customers=200)
    next_night(root / "night0", root / "night1")
    next_night(root / "night1", root / "night2")
    store = root / "bank.duckdb"
    for night in ("night0", "night1", "night2"):
        ingest(root / night, store)
    return store


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("run-*.json"))


def _published(store: Path, schema: str) -> dict[str, pa.Table]:
    """A run's tables and views, each sorted on all its columns."""
    con = warehouse.reader(store, "all")
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = ?",
                [schema, schema],
            ).fetchall()
        ]
        return {n: con.sql(f"SELECT * FROM {schema}.{n} ORDER BY ALL").to_arrow_table() for n in names}
    finally:
        con.close()


def _runs(store: Path) -> list[str]:
    from kequn.pipeline.catalog import list_runs

    con = warehouse.reader(store, [])
    try:
        return [r.schema for r in list_runs(con)]
    finally:
        con.close()


@pytest.fixture
def cached(nights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A copy of the three nights' store, and an empty cache folder the runs use."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KEQUN_CACHE_DIR", str(cache))
    store = tmp_path / "bank.duckdb"
    copy_store(nights, store)
    return store, cache


def test_the_sql_is_the_same_every_night_and_a_cached_run_publishes_the_same(
    cached: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, cache = cached
    run_pipeline(store, as_of=AS_OF)  # the first run: no previous run to read
    run_pipeline(store, as_of=AS_OF + timedelta(days=1))  # compiles and keeps the SQL
    entries = _entries(cache)
    assert len(entries) == 2  # with a previous run and without: two SQLs
    kept = [json.loads(e.read_text(encoding="utf-8")) for e in entries]
    text = json.dumps(kept, ensure_ascii=False)
    # nothing of the night is written into the SQL: not the day, not the snapshot
    for day in (AS_OF, AS_OF + timedelta(days=1)):
        assert day.isoformat() not in text and f"{day.year}, {day.month}, {day.day}" not in text
    assert "snap_" not in text and "run_" not in text
    stamps = [e.stat().st_mtime_ns for e in entries]
    fresh = tmp_path / "fresh.duckdb"
    copy_store(store, fresh)
    run_pipeline(store)  # the third night: read from the cache, not compiled again
    assert _entries(cache) == entries and [e.stat().st_mtime_ns for e in entries] == stamps
    # the same third night compiled afresh, with no cache at all
    monkeypatch.setenv("KEQUN_CACHE_DIR", "off")
    run_pipeline(fresh)
    cached_run, fresh_run = _runs(store)[-1], _runs(fresh)[-1]
    got, want = _published(store, cached_run), _published(fresh, fresh_run)
    assert set(got) == set(want) and {"profiles", "recommendations", "triggers"} <= set(got)
    for name, table in want.items():
        assert table.num_rows > 0 or name not in ("profiles", "recommendations"), name
        assert got[name].equals(table), name


def test_another_playbook_or_other_input_columns_are_another_entry(
    nights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pb = load_playbook()
    con = warehouse.reader(nights, "all")
    try:
        con.execute("CREATE TEMP VIEW kequn_customers AS SELECT * FROM customers")
        con.execute("CREATE TEMP VIEW kequn_products AS SELECT * FROM products")
        names = ["kequn_customers", "kequn_products"]
        key = compiled.run_key(con, names, pb.digest)
        assert compiled.run_key(con, names, pb.digest) == key
        assert compiled.run_key(con, names, "another playbook") != key
        # a column the bank's mapping adds changes what the expressions are built on
        con.execute("CREATE OR REPLACE TEMP VIEW kequn_customers AS SELECT *, 1 AS extra FROM customers")
        assert compiled.run_key(con, names, pb.digest) != key
        con.execute(
            "CREATE OR REPLACE TEMP VIEW kequn_customers AS "
            "SELECT * REPLACE (CAST(dependants AS DOUBLE) AS dependants) FROM customers"
        )
        assert compiled.run_key(con, names, pb.digest) != key
    finally:
        con.close()
    edited = tmp_path / "playbook.toml"
    edited.write_text(
        PLAYBOOK.read_text(encoding="utf-8").replace("window_months = 3", "window_months = 2"),
        encoding="utf-8",
    )
    assert load_playbook(edited).digest != pb.digest


def test_a_spoilt_or_unwritable_cache_is_no_cache(
    cached: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, cache = cached
    run_pipeline(store, as_of=AS_OF)
    (entry,) = _entries(cache)
    good = entry.read_text(encoding="utf-8")
    for spoilt in (good[: len(good) // 2], json.dumps({"key": "another", "steps": [], "outputs": []})):
        entry.write_text(spoilt, encoding="utf-8")
        run_pipeline(store, as_of=AS_OF)  # compiled afresh and kept again
        assert json.loads(entry.read_text(encoding="utf-8")) == json.loads(good)
    # a cache folder that is a file: the run still runs
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("KEQUN_CACHE_DIR", str(blocked))
    before = len(_runs(store))
    run_pipeline(store, as_of=AS_OF)
    assert len(_runs(store)) == before + 1


def _decided(store: Path, ops: str) -> tuple[pa.Table, list[tuple[object, ...]]]:
    """The latest decision's pairs (sorted) and the tasks it wrote."""
    from sqlalchemy import create_engine, text

    con = warehouse.reader(store, "all")
    try:
        schema = [a.name for a in warehouse.artifacts(con) if a.kind == "decision"][-1]
        pairs = con.sql(f"SELECT * FROM {schema}.pairs ORDER BY ALL").to_arrow_table()
    finally:
        con.close()
    engine = create_engine(ops)
    with engine.connect() as c:
        tasks = [
            tuple(r)
            for r in c.execute(
                text(
                    "SELECT customer_id, action, channel, manager_id, product_id, priority FROM tasks "
                    "WHERE status = 'open' ORDER BY 1, 2, 3"
                )
            )
        ]
    engine.dispose()
    return pairs, tasks


def test_a_decision_from_kept_sql_gives_the_same_pairs_and_tasks(
    cached: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kequn.decide.batch import decide

    store, cache = cached
    run_pipeline(store)
    fresh = tmp_path / "fresh.duckdb"
    copy_store(store, fresh)
    ops = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    decide(store, ops)  # compiles the funnel and keeps its SQL
    kept = sorted(cache.glob("sql-*.json"))
    assert len(kept) == 2  # the proposals and the verdicts
    stamps = [e.stat().st_mtime_ns for e in kept]
    decide(store, ops, replace=True)  # the same day again, from the kept SQL
    assert sorted(cache.glob("sql-*.json")) == kept and [e.stat().st_mtime_ns for e in kept] == stamps
    monkeypatch.setenv("KEQUN_CACHE_DIR", "off")
    fresh_ops = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    decide(fresh, fresh_ops)
    got, want = _decided(store, ops), _decided(fresh, fresh_ops)
    assert want[0].num_rows > 0 and len(want[1]) > 0
    assert got[0].equals(want[0])
    assert got[1] == want[1]
