"""The run's sentences are joined in one call (``texts.joined``): the same text
as the parts added one after another, on DuckDB as in Python."""

from __future__ import annotations

import ibis
from hypothesis import given, settings
from hypothesis import strategies as st

from kequn.pipeline.texts import joined, render

PART = st.text(alphabet=st.sampled_from(list("ab1.%-—配置缺口约万元；{} ")), max_size=6)
CON = ibis.duckdb.connect()


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


def test_a_finding_reads_a_value_it_lacks_as_a_dash() -> None:
    table = ibis.memtable({"reserve": [None, "3.5"]}, schema={"reserve": "string"})
    said = CON.execute(table.select(said=render("可覆盖{reserve}个月支出", {"reserve": table.reserve})))
    assert list(said["said"]) == ["可覆盖—个月支出", "可覆盖3.5个月支出"]
