"""What a run records of itself in the catalog (``kequn runs``, ``kequn run``'s
closing lines): counts by tier, segment, lifecycle and life stage, the health
scores' spread, recommendations and triggers.

Read in four scans of the published tables: the scalar figures in one, every
breakdown of the profiles in one ``GROUPING SETS`` query, then the
recommendations and the triggers. (A query per segment and per breakdown, 31
in all, took 0.25-0.6 s of a 1,000,000-customer run; these four 0.18-0.23 s,
both measured with other work running beside them.)"""

from __future__ import annotations

from typing import Any

import duckdb

from kequn.playbook import LoadedPlaybook
from kequn.playbook.model import HEALTH_COMPONENTS

#: the breakdowns of the profiles, by the expression each groups on
BREAKDOWNS = {
    "tiers": "tier",
    "by_decile": "(floor(health_score / 10) * 10)::INT",
    "tier_moves": "tier_move",
    "lifecycle": "lifecycle",
    "life_stages": "life_stage",
}


def summarise(con: duckdb.DuckDBPyConnection, source: dict[str, str], pb: LoadedPlaybook) -> dict[str, Any]:
    """The run's summary from its tables (``source``: output name -> relation)."""
    prof = source["profiles"]
    segments = [s.name for s in pb.playbook.segments]
    scalars = [
        "count(*)",
        *(f'count_if("seg_{name}")' for name in segments),
        "round(avg(health_score), 1)",
        "round(quantile_cont(health_score, 0.1), 1)",
        "round(median(health_score), 1)",
        "round(quantile_cont(health_score, 0.9), 1)",
        *(f"round(avg(health_{c}), 1)" for c in HEALTH_COMPONENTS),
        "coalesce(sum(green_points), 0)",
    ]
    row = con.execute(f"SELECT {', '.join(scalars)} FROM {prof}").fetchone()
    assert row is not None
    total, rest = row[0], list(row[1:])
    seg_counts, rest = rest[: len(segments)], rest[len(segments) :]
    health, rest = rest[:4], rest[4:]
    comps, (green,) = rest[: len(HEALTH_COMPONENTS)], rest[len(HEALTH_COMPONENTS) :]

    names = list(BREAKDOWNS)
    keys = ", ".join(f"{expr} AS k{i}" for i, expr in enumerate(BREAKDOWNS.values()))
    sets = ", ".join(f"(k{i})" for i in range(len(names)))
    # GROUPING(k) is 0 in the rows grouped by k: which breakdown a row belongs to
    which = ", ".join(f"grouping(k{i})" for i in range(len(names)))
    counts: dict[str, list[tuple[Any, int]]] = {name: [] for name in names}
    for *values, n in con.execute(
        f"SELECT {', '.join(f'k{i}' for i in range(len(names)))}, {which}, count(*) "
        f"FROM (SELECT {keys} FROM {prof}) GROUP BY GROUPING SETS ({sets})"
    ).fetchall():
        grouped, flags = values[: len(names)], values[len(names) :]
        i = flags.index(0)
        counts[names[i]].append((grouped[i], n))

    def by_key(name: str) -> dict[Any, int]:
        # NULL last, as ORDER BY puts it
        return dict(sorted(counts[name], key=lambda kv: (kv[0] is None, kv[0] if kv[0] is not None else 0)))

    def by_count(name: str) -> dict[Any, int]:
        return dict(sorted(counts[name], key=lambda kv: (-kv[1], str(kv[0]))))

    tiers = dict(counts["tiers"])
    recs = con.execute(
        f"SELECT count(*), count(DISTINCT customer_id) FROM {source['recommendations']}"
    ).fetchone()
    assert recs is not None
    triggers = con.execute(
        f"SELECT trigger, count(*) FROM {source['triggers']} GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    return {
        "customers": total,
        "tiers": {t.name: tiers.get(t.name, 0) for t in pb.playbook.tiers.ladder},
        "tier_moves": by_key("tier_moves"),
        "segments": dict(zip(segments, seg_counts, strict=True)),
        "lifecycle": by_count("lifecycle"),
        "life_stages": by_count("life_stages"),
        "health": {
            "mean": health[0],
            "p10": health[1],
            "median": health[2],
            "p90": health[3],
            "by_decile": {str(k): v for k, v in by_key("by_decile").items()},
            "components": dict(zip(HEALTH_COMPONENTS, comps, strict=True)),
        },
        "recommendations": recs[0],
        "customers_with_recommendations": recs[1],
        "carbon_points": green,
        "triggers": dict(triggers),
    }
