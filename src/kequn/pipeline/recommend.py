"""Products that fill each customer's model-portfolio gap (KYC × KYP), within
the suitability rules of ``kequn.rules.suitability``.

Candidates depend on a customer only through a few facts (tier, risk level,
life stage, the asset class short, and the rules' inputs), so products are
ranked once per bucket of such customers and only the bucket's best few are
joined back to each customer: millions of customers never meet hundreds of
products row by row.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from kequn.pipeline.inputs import Inputs, Materialize, as_float, fx_rate
from kequn.pipeline.reasons import PICKS_SCHEMA, PRODUCTS_SCHEMA
from kequn.playbook import LoadedPlaybook
from kequn.playbook.model import ASSET_CLASSES
from kequn.rules import suitability as suit

BUCKET = [
    "tier",
    "risk_cell",
    "life_stage",
    "asset_class",
    "eff_risk",
    "liquid_ok",
    "pension_ok",
    "paying_in",
    "low_carbon",
    "gap_floor",
]
#: gaps are banded by these lines (yuan), so that a bucket's candidates are all
#: affordable to every customer in it
GAP_FLOORS = (0, 10_000, 50_000, 200_000, 1_000_000, 5_000_000)

#: a pick's score is kept to four places (ten-thousandths, as ``fround`` rounds)
SCORE_SCALE = 10_000
#: room for each product's place in the order of codes beside the score
PRODUCT_SLOTS = 1 << 20

#: what suitability reads of a product beside its risk and type (``_side``)
_SIDE = ("closed", "is_pension", "term_days", "on_sale")


def _products(inputs: Inputs, pb: LoadedPlaybook) -> ir.Table:
    """The shelf of products that count in AUM (the suitability rules are applied
    to each customer bucket's candidates, not here)."""
    p = inputs.products
    p = p.filter(p.type.isin(list(pb.playbook.aum_product_types)) & (p.asset_class != "liability"))
    is_pension = p.is_pension.fill_null(False)
    p = p.select(
        product_id=p.product_id,
        product_name=p.name,
        product_type=p.type,
        asset_class=p.asset_class,
        product_risk=p.risk_level,
        # an unrated product counts as the riskiest (the contract requires R1–R5)
        p_risk=ibis.cases(*((p.risk_level == f"R{i}", i) for i in range(1, 6)), else_=5).cast("int64"),
        closed=p.liquidity == "closed",
        is_pension=is_pension,
        term_days=ibis.coalesce(p.term_days, p.lockup_days, 0).cast("int64"),
        on_sale=p.on_sale.fill_null(True),
        is_green=p.is_green.fill_null(False),
        min_amount=p.min_amount.fill_null(0).cast("float64") * fx_rate(p.currency, pb),
        expected_return=ibis.ifelse(is_pension, ibis.null("float64"), p.expected_return.cast("float64")),
    )
    # return factor: rank of the expected return within the asset class (0..1)
    w = ibis.window(group_by=p.asset_class, order_by=p.expected_return)
    rank = ibis.ifelse(p.expected_return.isnull(), 0.5, p.expected_return.percent_rank().over(w))
    return p.mutate(
        return_factor=rank.cast("float64"),
        # each product's place in the order of codes (ranking ties between picks)
        product_no=(ibis.row_number().over(order_by=p.product_id)).cast("int64"),
    )


def _side(t: ir.Table) -> suit.ProductSide:
    return suit.ProductSide(
        risk_num=t.p_risk,
        type=t.product_type,
        closed=t.closed,
        is_pension=t.is_pension,
        term_days=t.term_days,
        on_sale=t.on_sale,
    )


def _popularity(profiles: ir.Table, held: ir.Table) -> ir.Table:
    """Share of similar customers (same tier, risk level, life stage) holding each product."""
    cells = profiles.select("customer_id", "tier", "risk_cell", "life_stage")
    size = cells.group_by(["tier", "risk_cell", "life_stage"]).aggregate(cell_n=cells.count())
    counts = (
        held.join(cells, "customer_id")
        .group_by(["tier", "risk_cell", "life_stage", "product_id"])
        .aggregate(k=ibis._.count())
    )
    pop = counts.join(size, ["tier", "risk_cell", "life_stage"])
    return pop.select(
        "tier", "risk_cell", "life_stage", "product_id", popularity=(pop.k / pop.cell_n).cast("float64")
    )


def _largest_gaps(p: ir.Table, need: ir.FloatingValue) -> ir.Table:
    """Each customer's two largest gaps of at least ``need``, one row per gap, its
    rank (0 or 1) beside it; equal gaps are ranked by the asset class's name.
    (From the age cover is no longer bought, the model portfolio holds no
    protection: ``health.with_targets``.)

    Ranked across the customer's own row (how many qualifying classes come
    before each), not by a window over a million customers' rows."""
    keep = [
        "customer_id",
        "tier",
        "risk_cell",
        "life_stage",
        "eff_risk",
        "liquid_ok",
        "pension_ok",
        "paying_in",
        "low_carbon",
        "age",
        "first_time_investor",
        "risk_level",
    ]
    classes = sorted(ASSET_CLASSES)
    # the gaps as the profile publishes them (money, to the fen), compared as floats
    gaps = {c: as_float(p[f"gap_{c}"]) for c in classes}
    qualifies = {c: (gaps[c] >= need).fill_null(False) for c in classes}

    def before(d: str, c: str) -> ir.BooleanValue:
        ahead = gaps[d] > gaps[c]
        if d < c:
            ahead = ahead | (gaps[d] == gaps[c])
        return qualifies[d] & ahead.fill_null(False)

    rank = {
        c: sum((ibis.ifelse(before(d, c), 1, 0) for d in classes if d != c), ibis.literal(0)) for c in classes
    }
    return ibis.union(
        *(
            p.filter(qualifies[c] & (rank[c] < 2)).select(
                *keep,
                asset_class=ibis.literal(c),
                gap=gaps[c],
                gap_x=p[f"gap_{c}"],
                gap_rank=rank[c].cast("int64"),
            )
            for c in classes
        )
    )


def recommended(
    profiles: ir.Table, inputs: Inputs, pb: LoadedPlaybook, keep: Materialize
) -> tuple[ir.Table, ir.Table]:
    """Each customer's best few suitable products, chosen from the published
    profiles (their gaps in money to the fen), and the products they may name:
    the run's tables ``reasons.PICKS`` and ``reasons.PRODUCTS``, which
    ``reasons.worded`` turns into the published recommendations. ``keep``
    holds the ranked picks (the engine's materialisation, as for the
    profile's steps)."""
    r = pb.playbook.recommendations
    s = pb.playbook.suitability
    wt = r.weights
    p = profiles.mutate(
        risk_cell=profiles.risk_level.fill_null("NONE"),
        eff_risk=ibis.ifelse(profiles.risk_valid, profiles.risk_level_num, 0).cast("int64"),
        liquid_ok=suit.reserve_ok(profiles.liquid_reserve_months, s),
        pension_ok=suit.pension_age_ok(profiles.age, s),
        paying_in=suit.pension_paying_in(profiles.age, s),
        low_carbon=profiles.seg_low_carbon if "seg_low_carbon" in profiles.columns else ibis.literal(False),
    )
    need = ibis.greatest(ibis.literal(r.min_gap_amount), as_float(p.aum_month_end) * r.min_gap_share)
    gaps = _largest_gaps(p, need)
    gaps = gaps.mutate(
        gap_fit=ibis.ifelse(gaps.gap_rank == 0, 1.0, 0.5),
        gap_floor=ibis.cases(*((gaps.gap >= line, float(line)) for line in reversed(GAP_FLOORS)), else_=0.0),
    )

    products = _products(inputs, pb)
    buckets = gaps.select(*BUCKET).distinct()
    cand = buckets.join(products, "asset_class")
    # suitability (kequn.rules.suitability) on each bucket of alike customers
    alike = suit.CustomerSide(
        risk_num=cand.eff_risk,
        valid=cand.eff_risk >= 1,
        reserve_ok=cand.liquid_ok,
        pension_age_ok=cand.pension_ok,
        pension_paying_in=cand.paying_in,
    )
    cand = cand.filter(
        (cand.min_amount <= ibis.greatest(cand.gap_floor, 1000.0)) & suit.suitable(alike, _side(cand), s)
    )
    held = inputs.holdings.select("customer_id", "product_id").distinct()
    pop = _popularity(p, held)
    cand = cand.left_join(pop, ["tier", "risk_cell", "life_stage", "product_id"])
    cand = cand.drop(*(c for c in cand.columns if c.endswith("_right")))
    cand = cand.mutate(popularity=cand.popularity.fill_null(0.0))
    cand = cand.mutate(
        base_score=wt["popularity"] * cand.popularity
        + wt["return"] * cand.return_factor
        + wt["green"] * ibis.ifelse(cand.low_carbon & cand.is_green, 1.0, 0.0)
    )
    cand = cand.mutate(
        bucket_rank=ibis.row_number().over(
            group_by=[cand[k] for k in BUCKET], order_by=[ibis.desc(cand.base_score), cand.product_id]
        )
    )
    cand = cand.filter(cand.bucket_rank < r.candidates_per_bucket)

    # ranked narrow (a customer, a gap, a product, a score) and kept, then only the
    # chosen rows are given the customer's and the product's facts: ranking and
    # sieving millions of rows that carried every column took most of the
    # recommendations' time, and one query doing both ran a 2,000,000-customer
    # run out of its 3 GB (the ranking's sort and the join back held at once)
    offers = cand.select(*BUCKET, "product_id", "product_no", "base_score", "min_amount", "popularity")
    customer = ["customer_id", "gap", "gap_x", "risk_level", "age", "first_time_investor"]
    picks = gaps.select(*customer, *BUCKET, "gap_fit").join(offers, BUCKET)
    picks = picks.filter(picks.min_amount <= picks.gap)
    # not offered what they hold (the holdings as they are: a product held in
    # two accounts is no more held, and nothing need be made distinct for it)
    holdings = inputs.holdings.select("customer_id", "product_id")
    picks = picks.anti_join(holdings, ["customer_id", "product_id"])
    # the score in ten-thousandths (as ``fround`` rounds it), and the order
    # (score down, then product up) as one integer: sorting millions of picks
    # by a number and a product's code took most of the ranking's time
    score_units = (wt["gap_fit"] * picks.gap_fit + picks.base_score) * SCORE_SCALE + 0.5
    score_units = score_units.floor().cast("int64")
    # only what the kept picks need is carried through the ranking
    picks = picks.select(
        "customer_id",
        "gap_x",
        "age",
        "first_time_investor",
        # the level the product was matched to; none where the assessment is
        # missing or expired (only non-risk products were then offered)
        assessed_risk_level=ibis.ifelse(picks.eff_risk >= 1, picks.risk_level, ibis.null("string")),
        product_id=picks.product_id,
        popularity=picks.popularity,
        score=(score_units / SCORE_SCALE).cast("float64"),
        order=score_units * PRODUCT_SLOTS + (PRODUCT_SLOTS - 1 - picks.product_no),
    )
    picks = picks.mutate(
        rank=ibis.row_number().over(group_by=picks.customer_id, order_by=ibis.desc(picks.order))
    )
    picks = keep("picks", picks.filter(picks.rank < r.per_customer).drop("order"))
    chosen = picks.join(products.select("product_id", "p_risk", "product_type", *_SIDE), "product_id")
    dual = suit.dual_recording(chosen.age, chosen.first_time_investor, _side(chosen), s)
    kept = chosen.select(
        "customer_id",
        rank=(chosen.rank + 1).cast("int64"),
        product_id=chosen.product_id,
        gap_amount=chosen.gap_x,
        score=chosen.score,
        popularity_share=chosen.popularity,
        assessed_risk_level=chosen.assessed_risk_level,
        dual_recording=dual,
    )
    return kept.cast(PICKS_SCHEMA), products.select(*PRODUCTS_SCHEMA.names).cast(PRODUCTS_SCHEMA)
