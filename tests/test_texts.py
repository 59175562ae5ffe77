"""The run's sentences are joined in one call (``texts.joined``): the same text
as the parts added one after another, on DuckDB as in Python. The wealth
diagnosis is worded on the page (``health_texts``): every band of every
component, its figures rounded as the run rounds, in Chinese and English."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import ibis
from hypothesis import given, settings
from hypothesis import strategies as st

from kequn.pipeline.health_texts import Sentence, diagnosis, one_place, whole
from kequn.pipeline.texts import joined
from kequn.playbook import load_playbook
from kequn.playbook.model import HEALTH_COMPONENTS
from kequn.web.services.sentences import in_language

PART = st.text(alphabet=st.sampled_from(list("ab1.%-—配置缺口约万元；{} ")), max_size=6)
CON = ibis.duckdb.connect()
RAW = duckdb.connect()


@settings(max_examples=60, deadline=None)
@given(st.lists(PART, min_size=1, max_size=12))
def test_joined_texts_read_as_the_parts_added_in_turn(parts: list[str]) -> None:
    table = ibis.memtable({f"p{i}": [p] for i, p in enumerate(parts)})
    cols = [table[f"p{i}"] for i in range(len(parts))]
    added = cols[0]
    for c in cols[1:]:
        added = added + c
    got = CON.execute(table.select(one_call=joined(cols), added=added)).iloc[0]
    assert got["one_call"] == got["added"] == "".join(parts)


def _facts(**given: object) -> dict[str, object]:
    facts: dict[str, object] = {f"band_{c}": "fair" for c in HEALTH_COMPONENTS}
    facts.update({f"health_{c}": 55.0 for c in HEALTH_COMPONENTS})
    facts.update(given)
    return facts


def test_a_finding_reads_a_figure_it_lacks_as_a_dash() -> None:
    pb = load_playbook()
    spent = diagnosis(_facts(liquid_reserve_months=3.46), pb, "liquidity")
    unknown = diagnosis(_facts(liquid_reserve_months=None), pb, "liquidity")
    assert spent and unknown
    assert spent[0].values["reserve_months"] == "3.5"
    assert unknown[0].values["reserve_months"] == "—"
    assert "{" not in str(spent[0]) and "{" not in str(unknown[1])


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=-1000, max_value=1000, places=3))
def test_figures_round_half_away_from_zero_as_the_run_rounds(x: Decimal) -> None:
    """The sentences' figures are rounded as DuckDB rounds the published numbers
    (half away from zero), never as Python's round (half to even)."""
    row = RAW.execute(f"SELECT round({x}::DECIMAL(10,3), 0)::BIGINT, round({x}::DECIMAL(10,3), 1)").fetchone()
    assert row is not None
    assert whole(x) == str(row[0])
    assert one_place(x) == f"{row[1] + 0:.1f}"


def test_every_band_of_every_component_is_worded_without_a_placeholder_left() -> None:
    pb = load_playbook()
    facts = _facts(
        life_stage="family",
        risk_level=None,
        gap_class="equity",
        allocation_distance=0.234567,
        aum_growth=-0.0512,
        liquid_reserve_months=120.0,
        above_risk_share=0.5,
        n_products=3,
        protection_amount=Decimal("123456.78"),
        maturity_peak_share=None,
    )
    for component, texts in pb.playbook.health.texts.items():
        for band in texts:
            said = diagnosis({**facts, f"band_{component}": band}, pb, component)
            assert said is not None
            for sentence in said:
                assert "{" not in str(sentence) and "}" not in str(sentence), (component, band)
    said = diagnosis({**facts, "band_liquidity": "nonsense"}, pb, "liquidity")
    assert said is None, "a band the playbook has no texts for is not worded"
    values = diagnosis(facts, pb, "growth")[0].values  # type: ignore[index]
    assert values["risk_level"] == "未测评" and values["gap_class"] == "权益类"
    assert values["growth_pct"] == "-5.1" and values["reserve_months"] == "99+"
    assert values["protection_wan"] == "12.3" and values["maturity_peak_pct"] == "0"
    assert values["gap_pct"] == "23" and values["score"] == "55"


def test_a_sentence_reads_in_english_with_its_figures_carried_over() -> None:
    template = "可覆盖{reserve_months}个月，保障{protection_wan}万元"
    english = {template: "covers {reserve_months} months, cover of {protection_wan}"}
    said = Sentence(template, {"reserve_months": "3.5", "protection_wan": "12.3"})
    translate = lambda text: english.get(text, text)  # noqa: E731
    assert in_language(said, "zh_CN", translate, ()) == "可覆盖3.5个月，保障12.3万元"
    assert in_language(said, "en", translate, ()) == "covers 3.5 months, cover of 123,000"
    untranslated = Sentence("没有英文{n_products}", {"n_products": "2"})
    assert in_language(untranslated, "en", translate, ()) == "没有英文2"
