"""The group builder: picked conditions become the expression that selects exactly
the customers they say, and every expression reads back in Chinese and English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kequn import warehouse
from kequn.pipeline import group_builder, groups
from kequn.pipeline.catalog import list_runs
from kequn.pipeline.group_builder import Condition, Words, read_back, to_expression
from kequn.playbook import load_playbook
from kequn.playbook.expr import ExpressionError
from kequn.playbook.names import playbook_names
from kequn.web.i18n import amount_words, catalog, gettext_for
from kequn.web.services.group_builder import OP_NAMES, SECTIONS, read_builder


@pytest.fixture(scope="module")
def profiles(run_store: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, Any, list[dict[str, Any]]]]:
    duck = warehouse.reader(run_store, [])
    run = list_runs(duck)[-1]
    warehouse.attach(duck, None, [run.schema])
    rows = duck.execute(
        f"SELECT customer_id, age, aum, hukou_local, tier, segments, gender FROM {run.schema}.profiles"
    ).fetchall()
    names = ["customer_id", "age", "aum", "hukou_local", "tier", "segments", "gender"]
    yield duck, run, [dict(zip(names, r, strict=True)) for r in rows]
    duck.close()


PB = load_playbook().playbook
TIERS = [t.name for t in PB.tiers.ladder]
SEGMENTS = [s.name for s in PB.segments]
COMPARE = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
CONDITIONS = st.one_of(
    st.builds(
        lambda op, v: Condition("age", op, (str(v),)), st.sampled_from(list(COMPARE)), st.integers(18, 90)
    ),
    # amounts as a banker enters them: 万元, with decimals
    st.builds(
        lambda op, v: Condition("aum", op, (str(v),)),
        st.sampled_from(list(COMPARE)),
        st.decimals(min_value=0, max_value=500, places=2),
    ),
    st.builds(lambda op: Condition("hukou_local", op), st.sampled_from(["yes", "no"])),
    st.builds(
        lambda op, vs: Condition("tier", op, tuple(vs)),
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(TIERS), min_size=1, max_size=3, unique=True),
    ),
    st.builds(
        lambda op, vs: Condition("segments", op, tuple(vs)),
        st.sampled_from(["has", "lacks"]),
        st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=2, unique=True),
    ),
    st.builds(lambda op, vs: Condition("gender", op, tuple(vs)), st.just("in"), st.just(["F"])),
)


def holds(c: Condition, row: dict[str, Any]) -> bool:
    """What the condition means, said in Python on the profile's own values."""
    value = row[c.field]
    if c.field == "age":
        return value is not None and COMPARE[c.op](value, int(c.values[0]))
    if c.field == "aum":
        return value is not None and COMPARE[c.op](Decimal(value), Decimal(c.values[0]) * 10_000)
    if c.field == "hukou_local":
        return bool(value) if c.op == "yes" else value is False
    if c.field in ("tier", "gender"):
        return value is not None and ((value in c.values) == (c.op == "in"))
    listed = set(value or [])
    hit = bool(listed & set(c.values))
    return hit if c.op == "has" else (value is not None and not hit)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picked=st.lists(CONDITIONS, min_size=1, max_size=4), join=st.sampled_from(["AND", "OR"]))
def test_picked_conditions_select_exactly_the_customers_they_say(profiles, picked, join) -> None:  # type: ignore[no-untyped-def]
    duck, run, rows = profiles
    expr = to_expression(picked, join)
    chosen = set(groups.members(duck, run, expr)["customer_id"])
    combine = all if join == "AND" else any
    expected = {r["customer_id"] for r in rows if combine(holds(c, r) for c in picked)}
    assert chosen == expected, expr.text


def zh_words() -> Words:
    names = playbook_names(load_playbook())
    return Words(lambda s: names.get(s, s), lambda v: amount_words(v, "zh_CN", lambda s: s))


def en_words() -> Words:
    t = gettext_for("en")
    return Words(t, lambda v: amount_words(v, "en", t))


def test_a_picked_group_reads_back_in_chinese_and_english() -> None:
    expr = to_expression(
        [
            Condition("age", ">=", ("60",)),
            Condition("aum", ">=", ("5",)),
            Condition("segments", "has", ("silver",)),
            Condition("tier", "in", ("mass", "mass_affluent")),
            Condition("hukou_local", "no"),
        ]
    )
    assert expr.text == (
        "age >= 60 AND aum >= 50000 AND list_contains(segments, 'silver') "
        "AND tier IN ('mass', 'mass_affluent') AND NOT hukou_local"
    )
    silver = next(s.zh for s in PB.segments if s.name == "silver")
    assert read_back(expr, zh_words()) == (
        f"年龄 ≥ 60 且 资产(AUM) ≥ 5万元 且 客群分类包含「{silver}」 且 "
        "客户层级为「大众」、「潜力」之一 且 本地户籍：否"
    )
    english = read_back(expr, en_words())
    assert english.startswith("Age ≥ 60 and AUM ≥ 50,000 CNY and Segments includes “")
    assert "Tier is one of “Mass”, “Mass affluent” and Local hukou: no" in english
    assert not re.search(r"[\u4e00-\u9fff]", english.replace(silver, "")), english


def test_an_amount_in_wan_is_kept_exact() -> None:
    assert to_expression([Condition("aum", ">", ("0.3",))]).text == "aum > 3000"
    assert to_expression([Condition("deposits", "<", ("1,250.5",))]).text == "deposits < 12505000"
    assert read_back(groups.parse_group("aum >= 3000"), zh_words()) == "资产(AUM) ≥ 0.3万元"


def test_a_typed_expression_reads_back_with_its_fields_named() -> None:
    w = zh_words()
    assert read_back(groups.parse_group("risk_level IS NULL OR age BETWEEN 30 AND 40"), w) == (
        "风险等级为空 或 年龄介于30与40之间"
    )
    # no reading of its own: the expression, its fields named
    assert read_back(groups.parse_group("aum / 2 > 100"), w) == "资产(AUM) / 2 > 100"
    absent = read_back(groups.parse_group("NOT list_contains(triggers, 'birthday')"), w)
    assert absent.startswith("触发事件不含「")


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (Condition("age", ">=", ("六十",)), "不是数字"),
        (Condition("aum", ">=", ("NaN",)), "不是数字"),
        (Condition("age", "has", ("1",)), "不能用"),
        (Condition("no_such_field", ">=", ("1",)), "没有"),
        (Condition("age", ">=", ()), "请填写"),
    ],
)
def test_a_condition_that_cannot_be_built_says_why_in_chinese(condition: Condition, reason: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        to_expression([condition])
    assert reason in caught.value.zh


def test_a_quote_in_a_value_cannot_break_out_of_its_string() -> None:
    expr = to_expression([Condition("tier", "in", ("x') OR (1=1",))])
    assert expr.text == "tier IN ('x'') OR (1=1')"
    assert expr.columns == frozenset({"tier"})


def test_the_form_keeps_a_row_until_its_field_changes_and_counts_only_filled_rows() -> None:
    offered = {"tier": [("mass", None), ("wealth", None)]}

    def choices(field: str) -> list[tuple[str, str | None]]:
        return offered.get(field, [])

    built = read_builder(
        {
            "field_0": ["age"],
            "was_0": ["age"],
            "op_0": [">="],
            "value_0": ["60"],
            "field_1": ["tier"],
            "was_1": ["aum"],  # the field was just changed: its old value goes
            "op_1": [">="],
            "value_1": ["5"],
            "field_2": ["tier"],
            "was_2": ["tier"],
            "op_2": ["in"],
            "value_2": ["wealth", "not-offered"],
        },
        choices,
    )
    assert [(r.field, r.op, r.values) for r in built.rows] == [
        ("age", ">=", ("60",)),
        ("tier", "in", ()),
        ("tier", "in", ("wealth",)),
    ]
    assert built.expression is not None and built.expression.text == "age >= 60 AND tier IN ('wealth')"
    assert built.redraw  # a field changed: its row is drawn afresh
    typing = read_builder({"field_0": ["age"], "was_0": ["age"], "op_0": [">"], "value_0": ["6"]}, choices)
    # a value or a comparison changed: the builder stays as the user is typing into it
    assert not typing.redraw and typing.expression is not None and typing.expression.text == "age > 6"
    removed = read_builder({"field_0": ["age"], "was_0": ["age"], "value_0": ["1"], "remove": ["0"]}, choices)
    assert [r.field for r in removed.rows] == [""] and removed.expression is None


def test_every_word_the_builder_shows_has_its_english() -> None:
    english = catalog("en")
    source = Path(group_builder.__file__).read_text(encoding="utf-8")
    phrases = set(re.findall(r"""w\.(?:say|t)\(\s*"([^"]+)\"""", source))
    phrases |= set(re.findall(r"""w\.t\('([^']+)'\)""", source))
    words = {doc.label for doc in group_builder.builder_fields().values()}
    words |= set(SECTIONS.values()) | {v for v in OP_NAMES.values() if re.search(r"[\u4e00-\u9fff]", v)}
    missing = sorted(w for w in phrases | words if w not in english)
    assert len(phrases) >= 15
    assert not missing, missing
