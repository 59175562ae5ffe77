"""Small helpers turning stored rows into what a page shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Row

from kequn.contract.tables import ASSET_CLASS_ZH
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
#: a holding's class: the allocation's five, and the liabilities a holdings list
#: also shows (a credit card, a loan)
HOLDING_CLASS_ZH = ASSET_CLASS_ZH
COMPONENT_ZH = {
    "allocation": "配置契合",
    "growth": "资产增速",
    "liquidity": "流动性",
    "risk_match": "风险匹配",
    "diversification": "分散度",
    "protection": "保障",
    "maturity": "期限阶梯",
}


def segments_of(card: Customer | Row[Any]) -> list[str]:
    s = card.segments
    return json.loads(s) if isinstance(s, str) else list(s or [])


def person(card: Customer | Row[Any], clear: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The customer's personal fields (of the card, or of a row that selected
    them), masked unless ``clear`` names them."""
    return {
        "name": mask("name", card.name, clear),
        "id_number": mask("id_number", card.id_number, clear),
        "phone": mask("phone", card.phone, clear),
        "gender": card.gender,
    }


#: what a trail's ``system:<job>`` actors are called on the page (the trail keeps the code)
SYSTEM_ACTORS = {
    "system:decide": "系统·每晚决策",
    "system:event": "系统·实时事件",
    "system:campaign": "系统·营销活动",
    "system:export": "系统·导出",
    "system:train": "系统·模型训练",
    "system:planted": "系统·模拟历史",
    "system:referral": "系统·转介",
    "system:salon": "系统·微沙龙",
}


def actor_name(actor: str, label: Callable[[str], str]) -> tuple[str, bool]:
    """Who did it, as the trail page shows it: a person's login as it is
    (``raw``), a system job by its name in the page's language."""
    named = SYSTEM_ACTORS.get(actor)
    return (label(named), False) if named else (actor, True)


def trail_detail(detail: object, label: Callable[[str], str]) -> list[tuple[str, str, bool]]:
    """A trail entry's detail as a compliance officer reads it: ``(key, value,
    raw)`` for each field that says something; codes by their names (``raw``:
    the value is the bank's data — a number, a login, a digest — shown as it is)."""
    try:
        parsed = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        return [("详情", str(detail), True)]
    if not isinstance(parsed, dict):
        return [("详情", str(parsed), True)]
    items: list[tuple[str, str, bool]] = []
    for key, value in parsed.items():
        if value is None or value == [] or value == {} or value == "":
            continue
        if isinstance(value, bool):
            items.append((key, label("是" if value else "否"), False))
        elif isinstance(value, str):
            named = label(value)
            raw = named in (value, value.replace("_", " "))
            items.append((key, value if raw else named, raw))
        elif isinstance(value, list):
            items.append((key, "、".join(str(v) for v in value[:10]), True))
        else:
            items.append((key, str(value), True))
    return items
