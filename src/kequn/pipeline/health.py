"""The wealth-health score (财富健康度): seven components, each with its
sub-score, a plain finding and the action that would raise it."""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from kequn.pipeline.inputs import UNITS, fround, units_to_fen
from kequn.playbook import LoadedPlaybook
from kequn.playbook.model import ASSET_CLASSES, HEALTH_COMPONENTS, MAY_BE_UNKNOWN, UNKNOWN_BAND

#: model-portfolio weights are kept to four decimals in the money arithmetic
WEIGHT_SCALE = 10_000
FEN_PER_YUAN = 100


#: how the score is worked out, raised whenever its arithmetic changes: a run
#: records it, and a change in score is measured only against a previous run
#: of the same (2: a component that cannot be judged does not count)
HEALTH_FORMULA = 2


def portfolio_rows(pb: LoadedPlaybook) -> list[dict[str, object]]:
    return [
        {"pf_risk": risk, "pf_stage": stage, **{f"target_{c}": float(w[c]) for c in ASSET_CLASSES}}
        for risk, by_stage in pb.playbook.portfolios.targets.items()
        for stage, w in by_stage.items()
    ]


def counted_weights(
    weights: Mapping[str, float], scores: Mapping[str, float | None]
) -> dict[str, float | None]:
    """Each component's share of one customer's total, as ``scores`` adds it up:
    its weight among the components judged (a score that is not None), None
    for one that could not be judged."""
    judged = sum(w for c, w in weights.items() if scores.get(c) is not None)
    return {c: (w / judged if judged and scores.get(c) is not None else None) for c, w in weights.items()}


def _clip(x: ir.NumericValue) -> ir.FloatingValue:
    return ibis.greatest(ibis.least(x, 100.0), 0.0).cast("float64")


def with_targets(p: ir.Table, targets: ir.Table, cover_until_age: int) -> ir.Table:
    """Joins the model portfolio of each customer's risk level and life stage
    (the most conservative, C1, when never assessed) and the allocation gaps.

    From ``cover_until_age`` on, cover is no longer bought: the portfolio's
    protection weight goes to the other classes in proportion, so protection is
    no gap, in the allocation's score and finding as in the recommendations
    (the protection component asks no more of it either)."""
    p = p.mutate(pf_risk=p.risk_level.fill_null("C1"))
    t = targets
    p = p.left_join(t, (p.pf_risk == t.pf_risk) & (p.life_stage == t.pf_stage)).drop(
        "pf_risk_right", "pf_stage"
    )
    past_cover = (p.age >= cover_until_age).fill_null(False) & (p.target_protection < 1)
    rest = 1 - p.target_protection
    p = p.mutate(
        **{
            f"target_{c}": ibis.ifelse(
                past_cover, 0.0 if c == "protection" else p[f"target_{c}"] / rest, p[f"target_{c}"]
            )
            for c in ASSET_CLASSES
        }
    )
    aum = p.aum_month_end
    # the gaps in money, exactly, in UNITS: a weight in ten-thousandths times
    # fen is in millionths of a yuan, the holdings are in fen; each side is
    # brought to UNITS by its own factor
    aum_fen = units_to_fen(p.aum_month_end_x)
    per_weighted_fen = UNITS // (WEIGHT_SCALE * FEN_PER_YUAN)
    per_fen = UNITS // FEN_PER_YUAN
    gaps = {
        f"gap_{c}_x": (p[f"target_{c}"] * WEIGHT_SCALE).round(0).cast("int64") * aum_fen * per_weighted_fen
        - units_to_fen(p[f"{c}_amount_x"]) * per_fen
        for c in ASSET_CLASSES
    }
    p = p.mutate(**gaps)
    p = p.mutate(**{f"gap_{c}": p[f"gap_{c}_x"].cast("float64") / UNITS for c in ASSET_CLASSES})
    weights = {c: ibis.ifelse(aum > 0, p[f"{c}_amount"] / aum, 0.0) for c in ASSET_CLASSES}
    distance = sum(((weights[c] - p[f"target_{c}"]).abs() for c in ASSET_CLASSES), ibis.literal(0.0)) / 2
    biggest = ibis.greatest(*(p[f"gap_{c}"] for c in ASSET_CLASSES))
    gap_class = ibis.cases(*((p[f"gap_{c}"] == biggest, c) for c in ASSET_CLASSES))
    return p.mutate(allocation_distance=distance, gap_class=gap_class)


def scores(p: ir.Table, pb: LoadedPlaybook) -> ir.Table:
    h = pb.playbook.health
    aum = p.aum_month_end
    liquid_need = p.spend_monthly * h.liquidity_months
    n_eff = ibis.ifelse(p.product_hhi > 0, 1 / p.product_hhi, 0.0)
    need = h.protection_per_person * (1 + p.dependants.fill_null(0))
    protection_ratio = _clip(100 * p.protection_amount / need)
    term_n = ibis.least(p.term_positions, 8)
    sub = {
        "allocation": ibis.ifelse(aum > 0, _clip(100 * (1 - p.allocation_distance)), 0.0),
        "growth": ibis.ifelse(p.aum_growth.isnull(), 50.0, _clip(50 + 50 * p.aum_growth / h.growth_full_at)),
        "liquidity": ibis.ifelse(
            liquid_need > 0,
            _clip(100 * p.liquid_assets / liquid_need),
            ibis.ifelse(p.liquid_assets > 0, 100.0, 0.0),
        ),
        "risk_match": _clip(100 - h.risk_mismatch_penalty * 100 * p.above_risk_share),
        "diversification": ibis.ifelse(
            aum > 0, _clip(100 * (n_eff - 1) / (h.diversification_target - 1)), 0.0
        ),
        # past the age where cover is bought, some cover is enough, none is "fair"
        "protection": ibis.ifelse(
            p.age >= h.protection_until_age,
            ibis.ifelse(p.protection_amount > 0, ibis.greatest(protection_ratio, 70.0), 60.0),
            protection_ratio,
        ),
        "maturity": ibis.ifelse(
            p.term_positions < 2,
            100.0,
            _clip(100 * (1 - p.maturity_peak_share.fill_null(1.0)) / (1 - 1 / term_n)),
        ),
    }
    p = p.mutate(**{f"health_{k}": fround(v, 1) for k, v in sub.items()})
    # a component that cannot be judged for the customer has no score, and the
    # total is the others' weighted mean: 流动性 "100" beside "no spending to
    # measure the reserve by" once gave a customer 15 points for nothing known
    unjudged = cannot_judge(p, pb)
    p = p.mutate(
        **{f"health_{k}": ibis.ifelse(unjudged[k], ibis.null("float64"), p[f"health_{k}"]) for k in unjudged}
    )
    counted = {k: p[f"health_{k}"].notnull() for k in HEALTH_COMPONENTS}
    points = sum(
        (ibis.ifelse(counted[k], p[f"health_{k}"] * h.weights[k], 0.0) for k in HEALTH_COMPONENTS),
        ibis.literal(0.0),
    )
    weight = sum((ibis.ifelse(counted[k], h.weights[k], 0.0) for k in HEALTH_COMPONENTS), ibis.literal(0.0))
    total = ibis.ifelse(weight > 0, points / weight, ibis.null("float64"))
    p = p.mutate(health_score=fround(total, 1))
    return p.mutate(health_change=fround(p.health_score - p.prev_health_score, 1))


def cannot_judge(p: ir.Table, pb: LoadedPlaybook) -> dict[str, ir.BooleanValue]:
    """Where a component cannot be judged for a customer (its ``unknown`` band),
    for each component the playbook gives that band's texts; read on the
    sub-scores as the scores above gave them. A playbook without those texts,
    written before a component could be unknown, judges it in the three bands."""
    h = pb.playbook.health
    unknown = {
        # no assets before the period: nothing to grow from
        "growth": p.aum_growth.isnull(),
        # no spending over the window: a reserve in months of spending means
        # nothing ("covers 99.0 months" was shown)
        "liquidity": p.spend_monthly.fill_null(0.0) <= 0,
        # no valid assessment and little or nothing held that needs one: the
        # score would be high, but "matched, re-assess before it expires" would
        # speak of an assessment the customer does not have
        "risk_match": ~p.risk_valid & (p.health_risk_match >= h.good_from),
        # fewer than two fixed-term holdings: no ladder to judge
        "maturity": p.term_positions.fill_null(0) < 2,
        # past the age cover is bought: no longer weighed against the family's
        # needs ("保障偏低，补充重疾" was told to customers of 71)
        "protection": p.age.fill_null(0) >= h.protection_until_age,
    }
    assert set(unknown) == set(MAY_BE_UNKNOWN)
    return {k: v.fill_null(False) for k, v in unknown.items() if UNKNOWN_BAND in h.texts[k]}


def bands(p: ir.Table, pb: LoadedPlaybook) -> ir.Table:
    """Each component's band (poor, fair, good, or unknown where it could not be
    judged): what the finding and advice are chosen by when a page shows them
    (``health_texts``), and what the page colours the component by."""
    h = pb.playbook.health
    out = {}
    for comp in HEALTH_COMPONENTS:
        score = p[f"health_{comp}"]
        band = ibis.cases((score < h.poor_below, "poor"), (score < h.good_from, "fair"), else_="good")
        if UNKNOWN_BAND in h.texts[comp]:
            # no score: the component could not be judged (``cannot_judge``)
            band = ibis.ifelse(score.isnull(), UNKNOWN_BAND, band)
        out[f"band_{comp}"] = band
    return p.mutate(**out)
