"""What the pipeline reads: the snapshot's tables (and the previous run's
profiles), as Ibis tables of whichever engine runs it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import ibis
import ibis.expr.types as ir

from kequn.playbook import LoadedPlaybook


@dataclass(frozen=True)
class Inputs:
    as_of: date
    customers: ir.Table
    products: ir.Table
    holdings: ir.Table
    transactions: ir.Table
    employers: ir.Table
    #: the model portfolios (risk level x life stage -> target weights), as a
    #: table of the engine; see ``health.portfolio_rows``
    portfolio_targets: ir.Table | None = None
    #: the profiles of the latest run on an earlier snapshot, if any
    previous: ir.Table | None = None


RATE = "decimal(28, 8)"  # the same precision as amounts: Ibis types the product then


def fx_rate(currency: ir.StringValue, playbook: LoadedPlaybook) -> ir.DecimalValue:
    """CNY per unit of ``currency`` (CNY when the column is empty), as an exact
    decimal: money is summed exactly, so every engine gets the same totals."""
    cur = currency.fill_null("CNY")
    return ibis.cases(*((cur == code, ibis.literal(Decimal(str(rate)), type=RATE))
                        for code, rate in playbook.playbook.fx.items()),
                      else_=ibis.null(RATE))


def cny(amount: ir.NumericValue, currency: ir.StringValue,
        playbook: LoadedPlaybook) -> ir.DecimalValue:
    # wide enough that a hundred-million balance times an 8-decimal rate cannot overflow
    return amount.cast("decimal(28, 2)") * fx_rate(currency, playbook)


def as_float(value: ir.Value) -> ir.FloatingValue:
    return value.cast("float64")


def days_between(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    return later.delta(earlier, unit="day").cast("int64")


def as_of_literal(inputs: Inputs) -> ir.DateScalar:
    return ibis.date(inputs.as_of.year, inputs.as_of.month, inputs.as_of.day)


def fround(x: ir.NumericValue, digits: int) -> ir.FloatingValue:
    """Round half up, by the same float operations on every engine (their own
    round() functions disagree on values a hair from a tie)."""
    scale = 10**digits
    return ((x.cast("float64") * scale + 0.5).floor() / scale).cast("float64")
