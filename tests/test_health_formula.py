"""A change in health score is the customer's, never the formula's: the night
after the score's arithmetic changed (a run of another ``HEALTH_FORMULA``
before it), no change is measured, so the health-drop trigger does not fire
across the bank; between two runs of the same formula it is measured as ever."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from kequn import warehouse
from kequn.ingest import ingest
from kequn.pipeline import run_pipeline
from kequn.pipeline.catalog import CATALOG
from kequn.pipeline.health import HEALTH_FORMULA
from kequn.synth.nightly import next_night
from tests.conftest import AS_OF, make_bank, read

pytestmark = pytest.mark.xdist_group("health_formula")


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with two nights' snapshots of a small bank, the first night run."""
    root = tmp_path_factory.mktemp("health_formula")
    make_bank(root, "night0", customers=300)
    next_night(root / "night0", root / "night1")
    store = root / "bank.duckdb"
    for night in ("night0", "night1"):
        ingest(root / night, store)
    run_pipeline(store, as_of=AS_OF)
    return store


def _as_of_another_formula(store: Path) -> None:
    """Makes the store's runs read as made by the formula before this one."""
    con = warehouse.writer(store)
    try:
        for run_id, summary in con.execute(f"SELECT run_id, summary FROM {CATALOG}").fetchall():
            old = json.loads(summary)
            old.pop("health_formula", None)
            con.execute(f"UPDATE {CATALOG} SET summary = ? WHERE run_id = ?", [json.dumps(old), run_id])
    finally:
        con.close()


def _changes(store: Path) -> tuple[int, int, int]:
    """Of the latest run: customers, those with a previous score, those with a change."""
    rows = read(store, "SELECT count(*), count(prev_health_score), count(health_change) FROM profiles")
    return rows[0]  # type: ignore[return-value]


def test_a_change_is_measured_only_against_a_score_of_the_same_formula(
    two_nights: Path, tmp_path: Path
) -> None:
    same = warehouse.copy_store(two_nights, tmp_path / "same.duckdb")
    run_pipeline(same, as_of=AS_OF + timedelta(days=1))
    customers, previous, changed = _changes(same)
    assert customers and previous > customers * 0.9 and changed == previous
    assert read(same, "SELECT summary->>'health_formula' FROM kequn_runs ORDER BY run_id DESC LIMIT 1") == [
        (str(HEALTH_FORMULA),)
    ]
    # the night after a new formula: no customer's score changed by it
    other = warehouse.copy_store(two_nights, tmp_path / "other.duckdb")
    _as_of_another_formula(other)
    run_pipeline(other, as_of=AS_OF + timedelta(days=1))
    assert _changes(other) == (customers, 0, 0)
    assert read(other, "SELECT count(*) FROM triggers WHERE trigger = 'health_drop'") == [(0,)]
    # what else the previous run says is still read: tiers are compared as ever
    moves = dict(read(other, "SELECT tier_move, count(*) FROM profiles GROUP BY ALL"))
    assert moves == dict(read(same, "SELECT tier_move, count(*) FROM profiles GROUP BY ALL"))
    assert set(moves) - {"new"}
