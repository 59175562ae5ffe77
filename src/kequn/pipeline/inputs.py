"""What the pipeline reads: the snapshot's tables (and the previous run's
profiles), as Ibis tables of whichever engine runs it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import ibis
import ibis.expr.types as ir

from kequn.pipeline.today import Today
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
    #: how the expressions read the day (default: ``as_of`` as literals)
    today: Today | None = None


class Materialize(Protocol):
    """How the engine keeps an intermediate result (``name``) that later steps
    read, and lets go of kept results no later step reads (``frees``): kept
    tables live in the run's memory (but an output of the run, which DuckDB
    keeps in the run's own file: ``DuckDBEngine.publish_into``)."""

    def __call__(self, name: str, expr: ir.Table, frees: tuple[str, ...] = ()) -> ir.Table: ...


#: Money inside the pipeline: whole millionths of a yuan, as 64-bit integers.
#: Exact (fen times an FX rate of 4 decimals), the same on every engine, and
#: summed several times faster than decimals.
UNITS = 1_000_000


def fx_e4(currency: ir.StringValue, playbook: LoadedPlaybook) -> ir.IntegerValue:
    """Ten-thousandths of a yuan per unit of ``currency`` (CNY when empty)."""
    cur = currency.fill_null("CNY")
    return ibis.cases(
        *((cur == code, round(rate * 10_000)) for code, rate in playbook.playbook.fx.items()),
        else_=ibis.null("int64"),
    ).cast("int64")


def fx_rate(currency: ir.StringValue, playbook: LoadedPlaybook) -> ir.FloatingValue:
    return fx_e4(currency, playbook) / 10_000


def money_units(
    amount: ir.NumericValue, currency: ir.StringValue, playbook: LoadedPlaybook
) -> ir.IntegerValue:
    fen = (amount * 100).cast("int64")
    return fen * fx_e4(currency, playbook)


def units_to_fen(units: ir.NumericValue) -> ir.IntegerValue:
    """Round half up to the fen (exact while below 2^53 units, 9 billion yuan)."""
    return (units / 10_000.0 + 0.5).floor().cast("int64")


def fen_to_money(fen: ir.IntegerValue) -> ir.DecimalValue:
    # fen / 100 as a double is within a hair of the 2-decimal value, so the
    # cast lands exactly on it, on every engine
    return (fen / 100.0).cast("decimal(18, 2)")


def units_to_money(units: ir.NumericValue) -> ir.DecimalValue:
    return fen_to_money(units_to_fen(units))


def as_float(value: ir.Value) -> ir.FloatingValue:
    return value.cast("float64")


def days_between(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    return later.delta(earlier, unit="day").cast("int64")


def fround(x: ir.NumericValue, digits: int) -> ir.FloatingValue:
    """Round half up, by the same float operations on every engine (their own
    round() functions disagree on values a hair from a tie)."""
    scale = 10**digits
    return ((x.cast("float64") * scale + 0.5).floor() / scale).cast("float64")


def fround_value(x: float, digits: int) -> float:
    """``fround`` of one value in Python, by the same float operations: what a
    card computes from a run's counts reads as the run would have computed it."""
    scale = 10**digits
    return math.floor(float(x) * scale + 0.5) / scale
