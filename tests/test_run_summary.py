"""The summary a run records of itself counts what its published tables hold:
computed here again with pandas over the same tables, one figure at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kequn import warehouse
from kequn.pipeline.catalog import list_runs
from kequn.playbook import load_playbook
from kequn.playbook.model import HEALTH_COMPONENTS


def _r1(x: float) -> float | None:
    return None if pd.isna(x) else round(float(x), 1)


def test_the_summary_counts_what_the_published_tables_hold(run_store: Path) -> None:
    pb = load_playbook(None)
    con = warehouse.reader(run_store, "all")
    try:
        run = list_runs(con)[-1]
        prof = con.execute(f"SELECT * FROM {run.schema}.profiles").df()
        recs = con.execute(f"SELECT customer_id FROM {run.schema}.recommendations").df()
        trig = con.execute(f"SELECT trigger FROM {run.schema}.triggers").df()
    finally:
        con.close()
    s: dict[str, Any] = run.summary
    assert s["customers"] == len(prof) > 0
    assert s["tiers"] == {t.name: int((prof.tier == t.name).sum()) for t in pb.playbook.tiers.ladder}
    assert sum(s["tiers"].values()) == len(prof)
    assert s["segments"] == {seg.name: int(prof[f"seg_{seg.name}"].sum()) for seg in pb.playbook.segments}
    assert any(s["segments"].values())
    assert s["tier_moves"] == prof.tier_move.value_counts().sort_index().to_dict()
    assert list(s["lifecycle"].values()) == sorted(s["lifecycle"].values(), reverse=True)
    assert s["lifecycle"] == prof.lifecycle.value_counts().to_dict()
    assert s["life_stages"] == prof.life_stage.value_counts().to_dict()
    h = prof.health_score.astype(float)
    assert s["health"]["mean"] == _r1(h.mean())
    assert s["health"]["median"] == _r1(h.median())
    assert s["health"]["p10"] == _r1(np.nanquantile(h, 0.1))
    assert s["health"]["p90"] == _r1(np.nanquantile(h, 0.9))
    deciles = (np.floor(h / 10) * 10).astype("Int64").value_counts(dropna=False).sort_index()
    assert s["health"]["by_decile"] == {
        ("None" if pd.isna(k) else str(k)): int(v) for k, v in deciles.items()
    }
    assert s["health"]["components"] == {
        c: _r1(prof[f"health_{c}"].astype(float).mean()) for c in HEALTH_COMPONENTS
    }
    assert s["recommendations"] == len(recs) > 0
    assert s["customers_with_recommendations"] == recs.customer_id.nunique()
    assert s["carbon_points"] == int(prof.green_points.sum()) > 0
    assert s["triggers"] == trig.trigger.value_counts().to_dict()
