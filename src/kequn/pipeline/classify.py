"""Tiers with hysteresis, life stages, lifecycle and segments, from the playbook."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from kequn.pipeline.inputs import UNITS
from kequn.pipeline.predicates import compile_predicate
from kequn.playbook import LoadedPlaybook


def _first_match(table: ir.Table, pb: LoadedPlaybook, section: str) -> ir.StringValue:
    stages = getattr(pb.playbook, section)
    branches = [(compile_predicate(pb.expression(section, r.name), table), r.name) for r in stages.rules]
    return ibis.cases(*branches, else_=stages.default) if branches else ibis.literal(stages.default)


def tiers(f: ir.Table, pb: LoadedPlaybook) -> ir.Table:
    """The tier by the ladder; a customer above their new line's hysteresis
    band keeps the previous, higher tier. Index 0 is the top tier."""
    ladder = pb.playbook.tiers.ladder
    h = pb.playbook.tiers.hysteresis
    near = pb.playbook.tiers.near_threshold
    raw = ibis.cases(*((f.aum >= t.min_aum, i) for i, t in enumerate(ladder)), else_=len(ladder) - 1)
    prev = ibis.cases(*((f.prev_tier == t.name, i) for i, t in enumerate(ladder)), else_=ibis.null("int64"))
    prev_line = ibis.cases(
        *((prev == i, t.min_aum) for i, t in enumerate(ladder)), else_=ibis.null("float64")
    )
    kept = prev.notnull() & (prev < raw) & (f.aum >= prev_line * (1 - h))
    f = f.mutate(tier_index=ibis.ifelse(kept, prev, raw).cast("int64"), prev_tier_index=prev.cast("int64"))
    name = ibis.cases(*((f.tier_index == i, t.name) for i, t in enumerate(ladder)))
    next_line = ibis.cases(
        *((f.tier_index == i, ladder[i - 1].min_aum) for i in range(1, len(ladder))),
        else_=ibis.null("float64"),
    )
    next_line_x = ibis.cases(
        *((f.tier_index == i, round(ladder[i - 1].min_aum * UNITS)) for i in range(1, len(ladder))),
        else_=ibis.null("int64"),
    )
    return f.mutate(
        tier=name,
        tier_move=ibis.cases(
            (f.prev_tier_index.isnull(), "new"),
            (f.tier_index < f.prev_tier_index, "up"),
            (f.tier_index > f.prev_tier_index, "down"),
            else_="same",
        ),
        next_tier_gap_x=next_line_x - f.aum_x,
        near_threshold=(next_line.notnull() & (f.aum >= next_line * (1 - near))).fill_null(False),
    )


def classify(f: ir.Table, pb: LoadedPlaybook) -> ir.Table:
    f = tiers(f, pb)
    f = f.mutate(life_stage=_first_match(f, pb, "life_stages"), lifecycle=_first_match(f, pb, "lifecycle"))
    flags = {
        f"seg_{s.name}": compile_predicate(pb.expression("segments", s.name), f) for s in pb.playbook.segments
    }
    f = f.mutate(**flags)
    names = [ibis.ifelse(f[f"seg_{s.name}"], s.name, ibis.null("string")) for s in pb.playbook.segments]
    segments = (
        ibis.array(names).filter(lambda x: x.notnull()) if names else ibis.literal([], type="array<string>")
    )
    return f.mutate(segments=segments)
