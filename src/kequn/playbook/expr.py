"""The playbook's safe expression language: one SQL boolean or value expression,
over known columns, with a short list of operators and functions.

A predicate is parsed with sqlglot and walked node by node; anything not on
the lists below — a subquery, an unknown column, a table function such as
``read_csv``, a second statement — is refused with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from kequn.playbook.columns import ColumnDoc

#: node types allowed anywhere in an expression
ALLOWED_NODES: tuple[type[exp.Expr], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Tuple,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.LT,
    exp.LTE,
    exp.GT,
    exp.GTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Neg,
    exp.Mod,
    exp.Case,
    exp.If,
    exp.Like,
    exp.Coalesce,
    exp.Abs,
    exp.Least,
    exp.Greatest,
    exp.Lower,
    exp.Upper,
    exp.Length,
    exp.Round,
    exp.Floor,
    exp.Ceil,
    exp.Contains,
    exp.ArrayContains,
    exp.StartsWith,
)
#: functions sqlglot does not know by type, allowed by name (none so far)
ALLOWED_FUNCTIONS: set[str] = set()
FUNCTION_NAMES = (
    "coalesce, abs, least, greatest, lower, upper, length, round, floor, ceil, "
    "contains(list_or_text, value), list_contains(list, value), "
    "starts_with(text, prefix)"
)


class ExpressionError(ValueError):
    """The reason an expression is refused; ``zh``, the same reason in Chinese
    for the workbench (the playbook's author reads the English)."""

    def __init__(self, reason: str, zh: str | None = None) -> None:
        super().__init__(reason)
        self.zh = zh or reason


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, its parsed tree and the columns it reads."""

    text: str
    tree: exp.Expr
    columns: frozenset[str]


#: bounds on what a person writes: far above any real rule, far below what
#: would exhaust the parser's recursion
MAX_LENGTH = 4000
MAX_DEPTH = 40
_NOT = re.compile(r"\bnot\b", re.IGNORECASE)


def _depth(text: str) -> int:
    """How deep brackets nest (outside quotes), counting each NOT as a level."""
    deepest = depth = 0
    quote = ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest + len(_NOT.findall(text))


def parse(text: str, columns: dict[str, ColumnDoc]) -> Expression:
    """Parses and checks ``text``; raises ExpressionError with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("an expression is needed here", "请填写条件")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"an expression of {len(text)} characters is too long (at most {MAX_LENGTH})",
            f"条件有 {len(text)} 个字符，太长（最多 {MAX_LENGTH} 个）",
        )
    too_deep = f"an expression nested more than {MAX_DEPTH} deep is too deep to read"
    too_deep_zh = f"条件嵌套超过 {MAX_DEPTH} 层，无法读取"
    if _depth(text) > MAX_DEPTH:
        raise ExpressionError(too_deep, too_deep_zh)
    try:
        trees = sqlglot.parse(text, read="duckdb")
    except RecursionError:
        raise ExpressionError(too_deep, too_deep_zh) from None
    except sqlglot.errors.ParseError as exc:
        detail = exc.errors[0]["description"] if exc.errors else str(exc)
        raise ExpressionError(
            f"cannot parse {text!r}: {detail}", f"无法解析条件「{text}」：{detail}"
        ) from None
    except (sqlglot.errors.SqlglotError, IndexError) as exc:
        # the tokenizer refuses some text (an unclosed quote) before the parser sees it
        first = str(exc).splitlines()[0]
        raise ExpressionError(f"cannot read {text!r}: {first}", f"无法读取条件「{text}」：{first}") from None
    parsed = [t for t in trees if t is not None]
    if len(parsed) != 1:
        raise ExpressionError(
            f"{text!r} is {len(parsed)} statements; write one expression", "只能写一个条件表达式"
        )
    tree = parsed[0]
    if isinstance(tree, (exp.Block, exp.Select, exp.Query, exp.Command)):
        raise ExpressionError(f"{text!r} is a statement, not an expression", "这是一条语句，不是条件")
    used: set[str] = set()
    for node in tree.walk():
        if isinstance(node, (exp.Subquery, exp.Select, exp.Query)):
            raise ExpressionError(f"subqueries are not allowed ({node.sql()!r})", "条件中不能有子查询")
        if isinstance(node, exp.Star):
            raise ExpressionError("* is not allowed; name the columns", "不能用 *，请写出字段")
        if isinstance(node, (exp.AggFunc, exp.Window)):
            raise ExpressionError(
                f"{node.sql()!r}: aggregates and windows are not allowed in a row expression",
                "条件中不能有汇总或窗口函数",
            )
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name not in ALLOWED_FUNCTIONS:
                raise ExpressionError(
                    f"function {node.name}() is not allowed; allowed: {FUNCTION_NAMES}",
                    f"不能使用函数 {node.name}()；可用：{FUNCTION_NAMES}",
                )
            continue
        if isinstance(node, exp.Func) and not isinstance(node, ALLOWED_NODES):
            raise ExpressionError(
                f"function {node.sql()!r} is not allowed; allowed: {FUNCTION_NAMES}",
                f"不能使用函数 {node.sql()}；可用：{FUNCTION_NAMES}",
            )
        if not isinstance(node, ALLOWED_NODES):
            raise ExpressionError(
                f"{node.sql()!r} ({type(node).__name__}) is not allowed in a playbook expression",
                f"条件中不能使用「{node.sql()}」",
            )
        if isinstance(node, exp.Column):
            if node.table:
                raise ExpressionError(f"{node.sql()!r}: name columns without a table", "字段名前不能带表名")
            name = node.name
            if name not in columns:
                near = ", ".join(sorted(c for c in columns if c[:3] == name[:3])[:5])
                hint = f" (did you mean {near}?)" if near else ""
                hint_zh = f"（是否想用 {near}？）" if near else ""
                raise ExpressionError(f"unknown column {name!r}{hint}", f"没有名为「{name}」的字段{hint_zh}")
            used.add(name)
    return Expression(text=text, tree=tree, columns=frozenset(used))
