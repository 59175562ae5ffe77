"""A playbook change rehearsed before release: the rehearsal writes nothing, and
what it says the change does is what the change then does when released."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from kequn import warehouse
from kequn.decide.batch import decide
from kequn.pipeline import run_pipeline
from kequn.playbook import default_playbook_path
from kequn.release.simulate import simulate
from kequn.store import Base
from tests.conftest import decided

pytestmark = pytest.mark.slow

#: the 财富 line, lowered from 1,000,000 to 300,000: many of the small bank's
#: affluent customers cross it
WEALTH_LINE = "min_aum = 1_000_000\n"


#: the 中高端 line, lowered from 200,000 to 100,000
AFFLUENT_LINE = "min_aum = 200_000\n"


def candidate(folder: Path, line: str = WEALTH_LINE, to: str = "min_aum = 300_000\n") -> Path:
    text_ = default_playbook_path().read_text(encoding="utf-8")
    assert text_.count(line) == 1
    path = folder / "candidate.toml"
    path.write_text(text_.replace(line, to), encoding="utf-8")
    return path


def analytical_digest(store: Path) -> dict[str, str]:
    files = [store, *sorted(p for p in warehouse.folder(store).iterdir() if p.is_file())]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def operational_digest(url: str) -> dict[str, str]:
    """Each table's rows, in key order, hashed: equal whatever the file's pages."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    found = {}
    try:
        with engine.connect() as con:
            for table in Base.metadata.sorted_tables:
                rows = con.execute(select(table).order_by(*table.primary_key.columns)).all()
                found[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
            if engine.dialect.name == "postgresql":
                # a rehearsal there works in a schema of its own, with sequences of
                # its own: none is left behind, and the store's did not move
                found["schemas"] = repr(
                    con.execute(
                        text(
                            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                            "AND nspname <> 'information_schema' ORDER BY 1"
                        )
                    ).all()
                )
                found["sequences"] = repr(
                    con.execute(
                        text(
                            "SELECT sequencename, last_value FROM pg_sequences "
                            "WHERE schemaname = current_schema() ORDER BY 1"
                        )
                    ).all()
                )
    finally:
        engine.dispose()
    return found


def test_simulating_a_change_writes_neither_store(run_store: Path, tmp_path: Path, store_url: str) -> None:
    store, url, _ = decided(run_store, tmp_path, store_url, history=False)
    before = analytical_digest(store), operational_digest(url)
    sim = simulate(store, url, candidate(tmp_path), workdir=tmp_path)
    after = analytical_digest(store), operational_digest(url)
    assert {k: v for k, v in after[1].items() if before[1].get(k) != v} == {}
    assert after == before
    # and the rehearsal saw the change it was given
    moved = {(m.from_tier, m.to_tier): m.customers for m in sim.migration if m.from_tier != m.to_tier}
    assert moved and all(to == "wealth" for _, to in moved), moved
    assert sim.candidate.tiers["wealth"] == sim.active.tiers["wealth"] + sum(moved.values())
    # the figures HQ passes around: the same migration, in Chinese, in a workbook
    from openpyxl import load_workbook

    from kequn.playbook import load_playbook
    from kequn.release.sheets import workbook_of

    book = load_workbook(io.BytesIO(workbook_of(sim, load_playbook(candidate(tmp_path)))))
    rows = [r for r in book["分层迁移"].iter_rows(min_row=2, values_only=True) if r and r[0] and r[1]]
    assert sum(r[2] for r in rows if r[0] != r[1]) == sum(moved.values())
    assert any(r[1] == "财富" for r in rows)
    assert {"客群", "任务-动作", "漏斗", "剔除原因", "有触发无任务", "公平性", "预期价值"} <= set(
        book.sheetnames
    )


def test_a_released_change_does_what_its_simulation_said(run_store: Path, tmp_path: Path) -> None:
    store, url, _ = decided(run_store, tmp_path, f"sqlite:///{tmp_path / 'ops.sqlite'}", history=True)
    change = candidate(tmp_path, AFFLUENT_LINE, "min_aum = 100_000\n")
    sim = simulate(store, url, change, workdir=tmp_path)
    engine = create_engine(url)
    with engine.connect() as con:
        owners_before = dict(con.execute(text("SELECT customer_id, owner_manager_id FROM customers")).all())
    con_before = warehouse.reader(store)
    tiers_before = dict(
        con_before.execute(
            f"SELECT customer_id, tier FROM {warehouse.latest(con_before, 'run').name}.profiles"
        ).fetchall()  # type: ignore[union-attr]
    )
    con_before.close()

    # released: the night runs under the candidate
    run_pipeline(store, playbook=change)
    report = decide(store, url, playbook=change, replace=True)

    con = warehouse.reader(store)
    run = warehouse.latest(con, "run")
    assert run is not None
    tiers_after = dict(con.execute(f"SELECT customer_id, tier FROM {run.name}.profiles").fetchall())
    pairs = con.execute(
        f"SELECT action, count(*) FROM decision_{report.run_id}.pairs WHERE stage = 'task' GROUP BY 1"
    ).fetchall()
    con.close()
    with engine.connect() as c:
        owners_after = dict(c.execute(text("SELECT customer_id, owner_manager_id FROM customers")).all())
    engine.dispose()

    matrix: dict[tuple[str, str], int] = {}
    for cid, tier in tiers_after.items():
        key = (tiers_before[cid], tier)
        matrix[key] = matrix.get(key, 0) + 1
    assert {(m.from_tier, m.to_tier): m.customers for m in sim.migration} == matrix
    assert any(a != b for a, b in matrix), "the change moved no one: the test tests nothing"
    # (the small bank has one snapshot, so no tier "moves" against a day before and
    # no owner changes: the count must still be the release's own)
    assert sim.owner_changes == sum(owners_before.get(c) != o for c, o in owners_after.items())
    assert sim.candidate.tasks_by_action == {a: n for a, n in pairs}
    assert sim.candidate.tasks == sum(n for _, n in pairs)
    assert sim.candidate.dropped == report.dropped
