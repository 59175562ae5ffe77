"""Suitability (适当性) as pure functions: a customer, a product, the playbook's
parameters in; the rules broken out. No score overrides them: a product that
breaks one is never recommended, and the pipeline's own filters are tested
against these functions."""

from __future__ import annotations

from dataclasses import dataclass

from kequn.playbook.model import Suitability

INVESTMENT_TYPES = frozenset({"wealth_product", "fund", "trust"})


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    age: int
    risk_level_num: int  # 0: never assessed
    risk_valid: bool
    liquid_reserve_months: float
    first_time_investor: bool


@dataclass(frozen=True, slots=True)
class ProductFacts:
    type: str
    risk_num: int  # 1..5
    liquidity: str  # T0, T1, closed
    is_pension: bool
    term_days: int | None
    on_sale: bool


def is_risk_product(p: ProductFacts, s: Suitability) -> bool:
    return p.type in s.risk_product_types or p.risk_num >= 2


def broken_rules(c: CustomerFacts, p: ProductFacts, s: Suitability) -> list[str]:
    """Names of the rules offering ``p`` to ``c`` would break (empty: suitable)."""
    broken = []
    if not p.on_sale:
        broken.append("on_sale")
    if c.risk_valid:
        if p.risk_num > c.risk_level_num:
            broken.append("risk_within_tolerance")
    elif is_risk_product(p, s):
        broken.append("valid_assessment")
    if p.liquidity == "closed" and c.liquid_reserve_months < s.closed_min_reserve_months:
        broken.append("reserve_before_lockup")
    if p.is_pension and (
        (p.term_days or 0) < s.pension_min_term_days or c.age < s.pension_min_age or not c.risk_valid
    ):
        broken.append("pension_rules")
    return broken


def needs_dual_recording(c: CustomerFacts, p: ProductFacts, s: Suitability) -> bool:
    """双录: 65+ buying R3 or above, or a first wealth-product purchase."""
    return (c.age >= s.dual_recording_age and p.risk_num >= s.dual_recording_min_risk) or (
        c.first_time_investor and p.type in INVESTMENT_TYPES
    )
