"""A customer's facts read from the run files, as the workbench's threads read
them: many at once through one process's DuckDB, and run after run as nights
go by."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ibis
from hypothesis import given, settings
from hypothesis import strategies as st

from kequn import warehouse
from kequn.pipeline import run_pipeline
from kequn.pipeline.cards import CardFacts
from kequn.pipeline.inputs import fround, fround_value
from kequn.pipeline.texts import fmt_1, fmt_1_value, fmt_int, fmt_int_value
from kequn.playbook import load_playbook
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


def test_a_hundred_customers_are_read_through_the_customer_index(run_store: Path) -> None:
    """A batch of events reads its customers' profiles and recommendations by
    the index, not by a scan of every customer (a list passed as one parameter
    became a scan from 64 customers on)."""
    run = _runs(run_store)[-1]
    everyone = _customers(run_store, run)
    ids = everyone[:: len(everyone) // 100][:100]
    reader = CardFacts(run_store)
    try:
        file, cur = reader._run(run)
        asked: list[tuple[str, list[object]]] = []

        class Recording:
            def execute(self, sql: str, args: list[object]):  # type: ignore[no-untyped-def]
                asked.append((sql, args))
                return cur.execute(sql, args)

        found = file.facts(Recording(), ids)  # type: ignore[arg-type]
        assert len(found) == 100 and any(f["recs"] for f in found.values())
        read = [(sql, args) for sql, args in asked if ".profiles" in sql or ".recommendation_picks" in sql]
        assert len(read) == 2
        for sql, args in read:
            plan = cur.execute(f"EXPLAIN ANALYZE {sql}", args).fetchall()[0][1]
            assert "Type: Index Scan" in plan and "Sequential Scan" not in plan, plan
    finally:
        reader.close()


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
        assert reader.history([cid], runs[-1]) is not None
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


def _ledger_as_a_table_of_lines(store: Path, run: str) -> dict[str, list[dict[str, object]]]:
    """The green ledger as runs wrote it before the profile held its counts: a
    line per customer and behaviour seen, from one filter per behaviour (the
    expression those runs published, kept here as the oracle)."""
    pb = load_playbook()
    con = ibis.duckdb.connect()
    con.raw_sql(f"ATTACH '{warehouse.folder(store) / _file_of(store, run)}' AS r (READ_ONLY)")
    p = con.table("profiles", database="r")
    parts = []
    for b in pb.playbook.carbon.behaviours:
        n = p[f"carbon_{b.name}"]
        parts.append(
            p.filter(n > 0).select(
                customer_id=p.customer_id,
                behaviour=ibis.literal(b.name),
                behaviour_zh=ibis.literal(b.zh),
                times=n.cast("int64"),
                grams=fround(n * b.grams, 1),
                points=(n * b.points).cast("int64"),
            )
        )
    lines: dict[str, list[dict[str, object]]] = {}
    for row in ibis.union(*parts).to_pyarrow().to_pylist():
        lines.setdefault(str(row.pop("customer_id")), []).append(row)
    return lines


def _file_of(store: Path, run: str) -> str:
    con = warehouse.reader(store, [])
    try:
        return next(a.file for a in warehouse.artifacts(con) if a.name == run)
    finally:
        con.close()


def test_the_green_ledger_read_from_the_profile_is_the_ledger_the_runs_wrote_line_for_line(
    run_store: Path,
) -> None:
    """Each customer's ledger, made from the counts on their profile and the
    run's weights, has exactly the lines (times, grams, points) the table of
    lines gave, in order of points."""
    run = _runs(run_store)[-1]
    expected = _ledger_as_a_table_of_lines(run_store, run)
    ids = _customers(run_store, run)
    facts = CardFacts(run_store)
    try:
        got = facts.facts(ids, run)
    finally:
        facts.close()
    assert len(expected) > len(ids) // 2, "most customers of the small bank have a green ledger"
    key = lambda line: line["behaviour"]  # noqa: E731
    for cid in ids:
        ledger = got[cid]["carbon"]
        assert sorted(ledger, key=key) == sorted(expected.get(cid, []), key=key), cid
        assert [line["points"] for line in ledger] == sorted(
            (line["points"] for line in ledger), reverse=True
        )
        assert sum(line["points"] for line in ledger) == got[cid]["green_points"]
        # the lines' grams add up to the account's total, each rounded to 0.1 g
        grams = sum(float(line["grams"]) for line in ledger)
        assert abs(grams - float(got[cid]["carbon_grams"])) <= 0.05 * (len(ledger) + 1) + 1e-9, cid


def test_a_run_written_before_the_profile_held_the_counts_still_reads_its_ledger(
    run_store: Path, tmp_path: Path
) -> None:
    """A run published by an earlier Kequn has its ledger as a table of lines and
    no table of weights: its customers' ledgers are read from that table."""
    import duckdb

    store = tmp_path / "bank.duckdb"
    copy_store(run_store, store)
    run = _runs(store)[-1]
    ids = _customers(store, run)[:200]
    now = CardFacts(store)
    try:
        expected = {cid: f["carbon"] for cid, f in now.facts(ids, run).items()}
    finally:
        now.close()
    lines = _ledger_as_a_table_of_lines(store, run)
    con = duckdb.connect(str(warehouse.folder(store) / _file_of(store, run)))
    try:
        con.execute("DROP TABLE carbon_behaviours")
        con.execute(
            "CREATE TABLE carbon_ledger (customer_id VARCHAR, behaviour VARCHAR, behaviour_zh VARCHAR, "
            "times BIGINT, grams DOUBLE, points BIGINT)"
        )
        con.executemany(
            "INSERT INTO carbon_ledger VALUES (?, ?, ?, ?, ?, ?)",
            [
                [cid, line["behaviour"], line["behaviour_zh"], line["times"], line["grams"], line["points"]]
                for cid, ledger in lines.items()
                for line in ledger
            ],
        )
    finally:
        con.close()
    old = CardFacts(store)
    try:
        got = {cid: f["carbon"] for cid, f in old.facts(ids, run).items()}
    finally:
        old.close()

    def by_behaviour(ledgers: dict[str, list[dict[str, object]]]) -> dict[str, list[dict[str, object]]]:
        return {c: sorted(v, key=lambda line: str(line["behaviour"])) for c, v in ledgers.items()}

    assert any(expected.values())
    assert by_behaviour(got) == by_behaviour(expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=50), st.integers(0, 3))
def test_a_value_rounded_in_python_reads_as_the_run_rounds_it(values: list[float], digits: int) -> None:
    con = ibis.duckdb.connect()
    t = ibis.memtable({"x": values})
    run = con.execute(t.select(r=fround(t.x, digits)))["r"].tolist()
    assert [fround_value(v, digits) for v in values] == run


def test_a_cards_recommendations_are_the_runs_rows_with_the_shelf_beside(run_store: Path) -> None:
    """Each recommendation a card holds is the run's row, in rank order, with the
    product's shelf facts (closed, on sale, term) the run kept, the product's risk
    as a number and amounts as JSON gives them (floats), worked out here by a
    join in SQL. The card words its picks in Python, the run's view in SQL: for
    every customer of the bank, the same words."""
    run = _runs(run_store)[-1]
    con = warehouse.reader(run_store, [])
    try:
        warehouse.attach(con, run_store, [run])
        rows = con.execute(
            f"""SELECT r.customer_id, r.product_id, r.rank, r.product_name, r.product_type,
                       r.asset_class, r.product_risk, r.gap_amount::DOUBLE, r.expected_return,
                       r.is_pension, r.dual_recording, s.closed, s.on_sale, s.term_days,
                       r.reasons, r.rules_passed
                FROM {run}.recommendations r LEFT JOIN {run}.shelf s USING (product_id)
                ORDER BY r.customer_id, r.rank"""
        ).fetchall()
    finally:
        con.close()
    want: dict[str, list[tuple[object, ...]]] = {}
    for cid, *rest in rows:
        want.setdefault(cid, []).append(tuple(rest))
    ids = sorted(want)
    assert len(ids) >= 200 and any(len(want[c]) > 1 for c in ids)
    # the words' every branch is met: unassessed, dual recording, some holding it, none
    reasons = [r[-2] for r in rows]
    assert any("风险测评未完成" in r for r in reasons) and any("双录" in r for r in reasons)
    assert any("同类客户中" in r for r in reasons) and any("同类客户中" not in r for r in reasons)
    assert any("reserve_before_lockup" in r[-1] for r in rows) and any("pension_rules" in r[-1] for r in rows)
    cards = CardFacts(run_store)
    try:
        facts = cards.facts(ids, run)
    finally:
        cards.close()
    for cid in ids:
        got = [
            (
                r["product_id"],
                r["rank"],
                r["product_name"],
                r["product_type"],
                r["asset_class"],
                f"R{r['product_risk']}",
                r["gap_amount"],
                r["expected_return"],
                r["is_pension"],
                r["dual_recording"],
                r["closed"],
                r["on_sale"],
                r["term_days"],
                r["reasons"],
                r["rules_passed"],
            )
            for r in facts[cid]["recs"]
        ]
        expected = [
            (*head, bool(pension), dual, *shelf, why, rules)
            for *head, pension, dual, c, o, t, why, rules in want[cid]
            for shelf in [(c, o, t)]
        ]
        assert got == expected, cid
        assert all(
            isinstance(r["gap_amount"], float) and isinstance(r["product_risk"], int)
            for r in facts[cid]["recs"]
        )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e7, 1e7, allow_nan=False),
            # the halves and their neighbours, where rounding is decided
            st.integers(-2000, 2000).map(lambda n: n / 20),
            st.integers(-2000, 2000).map(lambda n: math.nextafter(n / 20, math.inf)),
            st.integers(-2000, 2000).map(lambda n: math.nextafter(n / 20, -math.inf)),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_a_number_worded_in_python_reads_as_the_run_words_it(values: list[float]) -> None:
    con = ibis.duckdb.connect()
    t = ibis.memtable({"x": values})
    run = con.execute(t.select(one=fmt_1(t.x), whole=fmt_int(t.x)))
    assert [fmt_1_value(v) for v in values] == run["one"].tolist()
    assert [fmt_int_value(v) for v in values] == run["whole"].tolist()


def test_a_run_written_before_its_picks_were_kept_is_read_as_it_was(run_store: Path, tmp_path: Path) -> None:
    """A run file of the older layout holds its recommendations as a table of
    worded rows (no picks, no products, no view): a card reads that table, and
    reads the same as from the new layout."""
    import duckdb

    run = _runs(run_store)[-1]
    ids = _customers(run_store, run)[:150]
    new = CardFacts(run_store)
    try:
        expected = new.facts(ids, run)
    finally:
        new.close()
    store = tmp_path / "bank.duckdb"
    copy_store(run_store, store)
    con = warehouse.reader(store, [])
    try:
        file = next(a.file for a in warehouse.artifacts(con) if a.name == run)
    finally:
        con.close()
    old = duckdb.connect(str(warehouse.folder(store) / file))
    try:
        old.execute("CREATE TABLE worded AS SELECT * FROM recommendations ORDER BY customer_id, rank")
        old.execute("DROP VIEW recommendations")
        old.execute("DROP TABLE recommendation_picks")
        old.execute("DROP TABLE recommendation_products")
        old.execute("ALTER TABLE worded RENAME TO recommendations")
        old.execute("CREATE INDEX ix_recommendations_customer ON recommendations (customer_id)")
    finally:
        old.close()
    cards = CardFacts(store)
    try:
        got = cards.facts(ids, run)
    finally:
        cards.close()
    assert any(f["recs"] for f in expected.values())
    assert got == expected
