"""The playbook's expressions evaluated in Python, one row at a time, with SQL's
rules for NULL: the real-time path uses the very rules the batch compiles to
SQL, and a property test holds the two to the same answers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlglot import exp

from kequn.playbook.expr import Expression

Row = Mapping[str, Any]


def evaluate(expr: Expression, row: Row) -> Any:
    return _eval(expr.tree, row)


def holds(expr: Expression, row: Row) -> bool:
    """True only when the predicate is true (NULL counts as false, as in batch)."""
    return _eval(expr.tree, row) is True


def _literal(node: exp.Literal) -> Any:
    if node.is_string:
        return node.this
    text = node.this
    return float(text) if any(c in text for c in ".eE") else int(text)


def _cmp(op: type[exp.Expr], a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    if op is exp.EQ:
        return bool(a == b)
    if op is exp.NEQ:
        return bool(a != b)
    if op is exp.LT:
        return bool(a < b)
    if op is exp.LTE:
        return bool(a <= b)
    if op is exp.GT:
        return bool(a > b)
    return bool(a >= b)


def _arith(op: type[exp.Expr], a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if op is exp.Add:
        return a + b
    if op is exp.Sub:
        return a - b
    if op is exp.Mul:
        return a * b
    if b == 0:
        return None  # division by zero is NULL in DuckDB and Spark alike
    if op is exp.Div:
        return a / b
    return math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else int(math.fmod(a, b))


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _round_half_away(x: float, digits: int) -> float:
    scale = 10**digits
    return math.copysign(math.floor(abs(x) * scale + 0.5) / scale, x)


_UNARY: dict[type[exp.Expr], Callable[[Any], Any]] = {
    exp.Abs: abs,
    exp.Lower: str.lower,
    exp.Upper: str.upper,
    exp.Length: len,
    exp.Floor: math.floor,
    exp.Ceil: math.ceil,
}


def _eval(node: exp.Expr, row: Row) -> Any:
    if isinstance(node, exp.Paren):
        return _eval(node.this, row)
    if isinstance(node, exp.Column):
        return row.get(node.name)
    if isinstance(node, exp.Literal):
        return _literal(node)
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.And):
        a, b = _eval(node.left, row), _eval(node.right, row)
        if a is False or b is False:
            return False
        return None if a is None or b is None else True
    if isinstance(node, exp.Or):
        a, b = _eval(node.left, row), _eval(node.right, row)
        if a is True or b is True:
            return True
        return None if a is None or b is None else False
    if isinstance(node, exp.Not):
        inner = node.this
        if isinstance(inner, exp.Is):
            return _eval(inner.this, row) is not None
        v = _eval(inner, row)
        return None if v is None else not v
    if isinstance(node, exp.Is):
        return _eval(node.this, row) is None
    if isinstance(node, (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)):
        return _cmp(type(node), _eval(node.left, row), _eval(node.right, row))
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
        return _arith(type(node), _eval(node.left, row), _eval(node.right, row))
    if isinstance(node, exp.Neg):
        v = _eval(node.this, row)
        return None if v is None else -v
    if isinstance(node, exp.In):
        v = _eval(node.this, row)
        if v is None:
            return None
        options = [_eval(e, row) for e in node.expressions]
        if any(o == v for o in options if o is not None):
            return True
        return None if any(o is None for o in options) else False
    if isinstance(node, exp.Between):
        v = _eval(node.this, row)
        lo, hi = _eval(node.args["low"], row), _eval(node.args["high"], row)
        return _and3(_cmp(exp.GTE, v, lo), _cmp(exp.LTE, v, hi))
    if isinstance(node, exp.Like):
        v, p = _eval(node.this, row), _eval(node.expression, row)
        return None if v is None or p is None else _like(v, p)
    if isinstance(node, exp.If):
        cond = _eval(node.this, row)
        return (
            _eval(node.args["true"], row)
            if cond is True
            else (_eval(node.args["false"], row) if node.args.get("false") else None)
        )
    if isinstance(node, exp.Case):
        for when in node.args["ifs"]:
            if _eval(when.this, row) is True:
                return _eval(when.args["true"], row)
        default = node.args.get("default")
        return _eval(default, row) if default else None
    if isinstance(node, exp.Coalesce):
        for e in (node.this, *node.expressions):
            v = _eval(e, row)
            if v is not None:
                return v
        return None
    if isinstance(node, (exp.Least, exp.Greatest)):
        values = [v for v in (_eval(e, row) for e in (node.this, *node.expressions)) if v is not None]
        if not values:
            return None
        return min(values) if isinstance(node, exp.Least) else max(values)
    if isinstance(node, (exp.Abs, exp.Lower, exp.Upper, exp.Length, exp.Floor, exp.Ceil)):
        v = _eval(node.this, row)
        if v is None:
            return None
        return _UNARY[type(node)](v)
    if isinstance(node, exp.Round):
        v = _eval(node.this, row)
        digits = node.args.get("decimals")
        return None if v is None else _round_half_away(v, int(digits.this) if digits else 0)
    if isinstance(node, (exp.Contains, exp.ArrayContains)):
        target, needle = _eval(node.this, row), _eval(node.expression, row)
        if target is None or needle is None:
            return False
        return needle in target
    if isinstance(node, exp.StartsWith):
        v, p = _eval(node.this, row), _eval(node.expression, row)
        return None if v is None or p is None else v.startswith(p)
    raise ValueError(f"cannot evaluate {node.sql()!r}")


def _and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True
