"""The whole profile: features → classification → health → recommendations,
with each customer's count of every low-carbon behaviour (their green ledger).
Engine-neutral: each step is an Ibis expression, and the engine decides where
intermediate results are kept."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from kequn.pipeline.classify import classify
from kequn.pipeline.features import features
from kequn.pipeline.health import bands, scores, with_targets
from kequn.pipeline.inputs import Inputs, Materialize, fround, units_to_money
from kequn.pipeline.predicates import compile_predicate
from kequn.pipeline.reasons import PICKS, PRODUCTS, worded
from kequn.pipeline.recommend import recommended
from kequn.playbook import LoadedPlaybook
from kequn.playbook.model import ASSET_CLASSES, HEALTH_COMPONENTS

MONEY = (
    "aum",
    "aum_month_end",
    "aum_avg_daily",
    "deposits",
    "liabilities",
    "liquid_assets",
    "fund_balance",
    "wealth_balance",
    "pension_balance",
    "salary_monthly",
    "spend_monthly",
    "same_name_out",
    "net_flow",
    "next_tier_gap",
    "maturing_7d_amount",
    "same_name_out_7d",
    "large_transfer_7d",
    *(f"{c}_amount" for c in ASSET_CLASSES),
    *(f"gap_{c}" for c in ASSET_CLASSES),
)


def profile_columns(pb: LoadedPlaybook) -> list[str]:
    seg = [f"seg_{s.name}" for s in pb.playbook.segments]
    comps = [f"health_{c}" for c in HEALTH_COMPONENTS]
    # the findings and advice are worded when a page shows them (``health_texts``)
    banded = [f"band_{c}" for c in HEALTH_COMPONENTS]
    return [
        "customer_id",
        "home_branch_id",
        "owner_manager_id",
        "tier",
        "prev_tier",
        "tier_move",
        "near_threshold",
        "next_tier_gap",
        "aum",
        "aum_month_end",
        "aum_avg_daily",
        "deposits",
        "liabilities",
        *(f"{c}_amount" for c in ASSET_CLASSES),
        "liquid_assets",
        "fund_balance",
        "wealth_balance",
        "pension_balance",
        "segments",
        *seg,
        "lifecycle",
        "life_stage",
        "age",
        "gender",
        "occupation",
        "industry",
        "hukou_local",
        "dependants",
        "tenure_days",
        "talent_employer",
        "tags",
        "owned",
        "prev_dormant",
        "risk_level",
        "risk_level_num",
        "risk_assessed_on",
        "risk_valid",
        "risk_expires_in_days",
        "risk_expiring",
        "dual_recording_r3",
        "first_time_investor",
        "salary_months",
        "salary_monthly",
        "pension_months",
        "spend_monthly",
        "same_name_out",
        "same_name_out_count",
        "txn_count",
        "days_since_last_txn",
        "net_flow",
        "aum_growth",
        "liquid_reserve_months",
        "above_risk_share",
        "n_products",
        "maturity_peak_share",
        "fund_return",
        "value_return",
        "green_points",
        "carbon_grams",
        # the green ledger: how often each behaviour was seen (``cards.green_ledger``
        # turns them into the ledger's lines with the run's grams and points)
        *(f"carbon_{b.name}" for b in pb.playbook.carbon.behaviours),
        "maturing_7d_amount",
        "next_maturity_days",
        "birthday_this_month",
        "days_to_birthday",
        "days_to_payday",
        "days_to_bonus",
        "same_name_out_7d",
        "large_transfer_7d",
        "prev_health_score",
        "health_change",
        "health_score",
        *comps,
        *banded,
        "gap_class",
        "allocation_distance",
        *(f"target_{c}" for c in ASSET_CLASSES),
        *(f"gap_{c}" for c in ASSET_CLASSES),
    ]


def finish(p: ir.Table, pb: LoadedPlaybook) -> ir.Table:
    """Rounds, types and orders the published columns."""
    s = pb.playbook.suitability
    p = p.mutate(
        risk_expiring=(p.risk_valid & (p.risk_expires_in_days <= s.expiring_within_days)).fill_null(False),
        dual_recording_r3=p.age >= s.dual_recording_age,
    )
    rounded = {c: units_to_money(p[f"{c}_x"]) for c in MONEY}
    ratios = {
        c: fround(p[c], 6)
        for c in (
            "aum_growth",
            "liquid_reserve_months",
            "above_risk_share",
            "fund_return",
            "value_return",
            "allocation_distance",
            "maturity_peak_share",
        )
    }
    p = p.mutate(**rounded, **ratios, carbon_grams=fround(p.carbon_grams, 1))
    return p.select(*profile_columns(pb))


def trigger_hits(p: ir.Table, pb: LoadedPlaybook) -> ir.Table:
    """Every trigger that holds for a customer tonight. Event fields are NULL in
    the batch, so event-only triggers fire only in real time."""
    p = p.mutate(
        event_type=ibis.null("string"),
        event_product_id=ibis.null("string"),
        event_views_7d=ibis.null("int64"),
        event_amount=ibis.null("float64"),
    )
    parts = [
        p.filter(compile_predicate(pb.expression("triggers", t.name), p)).select(
            customer_id=p.customer_id,
            trigger=ibis.literal(t.name),
            # thousandths over 1000: DuckDB would type a bare 1.25 as DECIMAL(3,2), Spark as DOUBLE
            urgency=ibis.literal(round(t.urgency * 1000), type="int64") / 1000,
        )
        for t in pb.playbook.triggers
    ]
    return ibis.union(*parts)


def with_bank_attributes(p: ir.Table, customers: ir.Table, attributes: Sequence[str]) -> ir.Table:
    """The profiles with the bank's own customer attributes beside them (group
    conditions, the customer's page and the model read them there)."""
    if not attributes:
        return p
    own = customers.select("customer_id", *attributes)
    return p.left_join(own, "customer_id").drop("customer_id_right")


def build(
    inputs: Inputs, pb: LoadedPlaybook, keep: Materialize, attributes: Sequence[str] = ()
) -> dict[str, ir.Table]:
    # the features are read by the scoring alone: computed inside its step, not
    # kept on their own (a table of 1,000,000 rows written and read once)
    p = classify(features(inputs, pb), pb)
    assert inputs.portfolio_targets is not None
    p = with_targets(p, inputs.portfolio_targets, pb.playbook.health.protection_until_age)
    # kept as they are published, and the recommendations and triggers chosen
    # from them: from the figures a card shows and an event is decided on. (A
    # wider table of every working column, kept and then published, was written
    # twice and spilled at 1,000,000 customers.)
    profiles = keep(
        "profiles", with_bank_attributes(finish(bands(scores(p, pb), pb), pb), inputs.customers, attributes)
    )
    picks, products = recommended(profiles, inputs, pb, keep)
    # the tables the run writes; its recommendations are a view over the picks
    # and their products (``recommend.worded``)
    return {"profiles": profiles, PICKS: picks, PRODUCTS: products, "triggers": trigger_hits(profiles, pb)}


def published(results: dict[str, ir.Table]) -> dict[str, ir.Table]:
    """The run's outputs as its readers read them (``catalog.OUTPUTS``) from the
    tables ``build`` gives: the recommendations worded over the picks."""
    return {
        "profiles": results["profiles"],
        "recommendations": worded(results[PICKS], results[PRODUCTS]),
        "triggers": results["triggers"],
    }
