"""A recommendation in words: the run keeps each customer's picks and the
products they name (``recommend.recommended``), narrow, and the run file's
view ``recommendations`` words them for the rows it reads (``worded``); a
customer's card words its own few picks in Python (``reasons_value``,
``rules_value``), to the same text."""

from __future__ import annotations

from functools import cache

import ibis
import ibis.expr.types as ir

from kequn.pipeline.inputs import as_float, fround
from kequn.pipeline.texts import CLASS_ZH, fmt_1, fmt_1_value, fmt_int, fmt_int_value, joined

#: the run's table of each customer's picks, and of the products they name: the
#: run file's view ``recommendations`` words them (``worded``)
PICKS = "recommendation_picks"
PRODUCTS = "recommendation_products"
PICKS_SCHEMA = ibis.schema(
    {
        "customer_id": "string",
        "rank": "int64",
        "product_id": "string",
        "gap_amount": "decimal(18, 2)",
        "score": "float64",
        "popularity_share": "float64",
        "assessed_risk_level": "string",
        "dual_recording": "boolean",
    }
)
PRODUCTS_SCHEMA = ibis.schema(
    {
        "product_id": "string",
        "product_name": "string",
        "product_type": "string",
        "asset_class": "string",
        "product_risk": "string",
        "expected_return": "float64",
        "is_pension": "boolean",
        "closed": "boolean",
    }
)
#: the clauses of a recommendation's reasons, as templates: what the workbench
#: reads them back by in another language
REASON_CLAUSES = (
    "补足{asset_class}配置缺口约{gap_wan}万元",
    "同类客户中{popularity_pct}%持有",
    "产品风险{product_risk}不高于客户风险等级{risk_level}",
    "风险测评未完成或已过期，仅推荐非风险产品",
    "需在网点双录办理",
)


#: the two clauses said whole, as REASON_CLAUSES words them
_UNASSESSED = REASON_CLAUSES[3]
_DUAL = "；" + REASON_CLAUSES[4]
#: the rules a pick passed, as codes (each page names them in its language)
_RULES = (
    "on_sale;",
    "risk_within_tolerance;",
    "no_risk_product;",
    "reserve_before_lockup;",
    "pension_rules;",
    "not_held;min_amount_within_gap",
)


def worded(picks: ir.Table, products: ir.Table) -> ir.Table:
    """The published recommendations: each pick (``recommended``) with its
    product's facts and its reasons in words. The run keeps the picks and the
    products, narrow, and this is the view over them that SQL readers read
    (``recommendations_view``): the words are made for the rows read, not
    written for every pick of every customer each night. A card words its
    own picks in Python (``reasons_value``, ``rules_value``): the same text."""
    recs = picks.join(products, "product_id")
    assessed = recs.assessed_risk_level.notnull()
    class_zh = ibis.cases(*((recs.asset_class == k, v) for k, v in CLASS_ZH.items()))
    popularity_pct = fmt_int(recs.popularity_share * 100)
    # one clause per REASON_CLAUSES entry, joined by "；" (none is NULL: each
    # class has its name, each pick a gap, a rated product and, where its
    # assessment is valid, the customer's risk level)
    reasons = joined(
        [
            ibis.literal("补足"),
            class_zh,
            ibis.literal("配置缺口约"),
            fmt_1(as_float(recs.gap_amount) / 10_000),
            ibis.literal("万元；"),
            # "0% of similar customers hold it" is no reason to offer a product: said only when some do
            ibis.ifelse(popularity_pct == "0", "", "同类客户中" + popularity_pct + "%持有；"),
            ibis.ifelse(
                assessed,
                "产品风险" + recs.product_risk + "不高于客户风险等级" + recs.assessed_risk_level,
                _UNASSESSED,
            ),
            ibis.ifelse(recs.dual_recording, _DUAL, ""),
        ]
    )
    rules = (
        _RULES[0]
        + ibis.ifelse(assessed, _RULES[1], _RULES[2])
        + ibis.ifelse(recs.closed, _RULES[3], "")
        + ibis.ifelse(recs.is_pension, _RULES[4], "")
        + _RULES[5]
    )
    return recs.select(
        "customer_id",
        "rank",
        "product_id",
        "product_name",
        "product_type",
        "asset_class",
        "product_risk",
        "gap_amount",
        "score",
        popularity=fround(recs.popularity_share, 4),
        expected_return=recs.expected_return,
        is_pension=recs.is_pension,
        dual_recording=recs.dual_recording,
        channel=ibis.ifelse(recs.dual_recording, "branch", "any"),
        reasons=reasons,
        rules_passed=rules,
    )


def reasons_value(
    asset_class: str | None,
    gap_amount: float,
    popularity_share: float,
    product_risk: str | None,
    assessed_risk_level: str | None,
    dual_recording: bool,
) -> str:
    """The reasons ``worded`` gives one pick, in Python (a card's few picks)."""
    pct = fmt_int_value(popularity_share * 100)
    risk = (
        f"产品风险{product_risk}不高于客户风险等级{assessed_risk_level}"
        if assessed_risk_level is not None
        else _UNASSESSED
    )
    return "".join(
        (
            "补足",
            CLASS_ZH.get(asset_class or "", ""),
            "配置缺口约",
            fmt_1_value(gap_amount / 10_000),
            "万元；",
            "" if pct == "0" else f"同类客户中{pct}%持有；",
            risk,
            _DUAL if dual_recording else "",
        )
    )


def rules_value(assessed: bool, closed: bool | None, is_pension: bool | None) -> str:
    """The rules ``worded`` says one pick passed, in Python."""
    return "".join(
        (
            _RULES[0],
            _RULES[1] if assessed else _RULES[2],
            _RULES[3] if closed else "",
            _RULES[4] if is_pension else "",
            _RULES[5],
        )
    )


@cache
def recommendations_view() -> str:
    """The SQL of the run file's ``recommendations`` view (``worded``), naming
    the run's two tables unqualified: it is bound in the file it lives in,
    whatever name the file is attached under. (A temporary table of the same
    name in the reader's session would be read instead: none is ever made.)"""
    view = worded(ibis.table(PICKS_SCHEMA, name=PICKS), ibis.table(PRODUCTS_SCHEMA, name=PRODUCTS))
    return str(ibis.to_sql(view, dialect="duckdb"))
