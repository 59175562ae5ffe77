"""The run's day, as the pipeline's expressions see it.

Every date-relative rule (ages, days to a birthday or payday, the window of
transactions) reads the day through a ``Today``. With literals (Spark, and any
one-off compile) the day is written into the SQL; with DuckDB it is read from
session variables set just before the SQL runs, so the SQL of a run is the same
every night and can be compiled once (see ``pipeline.compiled``)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from kequn.core.clock import SHANGHAI

SHANGHAI_TS = dt.Timestamp(timezone="Asia/Shanghai")
#: name -> (the variable's DuckDB type, its Ibis type)
KINDS: dict[str, tuple[str, dt.DataType]] = {
    "as_of": ("DATE", dt.date),
    "year": ("BIGINT", dt.int64),
    "month": ("BIGINT", dt.int64),
    "day": ("BIGINT", dt.int64),
    "month_day": ("BIGINT", dt.int64),
    "next_year": ("BIGINT", dt.int64),
    "days_in_month": ("BIGINT", dt.int64),
    "days_in_next_month": ("BIGINT", dt.int64),
    "window_days": ("BIGINT", dt.int64),
    "window_since": ("TIMESTAMPTZ", SHANGHAI_TS),
    "week_since": ("TIMESTAMPTZ", SHANGHAI_TS),
}
PREFIX = "kequn_today_"


def window_start(as_of: date, months: int) -> date:
    """The first day of the transaction window: ``months`` before ``as_of``
    (a day past the 28th counts as the 28th, so every month has it)."""
    y, m = as_of.year, as_of.month - months
    while m <= 0:
        y, m = y - 1, m + 12
    return date(y, m, min(as_of.day, 28))


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=SHANGHAI)


def calendar_values(as_of: date, window_months: int) -> dict[str, Any]:
    """The day's values, in Python: what the literals hold and the variables are set to."""
    ny, nm = (as_of.year + 1, 1) if as_of.month == 12 else (as_of.year, as_of.month + 1)
    start = window_start(as_of, window_months)
    return {
        "as_of": as_of,
        "year": as_of.year,
        "month": as_of.month,
        "day": as_of.day,
        "month_day": as_of.month * 100 + as_of.day,
        "next_year": as_of.year + 1,
        "days_in_month": calendar.monthrange(as_of.year, as_of.month)[1],
        "days_in_next_month": calendar.monthrange(ny, nm)[1],
        "window_days": (as_of - start).days,
        "window_since": _midnight(start),
        "week_since": _midnight(as_of - timedelta(days=6)),
    }


@ibis.udf.scalar.builtin(name="getvariable")
def _date_variable(name: str) -> dt.date:  # type: ignore[empty-body]
    """DuckDB's getvariable(), typed as a date."""


@ibis.udf.scalar.builtin(name="getvariable")
def _int_variable(name: str) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's getvariable(), typed as a 64-bit integer."""


@ibis.udf.scalar.builtin(name="getvariable")
def _moment_variable(name: str) -> SHANGHAI_TS:  # type: ignore[empty-body,valid-type]
    """DuckDB's getvariable(), typed as a moment in Beijing time."""


_GETTERS = {"DATE": _date_variable, "BIGINT": _int_variable, "TIMESTAMPTZ": _moment_variable}


@dataclass(frozen=True)
class Today:
    as_of: ir.DateScalar
    year: ir.IntegerScalar
    month: ir.IntegerScalar
    day: ir.IntegerScalar
    month_day: ir.IntegerScalar
    next_year: ir.IntegerScalar
    days_in_month: ir.IntegerScalar
    days_in_next_month: ir.IntegerScalar
    window_days: ir.IntegerScalar
    window_since: ir.TimestampScalar
    week_since: ir.TimestampScalar

    @classmethod
    def literals(cls, as_of: date, window_months: int) -> Today:
        values = calendar_values(as_of, window_months)
        return cls(**{k: ibis.literal(v, type=KINDS[k][1]) for k, v in values.items()})

    @classmethod
    def variables(cls) -> Today:
        """Reads the day from DuckDB session variables (``set_variables``)."""
        return cls(
            **{
                # named: an unnamed call would be named after its argument's text
                k: _GETTERS[sql](PREFIX + k).name(PREFIX + k)
                for k, (sql, _) in KINDS.items()
            }
        )


def set_variables(con: Any, as_of: date, window_months: int) -> None:
    """Sets the session variables ``Today.variables()`` reads, on a DuckDB connection."""
    for k, v in calendar_values(as_of, window_months).items():
        con.execute(f"SET VARIABLE {PREFIX}{k} = CAST(? AS {KINDS[k][0]})", [v])
