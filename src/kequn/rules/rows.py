"""Ibis table expressions evaluated over Python rows: the engine for one
customer's event.

The nightly batch compiles the rules (Ibis expressions) to DuckDB or Spark SQL.
An event needs the same rules on a handful of rows within milliseconds, which a
SQL planner cannot give (DuckDB takes some 20 ms to plan the funnel whatever
the data). So this module executes the very same expression trees in Python:
relations (projection, filter, joins, aggregation, windows, unions) over lists
of dicts, and each scalar expression compiled once into nested closures, with
SQL's rules for NULL. It knows the operations Kequn's rules and playbook
expressions use and refuses any other by name; the property tests run every
rule both ways and compare.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir

Row = dict[str, Any]
Env = dict[Any, Any]
Fn = Callable[[Env], Any]
_IDX, _WIN, _GROUP = "__row__", "__windows__", "__group__"


class Unsupported(NotImplementedError):
    """An operation the row engine does not know: add it, with a test."""


def execute(expr: ir.Table, tables: Mapping[str, Sequence[Row]]) -> list[Row]:
    """The rows of ``expr`` over ``tables`` (input name -> rows)."""
    return _Run(tables).relation(expr.op())


# scalars -----------------------------------------------------------------------------------


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
        return lambda env: env[_WIN][window][env[_IDX]]
    if isinstance(op, ops.Max | ops.Min | ops.Sum | ops.CountStar | ops.Count):
        return _reduction(op)
    raise Unsupported(f"the row engine cannot evaluate {type(op).__name__}")


def _reduction(op: ops.Reduction) -> Fn:
    arg = scalar(op.arg) if not isinstance(op, ops.CountStar) else None
    where = scalar(op.where) if op.where is not None else None

    def reduce(env: Env) -> Any:
        rows = env[_GROUP]
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


# relations ---------------------------------------------------------------------------------


_WINDOWS: dict[ops.Node, list[ops.WindowFunction]] = {}


def _windows(op: ops.Value) -> list[ops.WindowFunction]:
    """The window functions within ``op`` (found once per expression)."""
    cached = _WINDOWS.get(op)
    if cached is not None:
        return cached
    found: list[ops.WindowFunction] = []

    def walk(node: Any) -> None:
        if isinstance(node, ops.WindowFunction):
            found.append(node)
            return
        if isinstance(node, ops.Value):
            for a in node.__args__:
                walk(a)
        elif isinstance(node, tuple | list):
            for a in node:
                walk(a)

    walk(op)
    _WINDOWS[op] = found
    return found


def _sort_key(keys: Sequence[ops.SortKey]) -> Callable[[Env], Any]:
    funcs = [(scalar(k.arg), k.ascending, k.nulls_first) for k in keys]

    def compare(a: Env, b: Env) -> int:
        for f, ascending, nulls_first in funcs:
            x, y = f(a), f(b)
            if x == y:
                continue
            if x is None or y is None:
                # NULLs last unless asked first, whichever the direction
                return (-1 if nulls_first else 1) * (1 if x is None else -1)
            out = -1 if x < y else 1
            return out if ascending else -out
        return 0

    return functools.cmp_to_key(compare)


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


# the classes an operation is tested against, as tuples made once: ``A | B`` of
# Ibis's node classes builds a new typing union at every test, which cost an
# event's rules a sixth of their time
_TABLES = (ops.DatabaseTable, ops.UnboundTable, ops.InMemoryTable)
_REFERENCES = (ops.SelfReference, ops.JoinReference)
_SHIFTS = (ops.Lag, ops.Lead)


_KINDS: dict[type, tuple[type, ...] | None] = {}


def _kind_of(cls: type) -> tuple[type, ...] | None:
    """Which of the tuples above a relation's class belongs to, if any (found
    once per class)."""
    if cls not in _KINDS:
        _KINDS[cls] = next((kind for kind in (_TABLES, _REFERENCES) if issubclass(cls, kind)), None)
    return _KINDS[cls]


class _Run:
    def __init__(self, tables: Mapping[str, Sequence[Row]]) -> None:
        self.tables = tables
        self.memo: dict[ops.Node, list[Row]] = {}

    def relation(self, op: ops.Relation) -> list[Row]:
        found = self.memo.get(op)
        if found is None:
            found = self._relation(op)
            self.memo[op] = found
        return found

    def _relation(self, op: ops.Relation) -> list[Row]:
        kind = _kind_of(type(op))
        if kind is _TABLES:
            names = op.schema.names
            return [{n: r.get(n) for n in names} for r in self.tables.get(op.name, ())]
        if kind is _REFERENCES:
            return self.relation(op.parent)
        if isinstance(op, ops.Project):
            parent = self.relation(op.parent)
            at = slot(op.parent)
            envs = [{at: r, _IDX: i} for i, r in enumerate(parent)]
            funcs, windows = _projection(op)
            wins = {slot(w): self._window(w, op.parent, parent) for w in windows}
            for e in envs:
                e[_WIN] = wins
            computed = _computed(op)
            if computed is None:
                return [{name: f(e) for name, f in funcs} for e in envs]
            out = []
            for r, e in zip(parent, envs, strict=True):
                row = dict(r)
                for name, f in computed:
                    row[name] = f(e)
                out.append(row)
            return out
        if isinstance(op, ops.Filter):
            parent = self.relation(op.parent)
            at = slot(op.parent)
            preds = _predicates(op)
            return [r for r in parent if all(p({at: r}) is True for p in preds)]
        if isinstance(op, ops.DropColumns):
            drop = set(op.columns_to_drop)
            return [{k: v for k, v in r.items() if k not in drop} for r in self.relation(op.parent)]
        if isinstance(op, ops.Union):
            names = op.schema.names
            left = self.relation(op.left)
            right = self.relation(op.right)
            rows = [dict(zip(names, r.values(), strict=True)) for r in (*left, *right)]
            return self._distinct(rows) if op.distinct else rows
        if isinstance(op, ops.Distinct):
            return self._distinct(self.relation(op.parent))
        if isinstance(op, ops.JoinChain):
            return self._join(op)
        if isinstance(op, ops.Aggregate):
            return self._aggregate(op)
        if isinstance(op, ops.Sort):
            parent = self.relation(op.parent)
            key, at = _sort_key(op.keys), slot(op.parent)
            return [r for _, r in sorted(((key({at: r}), r) for r in parent), key=lambda x: x[0])]
        if isinstance(op, ops.Limit):
            parent = self.relation(op.parent)
            start = op.offset if isinstance(op.offset, int) else 0
            return parent[start : start + op.n] if isinstance(op.n, int) else parent[start:]
        raise Unsupported(f"the row engine cannot evaluate {type(op).__name__}")

    @staticmethod
    def _distinct(rows: list[Row]) -> list[Row]:
        seen: set[Any] = set()
        out = []
        for r in rows:
            key = tuple(_hashable(v) for v in r.values())
            if key not in seen:
                seen.add(key)
                out.append(r)
        return out

    def _window(self, w: ops.WindowFunction, rel: ops.Relation, rows: list[Row]) -> list[Any]:
        at = slot(rel)
        envs: list[Env] = [{at: r, _IDX: i} for i, r in enumerate(rows)]
        groups = [scalar(g) for g in w.group_by]
        parts: dict[Any, list[Env]] = {}
        for e in envs:
            parts.setdefault(tuple(_hashable(g(e)) for g in groups), []).append(e)
        key = _sort_key(w.order_by) if w.order_by else None
        out: list[Any] = [None] * len(rows)
        func = w.func
        for part in parts.values():
            ordered = sorted(part, key=key) if key else part
            if isinstance(func, ops.RowNumber):
                for n, e in enumerate(ordered):
                    out[e[_IDX]] = n
            elif isinstance(func, _SHIFTS):
                arg = scalar(func.arg)
                off = 1 if func.offset is None else int(scalar(func.offset)({}))
                default = (lambda env: None) if func.default is None else scalar(func.default)
                step = -off if isinstance(func, ops.Lag) else off
                for n, e in enumerate(ordered):
                    j = n + step
                    out[e[_IDX]] = arg(ordered[j]) if 0 <= j < len(ordered) else default(e)
            else:
                raise Unsupported(f"the window function {type(func).__name__}")
        return out

    def _join(self, op: ops.JoinChain) -> list[Row]:
        first = slot(op.first)
        combos: list[Env] = [{first: r} for r in self.relation(op.first)]
        for link, (preds, keys) in zip(op.rest, _links(op), strict=True):
            ref = slot(link.table)
            right = self.relation(link.table)
            how = link.how
            out: list[Env] = []
            matched_right: set[int] = set()
            # equalities of a key of ``right`` with a key of the rows so far: the
            # right rows bucketed by their keys, and each row so far meets only its
            # bucket (every predicate still decides; a batch of events joins
            # hundreds of customers' rows, and all pairs would be quadratic)
            buckets: dict[tuple[Any, ...], list[int]] | None = None
            if keys:
                buckets = {}
                for j, r in enumerate(right):
                    key = tuple(k({ref: r}) for _, k in keys)
                    if None not in key:
                        buckets.setdefault(key, []).append(j)
            everyone = range(len(right))
            for c in combos:
                hit = False
                if buckets is None:
                    candidates: Sequence[int] = everyone
                else:
                    probe = tuple(k(c) for k, _ in keys)
                    candidates = () if None in probe else buckets.get(probe, ())
                for j in candidates:
                    r = right[j]
                    env = {**c, ref: r}
                    if how == "cross" or all(p(env) is True for p in preds):
                        out.append(env)
                        matched_right.add(j)
                        hit = True
                if not hit and how in ("left", "outer"):
                    out.append({**c, ref: None})
            if how == "outer":
                out += [{ref: r} for j, r in enumerate(right) if j not in matched_right]
            elif how not in ("inner", "left", "cross", "outer"):
                raise Unsupported(f"a {how} join")
            combos = out
        funcs = _values(op)
        return [{name: f(e) for name, f in funcs} for e in combos]

    def _aggregate(self, op: ops.Aggregate) -> list[Row]:
        parent = self.relation(op.parent)
        at = slot(op.parent)
        envs = [{at: r} for r in parent]
        keys = [(name, scalar(g)) for name, g in op.groups.items()]
        groups: dict[Any, list[Env]] = {}
        for e in envs:
            groups.setdefault(tuple(_hashable(g(e)) for _, g in keys), []).append(e)
        if not keys and not groups:
            groups[()] = []
        metrics = [(name, scalar(m)) for name, m in op.metrics.items()]
        out = []
        for members in groups.values():
            row: Row = {}
            for name, g in keys:
                row[name] = g(members[0])
            context = {_GROUP: members}
            for name, m in metrics:
                row[name] = m(context)
            out.append(row)
        return out


# what each relation evaluates, compiled once per node (looked up once per
# evaluation, not once per value)
_PROJECTIONS: dict[ops.Node, tuple[list[tuple[str, Fn]], list[ops.WindowFunction]]] = {}
_PREDICATES: dict[ops.Node, list[Fn]] = {}
_LINKS: dict[ops.Node, list[tuple[list[Fn], list[tuple[Fn, Fn]]]]] = {}
_JOIN_VALUES: dict[ops.Node, list[tuple[str, Fn]]] = {}


def _projection(op: ops.Project) -> tuple[list[tuple[str, Fn]], list[ops.WindowFunction]]:
    """A projection's values compiled, and the window functions within them."""
    found = _PROJECTIONS.get(op)
    if found is None:
        windows: dict[ops.WindowFunction, None] = {}
        for value in op.values.values():
            windows |= dict.fromkeys(_windows(value))
        found = _PROJECTIONS[op] = ([(name, scalar(v)) for name, v in op.values.items()], list(windows))
    return found


_COMPUTED: dict[ops.Node, list[tuple[str, Fn]] | None] = {}


def _computed(op: ops.Project) -> list[tuple[str, Fn]] | None:
    """When a projection keeps its parent's columns in their order (each as it
    is, or computed anew in its place) and adds its own after them, as a
    ``mutate`` does: the values it computes. Each row is then a copy of its
    parent's row with those set (a row holds its relation's columns in their
    order), not every column read through a function: the rules' mutates add
    one or two columns to fifty. None for any other projection."""
    if op in _COMPUTED:
        return _COMPUTED[op]
    parent = list(op.parent.schema.names)
    found: list[tuple[str, Fn]] | None = None
    if list(op.values)[: len(parent)] == parent:
        found = [
            (name, scalar(v))
            for name, v in op.values.items()
            if not (isinstance(v, ops.Field) and v.rel == op.parent and v.name == name)
        ]
    _COMPUTED[op] = found
    return found


def _predicates(op: ops.Filter) -> list[Fn]:
    found = _PREDICATES.get(op)
    if found is None:
        if any(_windows(p) for p in op.predicates):
            raise Unsupported("a window function in a filter")
        found = _PREDICATES[op] = [scalar(p) for p in op.predicates]
    return found


def _links(op: ops.JoinChain) -> list[tuple[list[Fn], list[tuple[Fn, Fn]]]]:
    """Each link of a join: its predicates compiled, and the equalities its rows
    are bucketed by (walking the expressions costs more than a small join)."""
    found = _LINKS.get(op)
    if found is None:
        found = _LINKS[op] = [
            (
                [scalar(p) for p in link.predicates],
                [] if link.how == "cross" else _find_equi_keys(link.predicates, link.table),
            )
            for link in op.rest
        ]
    return found


def _values(op: ops.JoinChain) -> list[tuple[str, Fn]]:
    found = _JOIN_VALUES.get(op)
    if found is None:
        found = _JOIN_VALUES[op] = [(name, scalar(v)) for name, v in op.values.items()]
    return found


def _relations(op: ops.Value) -> set[Any]:
    return {f.rel for f in op.find(ops.Field)}


def _find_equi_keys(predicates: Sequence[ops.Value], ref: Any) -> list[tuple[Fn, Fn]]:
    """The (rows so far, right) key pairs of the predicates that are equalities
    of a string or integer value of the right relation ``ref`` alone with one of
    the rows so far: values that are equal in SQL are equal, and hash alike, in
    Python (a NULL matches nothing)."""
    keys = []
    for p in predicates:
        if not isinstance(p, ops.Equals):
            continue
        a, b = p.left, p.right
        if not (a.dtype.is_string() and b.dtype.is_string()) and not (
            a.dtype.is_integer() and b.dtype.is_integer()
        ):
            continue
        ra, rb = _relations(a), _relations(b)
        if ra == {ref} and ref not in rb and rb:
            keys.append((scalar(b), scalar(a)))
        elif rb == {ref} and ref not in ra and ra:
            keys.append((scalar(a), scalar(b)))
    return keys


def value_of(v: Any) -> Any:
    """Rows as the engines return them: dates and times as Python objects."""
    if isinstance(v, datetime | date):
        return v
    return v
