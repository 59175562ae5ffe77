"""What floor staff read of a customer who checks in: bands, never amounts; the
health band cut where the playbook cuts every component's (it was 70 and 50 in
the floor's own code, beside the playbook's 70 and 40)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kequn.campaign.floor import masked_summary
from kequn.playbook import load_playbook
from kequn.store.models import Customer

PB = load_playbook()


def _card(score: float) -> Customer:
    return Customer(
        customer_id="C1",
        home_branch_id="B1",
        name="王小明",
        gender="M",
        birth_date=date(1980, 5, 1),
        tier="mass",
        aum=Decimal("12345.67"),
        health_score=score,
    )


@given(st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda x: round(x, 1)))
def test_the_health_band_on_the_floor_is_the_playbooks(score: float) -> None:
    h = PB.playbook.health
    band = masked_summary(_card(score), PB, date(2026, 12, 7))["health_band"]
    expected = "待改善" if score < h.poor_below else ("一般" if score < h.good_from else "良好")
    assert band == expected


def test_the_lines_are_read_from_the_playbook() -> None:
    h = PB.playbook.health
    day = date(2026, 12, 7)
    # 45 is fair by the playbook's lines (poor below 40), "待改善" by the old 50
    assert h.poor_below <= 45.0 < h.good_from
    assert masked_summary(_card(45.0), PB, day)["health_band"] == "一般"
    stricter = replace(
        PB, playbook=PB.playbook.model_copy(update={"health": h.model_copy(update={"poor_below": 50.0})})
    )
    assert masked_summary(_card(45.0), stricter, day)["health_band"] == "待改善"
    summary = masked_summary(_card(45.0), PB, day)
    assert summary["name"] != "王小明" and "12345" not in str(summary)
