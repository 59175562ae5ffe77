"""Plain-language texts the run writes (a recommendation's reasons), as Ibis
string expressions: the same text on every engine."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import cache
from typing import Any

import ibis
import ibis.expr.types as ir

from kequn.contract.tables import ASSET_CLASS_ZH
from kequn.playbook.model import ASSET_CLASSES

#: the allocation's classes as a banker names them
CLASS_ZH = {c: ASSET_CLASS_ZH[c] for c in ASSET_CLASSES}


def fmt_int(x: ir.NumericValue) -> ir.StringValue:
    return x.round(0).cast("int64").cast("string")


def fmt_1(x: ir.NumericValue) -> ir.StringValue:
    """One decimal, the same on every engine (no float-to-text casts)."""
    tenths = (x.abs() * 10).round(0).cast("int64")
    sign = ibis.ifelse(x < 0, "-", "")
    return sign + (tenths // 10).cast("string") + "." + (tenths % 10).cast("string")


def rounded(x: float) -> int:
    """``ROUND(x, 0)`` of a double as the engines round it: half away from zero,
    exactly (a float's whole and fractional parts are split without error, where
    ``floor(x + 0.5)`` would round 0.49999999999999994 up)."""
    whole = math.trunc(x)
    if abs(x - whole) >= 0.5:
        whole += 1 if x > 0 else -1
    return int(whole)


def fmt_int_value(x: float) -> str:
    """``fmt_int`` of one value in Python: the same text."""
    return str(rounded(x))


def fmt_1_value(x: float) -> str:
    """``fmt_1`` of one value in Python: the same text."""
    tenths = rounded(abs(x) * 10)
    return f"{'-' if x < 0 else ''}{tenths // 10}.{tenths % 10}"


@cache
def _concat(n: int) -> Callable[..., ir.StringValue]:
    """The engines' ``concat_ws`` of ``n`` texts, as an Ibis function."""

    def concat_ws(*texts: Any) -> str:  # type: ignore[empty-body]
        ...  # a signature only: the engine has the function

    params = [inspect.Parameter(f"t{i}", inspect.Parameter.POSITIONAL_ONLY, annotation=str) for i in range(n)]
    concat_ws.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    concat_ws.__annotations__ = {**{f"t{i}": str for i in range(n)}, "return": str}
    return ibis.udf.scalar.builtin(concat_ws, name="concat_ws")  # type: ignore[no-any-return]


def joined(parts: list[ir.StringValue]) -> ir.StringValue:
    """``parts`` one after another, none of them NULL, in one call.

    Ibis writes ``a + b + c`` as ``a || b || c``, which DuckDB makes a new
    string for at each ``||``: a finding of eight parts was eight strings made
    for every customer. ``concat_ws`` with no separator makes one (it would
    skip a NULL part where ``||`` gives NULL: every part here is a literal or
    filled)."""
    if len(parts) == 1:
        return parts[0]
    return _concat(len(parts) + 1)(ibis.literal(""), *parts)
