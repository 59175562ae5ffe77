"""Investor suitability as the regulation states it (DOMAIN.md §7), written
plainly for the tests to hold the code against. The code's one definition is
``kequn.rules.suitability``; this is not a copy of it, it is the requirement."""

from __future__ import annotations

from kequn.playbook.model import Suitability

FIRST_PURCHASE_TYPES = {"wealth_product", "fund", "trust"}


def violations(
    age: int,
    level: int,
    assessment_valid: bool,
    reserve_months: float,
    product_type: str,
    product_risk: int,
    closed: bool,
    pension: bool,
    term_days: int | None,
    on_sale: bool,
    s: Suitability,
) -> list[str]:
    """Every requirement offering the product to the customer would fail."""
    out = []
    if not on_sale:
        out.append("a product no longer sold")
    risky = product_type in s.risk_product_types or product_risk >= 2
    if assessment_valid and product_risk > level:
        out.append(f"R{product_risk} above C{level}")
    if not assessment_valid and risky:
        out.append("a risk product without a valid assessment")
    if closed and reserve_months < s.closed_min_reserve_months:
        out.append("a lock-up without the reserve")
    if pension and (
        (term_days or 0) < s.pension_min_term_days or age < s.pension_min_age or not assessment_valid
    ):
        out.append("pension rules")
    if product_type == "individual_pension" and age >= s.individual_pension_until_age:
        out.append("individual pension past paying in")
    return out


def needs_dual_recording(
    age: int, first_time: bool, product_type: str, product_risk: int, s: Suitability
) -> bool:
    return (age >= s.dual_recording_age and product_risk >= s.dual_recording_min_risk) or (
        first_time and product_type in FIRST_PURCHASE_TYPES
    )
