"""The scalar half of the row engine (``kequn.rules.rows``): each Ibis value
expression compiled once into nested closures over an environment (relation
-> current row), with SQL's rules for NULL. The relations that feed them
(projections, filters, joins, aggregations, windows) are ``rows``'s."""

from __future__ import annotations

import math
import operator
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import ibis.expr.datatypes as dt
import ibis.expr.operations as ops

Row = dict[str, Any]
Env = dict[Any, Any]
Fn = Callable[[Env], Any]
#: an environment's keys besides its relations' slots: the row's position in its
#: relation, the window functions' values, and the rows of an aggregation's group
ROW_KEY, WINDOWS_KEY, GROUP_KEY = "__row__", "__windows__", "__group__"


class Unsupported(NotImplementedError):
    """An operation the row engine does not know: add it, with a test."""


def _round_half_away(x: float, digits: int = 0) -> float:
    scale = 10**digits
    return math.copysign(math.floor(abs(x) * scale + 0.5), x) / scale


def _cast(value: Any, to: dt.DataType) -> Any:
    if value is None:
        return None
    if to.is_integer():
        if isinstance(value, bool):
            return int(value)
        return int(_round_half_away(float(value))) if isinstance(value, float) else int(value)
    if to.is_floating():
        return float(value)
    if to.is_boolean():
        return bool(value)
    if to.is_string():
        return value if isinstance(value, str) else str(value)
    if to.is_decimal():
        return Decimal(str(value))
    return value


def _literal(op: ops.Literal) -> Any:
    value = op.value
    if op.dtype.is_interval():
        unit = op.dtype.unit.short
        seconds = {"D": 86400, "h": 3600, "m": 60, "s": 1, "W": 7 * 86400}.get(unit)
        if seconds is None:
            raise Unsupported(f"interval unit {unit}")
        return timedelta(seconds=seconds * value)
    if isinstance(value, frozenset | tuple) and op.dtype.is_array():
        return list(value)
    return value


def _compare(f: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def cmp(a: Any, b: Any) -> Any:
        return None if a is None or b is None else f(a, b)

    return cmp


def _arith(f: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def go(a: Any, b: Any) -> Any:
        return None if a is None or b is None else f(a, b)

    return go


def _divide(a: Any, b: Any) -> Any:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _modulus(a: Any, b: Any) -> Any:
    if a is None or b is None or b == 0:
        return None
    r = math.fmod(a, b)  # SQL's remainder takes the dividend's sign
    return int(r) if isinstance(a, int) and isinstance(b, int) else r


def _and(a: Any, b: Any) -> Any:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a: Any, b: Any) -> Any:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ops.Equals: _compare(operator.eq),
    ops.NotEquals: _compare(operator.ne),
    ops.Less: _compare(operator.lt),
    ops.LessEqual: _compare(operator.le),
    ops.Greater: _compare(operator.gt),
    ops.GreaterEqual: _compare(operator.ge),
    ops.Add: _arith(operator.add),
    ops.Subtract: _arith(operator.sub),
    ops.Multiply: _arith(operator.mul),
    ops.Divide: _divide,
    ops.Modulus: _modulus,
    ops.Power: _arith(operator.pow),
    ops.TimestampAdd: _arith(operator.add),
    ops.TimestampSub: _arith(operator.sub),
    ops.DateAdd: _arith(operator.add),
    ops.DateSub: _arith(operator.sub),
    ops.StringContains: _arith(lambda a, b: b in a),
    ops.StartsWith: _arith(lambda a, b: a.startswith(b)),
    ops.EndsWith: _arith(lambda a, b: a.endswith(b)),
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ops.Negate: operator.neg,
    ops.Abs: abs,
    ops.Floor: lambda x: float(math.floor(x)),
    ops.Ceil: lambda x: float(math.ceil(x)),
    ops.Sqrt: math.sqrt,
    ops.Lowercase: str.lower,
    ops.Uppercase: str.upper,
    ops.StringLength: len,
    ops.ArrayLength: len,
    ops.ExtractYear: lambda d: d.year,
    ops.ExtractMonth: lambda d: d.month,
    ops.ExtractDay: lambda d: d.day,
}


_SCALARS: dict[ops.Node, Fn] = {}


def scalar(op: ops.Value) -> Fn:
    """``op`` compiled to a function of the environment (relation -> row), once."""
    found = _SCALARS.get(op)
    if found is None:
        found = _compile(op)
        _SCALARS[op] = found
    return found


_SLOTS: dict[ops.Node, int] = {}
_SLOTS_GIVEN = threading.Lock()


def slot(node: ops.Node) -> int:
    """A relation's (or a window's) key in an environment: a small number given
    once per node. Keyed by the node itself, every field read hashed an Ibis
    node in Python, a third of an event's rules. Given under a lock: the web
    server's threads compile at once, and two nodes with one number would read
    each other's rows."""
    found = _SLOTS.get(node)
    if found is None:
        with _SLOTS_GIVEN:
            found = _SLOTS.get(node)
            if found is None:
                found = _SLOTS[node] = len(_SLOTS)
    return found


def _compile(op: ops.Value) -> Fn:
    if isinstance(op, ops.Field):
        rel, name = slot(op.rel), op.name

        def field(env: Env) -> Any:
            row = env.get(rel)
            return None if row is None else row.get(name)

        return field
    if isinstance(op, ops.Literal):
        value = _literal(op)
        return lambda env: value
    if isinstance(op, ops.Argument):
        key = ("arg", op.name)
        return lambda env: env[key]
    if type(op) in _BINARY:
        f, left, right = _BINARY[type(op)], scalar(op.left), scalar(op.right)
        return lambda env: f(left(env), right(env))
    if type(op) in _UNARY:
        g, arg = _UNARY[type(op)], scalar(op.arg)

        def unary(env: Env) -> Any:
            v = arg(env)
            return None if v is None else g(v)

        return unary
    if isinstance(op, ops.And):
        left, right = scalar(op.left), scalar(op.right)
        return lambda env: _and(left(env), right(env))
    if isinstance(op, ops.Or):
        left, right = scalar(op.left), scalar(op.right)
        return lambda env: _or(left(env), right(env))
    if isinstance(op, ops.Not):
        arg = scalar(op.arg)

        def negate(env: Env) -> Any:
            v = arg(env)
            return None if v is None else not v

        return negate
    if isinstance(op, ops.IsNull):
        arg = scalar(op.arg)
        return lambda env: arg(env) is None
    if isinstance(op, ops.NotNull):
        arg = scalar(op.arg)
        return lambda env: arg(env) is not None
    if isinstance(op, ops.Cast):
        arg, to = scalar(op.arg), op.to
        return lambda env: _cast(arg(env), to)
    if isinstance(op, ops.Coalesce):
        args = [scalar(a) for a in op.arg]

        def coalesce(env: Env) -> Any:
            for a in args:
                v = a(env)
                if v is not None:
                    return v
            return None

        return coalesce
    if isinstance(op, ops.Greatest | ops.Least):
        args, pick = [scalar(a) for a in op.arg], (max if isinstance(op, ops.Greatest) else min)

        def extreme(env: Env) -> Any:
            found = [v for v in (a(env) for a in args) if v is not None]  # NULLs are skipped
            return pick(found) if found else None

        return extreme
    if isinstance(op, ops.SearchedCase):
        branches = [(scalar(c), scalar(r)) for c, r in zip(op.cases, op.results, strict=True)]
        default = scalar(op.default)

        def case(env: Env) -> Any:
            for when, then in branches:
                if when(env) is True:
                    return then(env)
            return default(env)

        return case
    if isinstance(op, ops.SimpleCase):
        base = scalar(op.base)
        branches = [(scalar(c), scalar(r)) for c, r in zip(op.cases, op.results, strict=True)]
        default = scalar(op.default)

        def simple(env: Env) -> Any:
            b = base(env)
            for when, then in branches:
                if b is not None and b == when(env):
                    return then(env)
            return default(env)

        return simple
    if isinstance(op, ops.IfElse):
        cond, yes, no = scalar(op.bool_expr), scalar(op.true_expr), scalar(op.false_null_expr)
        return lambda env: yes(env) if cond(env) is True else no(env)
    if isinstance(op, ops.InValues):
        value, options = scalar(op.value), [scalar(o) for o in op.options]

        def inside(env: Env) -> Any:
            v = value(env)
            if v is None:
                return None
            found = [o(env) for o in options]
            if v in found:
                return True
            return None if None in found else False

        return inside
    if isinstance(op, ops.Between):
        arg, low, high = scalar(op.arg), scalar(op.lower_bound), scalar(op.upper_bound)

        def between(env: Env) -> Any:
            v, lo, hi = arg(env), low(env), high(env)
            return None if v is None or lo is None or hi is None else lo <= v <= hi

        return between
    if isinstance(op, ops.Round):
        arg, digits = scalar(op.arg), (scalar(op.digits) if op.digits is not None else (lambda env: 0))

        def rounding(env: Env) -> Any:
            v, d = arg(env), digits(env)
            return None if v is None or d is None else _round_half_away(float(v), int(d))

        return rounding
    if isinstance(op, ops.StringSQLLike):
        arg, pattern = scalar(op.arg), scalar(op.pattern)
        return lambda env: _arith(_like)(arg(env), pattern(env))
    if isinstance(op, ops.DateDelta):
        if op.part.value != "day":
            raise Unsupported(f"date difference in {op.part.value}")
        left, right = scalar(op.left), scalar(op.right)
        return lambda env: _arith(lambda a, b: (a - b).days)(left(env), right(env))
    if isinstance(op, ops.Array):
        items = [scalar(e) for e in op.exprs]
        return lambda env: [i(env) for i in items]
    if isinstance(op, ops.ArrayContains):
        arr, other = scalar(op.arg), scalar(op.other)

        def contains(env: Env) -> Any:
            a, x = arr(env), other(env)
            return None if a is None or x is None else x in a

        return contains
    if isinstance(op, ops.ArrayFilter):
        param = op.param.name if isinstance(op.param, ops.Argument) else op.param
        arr, body, key = scalar(op.arg), scalar(op.body), ("arg", param)

        def keep(env: Env) -> Any:
            a = arr(env)
            if a is None:
                return None
            out = []
            for x in a:
                env[key] = x
                if body(env) is True:
                    out.append(x)
            return out

        return keep
    if isinstance(op, ops.WindowFunction):
        window = slot(op)
        return lambda env: env[WINDOWS_KEY][window][env[ROW_KEY]]
    if isinstance(op, ops.Max | ops.Min | ops.Sum | ops.CountStar | ops.Count):
        return _reduction(op)
    raise Unsupported(f"the row engine cannot evaluate {type(op).__name__}")


def _reduction(op: ops.Reduction) -> Fn:
    arg = scalar(op.arg) if not isinstance(op, ops.CountStar) else None
    where = scalar(op.where) if op.where is not None else None

    def reduce(env: Env) -> Any:
        rows = env[GROUP_KEY]
        if where is not None:
            rows = [r for r in rows if where(r) is True]
        if isinstance(op, ops.CountStar):
            return len(rows)
        assert arg is not None
        values = [v for v in (arg(r) for r in rows) if v is not None]
        if isinstance(op, ops.Count):
            return len(values)
        if not values:
            return None
        if isinstance(op, ops.Max):
            return max(values)
        if isinstance(op, ops.Min):
            return min(values)
        return sum(values)

    return reduce
