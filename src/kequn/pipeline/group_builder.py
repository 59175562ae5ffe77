"""A customer group picked, not typed: conditions on named fields turned into the
group's expression, and any expression (picked or typed) read back in words.

A branch head picks 年龄 ≥ 60 and 资产 ≥ 5 万元; ``to_expression`` writes
``age >= 60 AND aum >= 50000``, which the group keeps and counts like any other.
``read_back`` turns an expression into the sentence the head checks before
saving: ``年龄 ≥ 60 且 资产(AUM) ≥ 5万元``. Words come through ``Words``, so
the same reading serves Chinese and English.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from sqlglot import exp

from kequn.pipeline.groups import GROUP_COLUMNS, parse_group
from kequn.playbook.columns import ColumnDoc
from kequn.playbook.expr import Expression, ExpressionError

Kind = Literal["money", "number", "flag", "choice", "list"]
#: the comparisons a number (or an amount) may take, as the builder offers them
COMPARISONS = (">=", "<=", ">", "<", "=", "!=")
OPS: dict[Kind, tuple[str, ...]] = {
    "money": COMPARISONS,
    "number": COMPARISONS,
    "flag": ("yes", "no"),
    "choice": ("in", "not_in"),
    "list": ("has", "lacks"),
}
#: the builder's fields: the group columns a banker picks from (the event's own
#: fields exist only in real time, and codes such as the unit are chosen elsewhere)
HIDDEN = frozenset({"risk_level_num", "home_branch_id", "owned"})
WAN = Decimal(10_000)


def kind_of(doc: ColumnDoc) -> Kind:
    if doc.type == "bool":
        return "flag"
    if doc.type == "list":
        return "list"
    if doc.type == "str":
        return "choice"
    return "money" if doc.money else "number"


def builder_fields() -> dict[str, ColumnDoc]:
    return {name: doc for name, doc in GROUP_COLUMNS.items() if name not in HIDDEN}


@dataclass(frozen=True)
class Condition:
    """One picked condition: a field, how it is compared, and the values as
    entered (an amount in 万元; codes for choices and lists)."""

    field: str
    op: str
    values: tuple[str, ...] = ()


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _number(text: str, field: str, label: str, money: bool) -> str:
    cleaned = text.strip().replace(",", "").replace("，", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ExpressionError(f"{label}: {text!r} is not a number", f"{label}：「{text}」不是数字") from None
    if not value.is_finite():
        raise ExpressionError(f"{label}: {text!r} is not a number", f"{label}：「{text}」不是数字")
    if money:
        value *= WAN
    # an exact decimal, never a float's rounding: 0.3 万元 is 3000 yuan
    return format(value.normalize(), "f") if value != value.to_integral() else str(int(value))


def condition_sql(c: Condition) -> str:
    fields = builder_fields()
    doc = fields.get(c.field)
    if doc is None:
        raise ExpressionError(f"unknown field {c.field!r}", f"没有「{c.field}」这个字段")
    kind = kind_of(doc)
    if c.op not in OPS[kind]:
        raise ExpressionError(f"{doc.label}: {c.op!r} does not apply", f"{doc.label}不能用「{c.op}」比较")
    values = [v for v in (x.strip() for x in c.values) if v]
    if kind == "flag":
        return c.field if c.op == "yes" else f"NOT {c.field}"
    if not values:
        raise ExpressionError(f"{doc.label}: a value is needed", f"{doc.label}：请填写或选择取值")
    if kind in ("money", "number"):
        return f"{c.field} {c.op} {_number(values[0], c.field, doc.label, kind == 'money')}"
    if kind == "choice":
        listed = ", ".join(_quoted(v) for v in values)
        return f"{c.field} {'NOT IN' if c.op == 'not_in' else 'IN'} ({listed})"
    tests = [f"list_contains({c.field}, {_quoted(v)})" for v in values]
    if c.op == "lacks":
        return "NOT (" + " OR ".join(tests) + ")" if len(tests) > 1 else f"NOT {tests[0]}"
    return tests[0] if len(tests) == 1 else "(" + " OR ".join(tests) + ")"


def to_expression(conditions: Sequence[Condition], join: str = "AND") -> Expression:
    """The group's expression for ``conditions`` (all of them: AND; any: OR),
    checked as every group expression is."""
    if join not in ("AND", "OR"):
        raise ExpressionError(f"join by AND or OR, not {join!r}", "条件之间只能是“且”或“或”")
    parts = [condition_sql(c) for c in conditions]
    if not parts:
        raise ExpressionError("pick at least one condition", "请至少选择一个条件")
    glue = f" {join} "
    # each part is one term already (a list of several values comes bracketed)
    text = glue.join(parts)
    return parse_group(text)


# reading an expression back ------------------------------------------------------


@dataclass(frozen=True)
class Words:
    """How a reading says things in the page's language: ``t`` translates the
    workbench's Chinese (phrases with ``{field}`` and ``{value}`` slots, and the
    playbook's codes), ``money`` writes an amount."""

    t: Callable[[str], str]
    money: Callable[[float], str]

    def say(self, phrase: str, **slots: str) -> str:
        return self.t(phrase).format(**slots)


SYMBOLS = {exp.GTE: "≥", exp.LTE: "≤", exp.GT: ">", exp.LT: "<", exp.EQ: "=", exp.NEQ: "≠"}


def read_back(expr: Expression, words: Words) -> str:
    """``expr`` in words: fields by their names, amounts in 万元, codes by their
    names; whatever has no reading of its own is shown with its fields named."""
    return _read(expr.tree, words)


def _label(node: exp.Expr, w: Words) -> str | None:
    if isinstance(node, exp.Column) and node.name in GROUP_COLUMNS:
        return w.t(GROUP_COLUMNS[node.name].label)
    return None


def _value(column: exp.Expr, node: exp.Expr, w: Words) -> str:
    doc = GROUP_COLUMNS.get(column.name) if isinstance(column, exp.Column) else None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return w.say("「{value}」", value=w.t(node.this))
        if doc is not None and doc.money:
            return w.money(float(node.this))
        return str(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return "-" + _value(column, node.this, w)
    if isinstance(node, exp.Boolean):
        return w.t("是") if node.this else w.t("否")
    return _code(node, w)


def _code(node: exp.Expr, w: Words) -> str:
    """An expression with no reading of its own: its SQL, fields named."""

    def named(n: exp.Expr) -> exp.Expr:
        label = _label(n, w)
        return exp.to_identifier(label, quoted=False) if label else n

    return node.transform(named).sql(dialect="duckdb")


def _read(node: exp.Expr, w: Words) -> str:
    if isinstance(node, exp.Paren):
        inner = node.this
        text = _read(inner, w)
        return f"({text})" if isinstance(inner, (exp.And, exp.Or)) else text
    if isinstance(node, exp.And):
        return f"{_read(node.left, w)} {w.t('且')} {_read(node.right, w)}"
    if isinstance(node, exp.Or):
        return f"{_read(node.left, w)} {w.t('或')} {_read(node.right, w)}"
    if isinstance(node, exp.Not):
        inner = node.this.this if isinstance(node.this, exp.Paren) else node.this
        label = _label(inner, w)
        if label is not None:
            return w.say("{field}：否", field=label)
        if isinstance(inner, exp.ArrayContains):
            return _contains(inner, w, negated=True)
        if isinstance(inner, exp.In):
            return _in(inner, w, negated=True)
        if isinstance(inner, exp.Is):
            return _is(inner, w, negated=True)
        return w.say("并非（{value}）", value=_read(inner, w))
    label = _label(node, w)
    if label is not None:  # a flag on its own
        return w.say("{field}：是", field=label)
    for kind, symbol in SYMBOLS.items():
        if isinstance(node, kind):
            left, right = node.left, node.right
            if _label(left, w) is not None:
                return f"{_label(left, w)} {symbol} {_value(left, right, w)}"
            return _code(node, w)
    if isinstance(node, exp.ArrayContains):
        return _contains(node, w)
    if isinstance(node, exp.In):
        return _in(node, w)
    if isinstance(node, exp.Is):
        return _is(node, w)
    if isinstance(node, exp.Between) and _label(node.this, w) is not None:
        low, high = _value(node.this, node.args["low"], w), _value(node.this, node.args["high"], w)
        return w.say("{field}介于{low}与{high}之间", field=_label(node.this, w) or "", low=low, high=high)
    return _code(node, w)


def _contains(node: exp.ArrayContains, w: Words, negated: bool = False) -> str:
    label = _label(node.this, w)
    if label is None:
        return _code(node, w)
    value = _value(node.this, node.expression, w)
    return w.say("{field}不含{value}" if negated else "{field}包含{value}", field=label, value=value)


def _in(node: exp.In, w: Words, negated: bool = False) -> str:
    label = _label(node.this, w)
    if label is None or not node.expressions:
        return _code(node, w)
    values = [_value(node.this, v, w) for v in node.expressions]
    if negated:
        return w.say("{field}不为{value}", field=label, value=w.t("、").join(values))
    if len(values) > 1:
        return w.say("{field}为{value}之一", field=label, value=w.t("、").join(values))
    return w.say("{field}为{value}", field=label, value=values[0])


def _is(node: exp.Is, w: Words, negated: bool = False) -> str:
    label = _label(node.this, w)
    if label is None or not isinstance(node.expression, exp.Null):
        return _code(node, w)
    return w.say("{field}不为空" if negated else "{field}为空", field=label)
