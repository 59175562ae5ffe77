"""Ibis table expressions evaluated over Python rows: the engine for one
customer's event.

The nightly batch compiles the rules (Ibis expressions) to DuckDB or Spark SQL.
An event needs the same rules on a handful of rows within milliseconds, which a
SQL planner cannot give (DuckDB takes some 20 ms to plan the funnel whatever
the data). So this module executes the very same expression trees in Python:
relations (projection, filter, joins, aggregation, windows, unions) over lists
of dicts, and each scalar expression compiled once into nested closures
(``row_values``), with SQL's rules for NULL. It knows the operations Kequn's
rules and playbook expressions use and refuses any other by name; the property
tests run every rule both ways and compare.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ibis.expr.operations as ops
import ibis.expr.types as ir

from kequn.rules.row_values import GROUP_KEY, ROW_KEY, WINDOWS_KEY, Env, Fn, Row, Unsupported, scalar, slot


def execute(expr: ir.Table, tables: Mapping[str, Sequence[Row]]) -> list[Row]:
    """The rows of ``expr`` over ``tables`` (input name -> rows)."""
    return _Run(tables).relation(expr.op())


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
            envs = [{at: r, ROW_KEY: i} for i, r in enumerate(parent)]
            funcs, windows = _projection(op)
            wins = {slot(w): self._window(w, op.parent, parent) for w in windows}
            for e in envs:
                e[WINDOWS_KEY] = wins
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
        envs: list[Env] = [{at: r, ROW_KEY: i} for i, r in enumerate(rows)]
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
                    out[e[ROW_KEY]] = n
            elif isinstance(func, _SHIFTS):
                arg = scalar(func.arg)
                off = 1 if func.offset is None else int(scalar(func.offset)({}))
                default = (lambda env: None) if func.default is None else scalar(func.default)
                step = -off if isinstance(func, ops.Lag) else off
                for n, e in enumerate(ordered):
                    j = n + step
                    out[e[ROW_KEY]] = arg(ordered[j]) if 0 <= j < len(ordered) else default(e)
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
            context = {GROUP_KEY: members}
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
