"""A customer's facts read from the run files, as the workbench's threads read
them: many at once through one process's DuckDB, and run after run as nights
go by."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kequn import warehouse
from kequn.pipeline import run_pipeline
from kequn.pipeline.cards import CardFacts
from kequn.warehouse import copy_store


def _runs(store: Path) -> list[str]:
    con = warehouse.reader(store, [])
    try:
        return [a.name for a in warehouse.artifacts(con) if a.kind == "run"]
    finally:
        con.close()


def _customers(store: Path, run: str) -> list[str]:
    con = warehouse.reader(store, [])
    try:
        warehouse.attach(con, store, [run])
        return [r[0] for r in con.execute(f"SELECT customer_id FROM {run}.profiles ORDER BY 1").fetchall()]
    finally:
        con.close()


def test_threads_reading_at_once_read_what_one_reads_alone(run_store: Path) -> None:
    run = _runs(run_store)[-1]
    ids = _customers(run_store, run)[:120]
    alone = CardFacts(run_store)
    try:
        expected = {cid: alone.facts([cid], run)[cid] for cid in ids}
    finally:
        alone.close()
    shared = CardFacts(run_store)
    try:
        with ThreadPoolExecutor(8) as pool:
            got = dict(zip(ids, pool.map(lambda cid: shared.facts([cid], run)[cid], ids), strict=True))
        assert got == expected
        assert expected[ids[0]]["aum"] is not None and expected[ids[0]]["recs"] is not None
        # several at once read the same as one by one
        assert shared.facts(ids[:30], run) == {cid: expected[cid] for cid in ids[:30]}
    finally:
        shared.close()


def test_a_server_living_through_several_nights_reads_each_run_and_lets_old_ones_go(
    run_store: Path, tmp_path: Path
) -> None:
    store = tmp_path / "bank.duckdb"
    copy_store(run_store, store)
    run_pipeline(store)
    run_pipeline(store)
    runs = _runs(store)
    assert len(runs) >= 3
    cid = _customers(store, runs[-1])[0]
    reader = CardFacts(store)
    try:
        seen = [reader.facts([cid], run)[cid]["aum"] for run in runs]
        # only the latest runs stay attached; an older one asked for again is attached again
        attached = {
            r[0] for r in reader._con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }  # type: ignore[union-attr]
        assert len([a for a in attached if a.startswith("run")]) == CardFacts.KEEP
        assert reader.facts([cid], runs[0])[cid]["aum"] == seen[0]
        assert reader.history(cid, runs[-1]) is not None
    finally:
        reader.close()


def test_the_run_behind_the_cards_is_read_once_per_transaction(tmp_path: Path) -> None:
    """A page reads it for its facts and its attributes in one transaction; after a
    commit, a decision published meanwhile is the one read."""
    from datetime import date, datetime

    from sqlalchemy import event

    from kequn.core.clock import SHANGHAI
    from kequn.store import open_store
    from kequn.store.cards import decided
    from kequn.store.models import DecisionRun

    ops = open_store(f"sqlite:///{tmp_path / 'ops.sqlite'}")

    def publish(run_id: str, day: date, pipeline_run: str) -> None:
        with ops.session() as w:
            w.add(
                DecisionRun(
                    run_id=run_id,
                    as_of=day,
                    snapshot_id=f"{day:%Y-%m-%d}",
                    pipeline_run_id=pipeline_run,
                    started_at=datetime(2026, 12, 1, 9, tzinfo=SHANGHAI),
                    status="published",
                )
            )
            w.commit()

    publish("d1", date(2026, 12, 1), "20261201_01")
    asked: list[str] = []
    event.listen(
        ops.engine,
        "before_cursor_execute",
        lambda c, cur, sql, *a: (
            asked.append(sql) if sql.startswith("SELECT") and "decision_runs" in sql else None
        ),
    )
    try:
        with ops.sessions() as s:
            first = decided(s)
            assert first is not None and first.run_schema == "run_20261201_01"
            assert decided(s) is first
            assert len(asked) == 1
            publish("d2", date(2026, 12, 2), "20261202_01")
            s.commit()
            later = decided(s)
            assert later is not None and later.run_schema == "run_20261202_01"
            assert len(asked) == 2
    finally:
        ops.dispose()
