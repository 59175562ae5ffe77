"""Talk tracks (话术) and visit material, filled from the customer's profile, the
product offered and the manager. Pension products are never presented with an
expected return: their {product_return} is always empty."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kequn.pipeline.texts import CLASS_ZH
from kequn.playbook import LoadedPlaybook

_FIELD = re.compile(r"\{([a-z_0-9]+)\}")

#: the profile's columns ``values`` reads: what a task's talk track is filled from
TALK_FACTS = (
    "tier",
    "aum_month_end",
    "next_tier_gap",
    "maturing_7d_amount",
    "next_maturity_days",
    "same_name_out",
    "same_name_out_7d",
    "gap_class",
    "days_to_payday",
    "fund_return",
    "risk_expires_in_days",
    "health_change",
    "health_score",
)


def _wan(x: Any) -> str:
    return "—" if x is None else f"{float(x) / 10_000:.1f}"


def _days(x: Any) -> str:
    """A count of days as said (0 is today); "—" where it is not known."""
    return "—" if x is None else str(x)


def _amount(x: Any) -> str:
    """An amount as a manager says it: 3,200元 below a 万, 5.6万元 above."""
    if x is None:
        return "—"
    value = float(x)
    if abs(value) < 10_000:
        return f"{value:,.0f}元"
    return f"{value / 10_000:.1f}".rstrip("0").rstrip(".") + "万元"


def _when(days: Any) -> str:
    if days is None:
        return "—"
    return {0: "今天", 1: "明天", 2: "后天"}.get(int(days), f"{int(days)}天后")


def _term(days: Any) -> str:
    if not days:
        return "灵活申赎"
    days = int(days)
    if days % 365 == 0 or days in (1095, 1825, 3650):
        return f"{round(days / 365)}年"
    if days >= 28:
        return f"{round(days / 30)}个月"
    return f"{days}天"


def honorific(name: str | None, gender: str | None) -> str:
    if not isinstance(name, str) or not name:  # erased (NULL, NaN in a frame) or never known
        return "您"
    return name[0] + ("先生" if gender == "M" else "女士")


def values(
    facts: Mapping[str, Any],
    customer_name: str | None,
    gender: str | None,
    manager: str | None,
    product: Mapping[str, Any] | None,
    pb: LoadedPlaybook,
) -> dict[str, str]:
    ladder = [t for t in pb.playbook.tiers.ladder]
    tier_zh = {t.name: t.zh for t in ladder}
    names = [t.name for t in ladder]
    tier = facts.get("tier")
    above = names[names.index(tier) - 1] if tier in names and names.index(tier) > 0 else None
    expires = facts.get("risk_expires_in_days")
    product = product or {}
    pension = bool(product.get("is_pension"))
    ret = product.get("expected_return")
    fund_return = facts.get("fund_return")
    health_change = facts.get("health_change")
    outflow = max(float(facts.get("same_name_out") or 0), float(facts.get("same_name_out_7d") or 0))
    return {
        "name": honorific(customer_name, gender),
        "manager": manager or "您的客户经理",
        "tier_zh": tier_zh.get(tier or "", tier or ""),
        "next_tier_zh": tier_zh.get(above, "") if above else "",
        "next_tier_gap_wan": _wan(facts.get("next_tier_gap")),
        "aum_wan": _wan(facts.get("aum_month_end")),
        "maturing_wan": _wan(facts.get("maturing_7d_amount")),
        "maturing_amount": _amount(facts.get("maturing_7d_amount")),
        "aum_amount": _amount(facts.get("aum_month_end")),
        "next_tier_gap_amount": _amount(facts.get("next_tier_gap")),
        # a holding maturing today has 0 days left, not an unknown number
        "maturity_days": _days(facts.get("next_maturity_days")),
        "outflow_wan": _wan(outflow),
        "outflow_amount": _amount(outflow),
        "product_name": product.get("product_name") or "适合您的产品",
        # pension products never carry an expected return in what a manager says
        "product_return": "" if pension or ret is None else f"（业绩比较基准{float(ret) * 100:.2f}%）",
        "product_term": _term(product.get("term_days")),
        "gap_class": CLASS_ZH.get(facts.get("gap_class") or "", "—"),
        "payday_when": _when(facts.get("days_to_payday")),
        "days_to_payday": _days(facts.get("days_to_payday")),
        "fund_return_pct": "—" if fund_return is None else f"{float(fund_return) * 100:.1f}",
        # an assessment holds while a day or more of it is left (the profile's
        # risk_valid): with 0 days left it has lapsed
        "expires_in": ("已过期" if expires is None or expires <= 0 else f"将于{expires}天后到期"),
        "health_drop": "—" if health_change is None else f"{abs(float(health_change)):.1f}",
        "health_score": f"{float(facts.get('health_score') or 0):.1f}",
    }


def render(template: str, vals: Mapping[str, str]) -> str:
    return _FIELD.sub(lambda m: vals.get(m.group(1), ""), template)
