"""Small helpers turning stored rows into what a page shows."""

from __future__ import annotations

import json
from typing import Any

from kequn.privacy.masking import mask
from kequn.store.models import Customer

TIER_ZH = {
    "private_central": "私行(分行集中)",
    "private": "私人银行",
    "wealth": "财富",
    "affluent": "中高端",
    "mass_affluent": "潜力",
    "mass": "大众",
}
CLASS_ZH = {
    "cash": "现金类",
    "fixed_income": "固收类",
    "equity": "权益类",
    "alternative": "另类",
    "protection": "保障类",
}
COMPONENT_ZH = {
    "allocation": "配置契合",
    "growth": "资产增速",
    "liquidity": "流动性",
    "risk_match": "风险匹配",
    "diversification": "分散度",
    "protection": "保障",
    "maturity": "期限阶梯",
}


def facts_of(card: Customer) -> dict[str, Any]:
    f = card.facts
    return json.loads(f) if isinstance(f, str) else dict(f or {})


def segments_of(card: Customer) -> list[str]:
    s = card.segments
    return json.loads(s) if isinstance(s, str) else list(s or [])


def person(card: Customer, clear: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The customer's personal fields, masked unless ``clear`` names them."""
    return {
        "name": mask("name", card.name, clear),
        "id_number": mask("id_number", card.id_number, clear),
        "phone": mask("phone", card.phone, clear),
        "gender": card.gender,
    }
