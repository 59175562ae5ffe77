"""Each customer's two largest gaps (``pipeline.recommend._largest_gaps``),
ranked across the customer's row, held to sorting the qualifying gaps in
Python: larger first, equal gaps by the asset class's name."""

from __future__ import annotations

import ibis
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kequn.pipeline.recommend import _largest_gaps
from kequn.playbook.model import ASSET_CLASSES

gap = st.one_of(st.none(), st.sampled_from([0.0, 500.0, 1000.0, 2500.0]), st.floats(0, 1e6, allow_nan=False))
row = st.fixed_dictionaries(
    {c: gap for c in ASSET_CLASSES}
    | {
        "need": st.sampled_from([0.0, 1000.0, 2000.0]),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=30))
def test_the_two_largest_gaps_are_the_sorted_first_two(rows: list[dict[str, float | None]]) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(len(rows))],
            "need": [r["need"] for r in rows],
            **{f"gap_{c}": pd.array([r[c] for r in rows], dtype="Float64") for c in ASSET_CLASSES},
            **{f"gap_{c}_x": [0] * len(rows) for c in ASSET_CLASSES},
            **{k: [None] * len(rows) for k in ("tier", "risk_cell", "life_stage", "risk_level")},
            "eff_risk": [0] * len(rows),
            "age": [40] * len(rows),
            **{
                k: [False] * len(rows)
                for k in ("liquid_ok", "pension_ok", "paying_in", "low_carbon", "first_time_investor")
            },
        }
    )
    p = ibis.memtable(frame)
    got = ibis.duckdb.connect().execute(_largest_gaps(p, p.need))
    found = {(r.customer_id, r.asset_class): r.gap_rank for r in got.itertuples()}
    want = {}
    for i, r in enumerate(rows):
        qualifying = sorted(
            (c for c in ASSET_CLASSES if r[c] is not None and r[c] >= r["need"]),
            key=lambda c: (-r[c], c),
        )
        want |= {(f"C{i}", c): rank for rank, c in enumerate(qualifying[:2])}
    assert found == want
