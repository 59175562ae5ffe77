"""Suitability (适当性), never overridden by a score (DOMAIN.md §7).

Each rule is an Ibis expression over a customer's and a product's columns,
whatever table they come from: the pipeline filters recommendation candidates
with them, the funnel's ``suitable`` stage drops any pair whose product breaks
one (with the rule's code), and a real-time event runs the same compiled SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from kequn.playbook.model import Suitability

#: products a first-time buyer must buy in the branch, with dual recording
INVESTMENT_TYPES = ("wealth_product", "fund", "trust")
#: the individual pension account's product type (个人养老金)
INDIVIDUAL_PENSION = "individual_pension"
#: the rules in the order a broken one is reported
ORDER = ("on_sale", "risk_within_tolerance", "valid_assessment", "reserve_before_lockup", "pension_rules")


@dataclass(frozen=True)
class CustomerSide:
    """A customer's facts as columns: ``risk_num`` 1–5 (0 never assessed),
    ``valid`` the assessment valid on the day, ``reserve_ok`` (``reserve_ok``
    of their liquid reserve), ``pension_age_ok`` and ``pension_paying_in``
    (of their age). Whole customers or buckets of alike ones both fit."""

    risk_num: ir.IntegerValue
    valid: ir.BooleanValue
    reserve_ok: ir.BooleanValue
    pension_age_ok: ir.BooleanValue
    pension_paying_in: ir.BooleanValue


@dataclass(frozen=True)
class ProductSide:
    """A product's facts as columns: ``risk_num`` 1–5 (R1–R5), ``type``,
    ``closed`` (a lock-up), ``is_pension``, ``term_days``, ``on_sale``."""

    risk_num: ir.IntegerValue
    type: ir.StringValue
    closed: ir.BooleanValue
    is_pension: ir.BooleanValue
    term_days: ir.IntegerValue
    on_sale: ir.BooleanValue


def risk_num(level: ir.StringValue) -> ir.IntegerValue:
    """C1–C5 or R1–R5 as 1–5; 0 for none."""
    return ibis.cases(*((level.isin([f"C{i}", f"R{i}"]), i) for i in range(1, 6)), else_=0).cast("int64")


def assessment_valid(
    level: ir.StringValue, assessed_on: ir.DateValue, day: ir.DateValue, s: Suitability
) -> ir.BooleanValue:
    """A risk assessment counts for ``assessment_valid_days`` after the day it was made."""
    age_days = day.delta(assessed_on, unit="day")
    return (
        (risk_num(level) > 0) & assessed_on.notnull() & (age_days < s.assessment_valid_days).fill_null(False)
    )


def is_risk_product(p: ProductSide, s: Suitability) -> ir.BooleanValue:
    return p.type.isin(list(s.risk_product_types)) | (p.risk_num >= 2)


def reserve_ok(reserve_months: ir.FloatingValue, s: Suitability) -> ir.BooleanValue:
    """Liquid assets cover the months of spending a lock-up needs."""
    return (reserve_months >= s.closed_min_reserve_months).fill_null(False)


def pension_age_ok(age: ir.IntegerValue, s: Suitability) -> ir.BooleanValue:
    return (age >= s.pension_min_age).fill_null(False)


def pension_paying_in(age: ir.IntegerValue, s: Suitability) -> ir.BooleanValue:
    """Young enough to pay into an individual pension account (个人养老金): it is
    paid into until the basic pension is drawn (a retiree of 71 was offered a
    ten-year 个人养老金储蓄)."""
    return (age < s.individual_pension_until_age).fill_null(False)


def broken(c: CustomerSide, p: ProductSide, s: Suitability) -> ir.StringValue:
    """The first rule offering ``p`` to ``c`` would break (NULL: suitable)."""
    term = p.term_days.fill_null(0)
    return ibis.cases(
        (~p.on_sale.fill_null(True), "on_sale"),
        (c.valid & (p.risk_num > c.risk_num), "risk_within_tolerance"),
        (~c.valid & is_risk_product(p, s), "valid_assessment"),
        (p.closed.fill_null(False) & ~c.reserve_ok, "reserve_before_lockup"),
        (
            p.is_pension.fill_null(False) & ((term < s.pension_min_term_days) | ~c.pension_age_ok | ~c.valid),
            "pension_rules",
        ),
        ((p.type == INDIVIDUAL_PENSION) & ~c.pension_paying_in, "pension_rules"),
        else_=ibis.null("string"),
    )


def suitable(c: CustomerSide, p: ProductSide, s: Suitability) -> ir.BooleanValue:
    return broken(c, p, s).isnull()


def dual_recording(
    age: ir.IntegerValue, first_time_investor: ir.BooleanValue, p: ProductSide, s: Suitability
) -> ir.BooleanValue:
    """双录: 65 or older buying R3 or above, or a first wealth-product purchase —
    sold in the branch, on record."""
    return ((age >= s.dual_recording_age).fill_null(False) & (p.risk_num >= s.dual_recording_min_risk)) | (
        first_time_investor.fill_null(False) & p.type.isin(list(INVESTMENT_TYPES))
    )


def above_tolerance(c: CustomerSide, p: ProductSide, s: Suitability) -> ir.BooleanValue:
    """A holding the customer should not have been sold today: its risk is above
    their level, or it is a risk product held without a valid assessment (the
    health score's risk-match component counts these)."""
    return (c.valid & (p.risk_num > c.risk_num)) | (~c.valid & is_risk_product(p, s))
