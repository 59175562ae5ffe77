"""What changed between two playbooks, in the words a strategist reads:
"客户分层「财富」门槛：100万元 → 80万元", not a diff of TOML lines.

Lists of named entries (tiers, segments, stages, triggers, actions, carbon
behaviours) are matched by name, so a reordered list is no change and a new or
removed entry is said once; other lists are compared as sets of values."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from kequn.playbook.model import Playbook

#: sections and fields as a strategist names them: key -> (Chinese, English)
LABELS: dict[str, tuple[str, str]] = {
    "playbook": ("方案", "playbook"),
    "version": ("版本", "version"),
    "description": ("说明", "description"),
    "fx": ("汇率", "exchange rates"),
    "aum_product_types": ("计入AUM的产品类型", "product types counted in AUM"),
    "window_months": ("交易统计窗口(月)", "transaction window (months)"),
    "tiers": ("客户分层", "tiers"),
    "ladder": ("", ""),  # "客户分层「财富」", not "客户分层层级「财富」"
    "basis": ("分层口径", "basis"),
    "hysteresis": ("升降级缓冲", "hysteresis"),
    "near_threshold": ("临界提醒区间", "near-threshold band"),
    "min_aum": ("门槛", "threshold"),
    "owner_role": ("管户角色", "owner role"),
    "diagnoses_per_year": ("每年财富体检次数", "diagnoses a year"),
    "service": ("服务权益", "service"),
    "life_stages": ("人生阶段", "life stages"),
    "lifecycle": ("客户关系生命周期", "relationship lifecycle"),
    "default": ("默认", "default"),
    "default_zh": ("默认中文名", "default's Chinese name"),
    "default_en": ("默认英文名", "default's English name"),
    "rules": ("规则", "rules"),
    "segments": ("客群", "segments"),
    "portfolios": ("模型组合", "model portfolios"),
    "targets": ("目标配置", "targets"),
    "health": ("财富健康度", "wealth health"),
    "weights": ("权重", "weights"),
    "texts": ("诊断话术", "finding texts"),
    "suitability": ("适当性", "suitability"),
    "recommendations": ("产品推荐", "recommendations"),
    "carbon": ("低碳权益", "low-carbon rewards"),
    "behaviours": ("低碳行为", "behaviours"),
    "triggers": ("触发事件", "triggers"),
    "actions": ("营销服务动作", "actions"),
    "contact": ("触达规则", "contact policy"),
    "privacy": ("个人信息保护", "privacy"),
    "ingest": ("数据接入检查", "extract guards"),
    "release": ("发布", "release"),
    "zh": ("中文名", "Chinese name"),
    "en": ("英文名", "English name"),
    "when": ("条件", "condition"),
    "doc": ("说明", "note"),
    "urgency": ("紧迫度", "urgency"),
    "kind": ("类别", "kind"),
    "personalised": ("个性化营销", "personalised"),
    "channels": ("渠道", "channels"),
    "product": ("推荐产品类别", "product"),
    "value": ("价值", "value"),
    "prior": ("先验响应率", "prior response rate"),
    "talk_track": ("话术", "talk track"),
    "visit_material": ("拜访材料", "visit material"),
    "grams": ("减碳克数", "grams"),
    "points": ("积分", "points"),
    "marketing_cap": ("营销频次上限", "marketing cap"),
    "cap_days": ("频次统计天数", "cap window (days)"),
    "snooze_days": ("暂缓联系天数", "snooze (days)"),
    "recontact_days": ("同一动作再次联系间隔天数", "days before an action is raised again"),
    "suppress_after": ("连续拒绝后暂停(次)", "suppress after (refusals)"),
    "suppress_days": ("暂停天数", "suppression (days)"),
    "suppress_window_days": ("拒绝统计天数", "suppression window (days)"),
    "tasks_per_customer_per_day": ("每客户每日任务上限", "tasks per customer a day"),
    "assessment_valid_days": ("风险测评有效天数", "assessment valid (days)"),
    "expiring_within_days": ("测评到期提醒天数", "expiry notice (days)"),
    "dual_recording_age": ("双录年龄", "dual-recording age"),
    "dual_recording_min_risk": ("双录最低产品风险", "dual recording from risk level"),
    "closed_min_reserve_months": ("封闭产品前应急储备(月)", "reserve before a lock-up (months)"),
    "pension_min_term_days": ("养老产品最短期限(天)", "pension minimum term (days)"),
    "pension_min_age": ("养老产品最低年龄", "pension minimum age"),
    "individual_pension_until_age": ("个人养老金缴存截止年龄", "individual pension: paid into until age"),
    "per_customer": ("每客户推荐数", "recommendations a customer"),
    "min_gap_amount": ("最小缺口金额", "minimum gap"),
    "min_gap_share": ("最小缺口占比", "minimum gap share"),
    "protection_per_person": ("每人保障额度", "protection a person"),
    "fairness_threshold": ("公平性提示阈值", "fairness flag threshold"),
    "customers": ("客户数变动上限", "customers' move"),
    "holdings": ("持仓数变动上限", "holdings' move"),
    "aum": ("总AUM变动上限", "total AUM's move"),
    "quarantined": ("隔离行占比上限", "quarantined share"),
}
#: amounts of money, said in 万元
MONEY = {"min_aum", "min_gap_amount", "protection_per_person"}
#: shares, said in per cent
SHARES = {
    "hysteresis", "near_threshold", "min_gap_share", "fairness_threshold",
    "customers", "holdings", "aum", "quarantined",
}  # fmt: skip


@dataclass(frozen=True)
class Change:
    path: tuple[str, ...]  # where, as codes: ("tiers", "ladder", "wealth", "min_aum")
    zh: str
    en: str


def _label(key: str, lang: int) -> str:
    found = LABELS.get(key)
    return found[lang] if found is not None else key.replace("_", " ")


def _say(key: str, value: Any, lang: int) -> str:
    if value is None:
        return "（无）" if lang == 0 else "(none)"
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == 0 else ("yes" if value else "no")
    if key in MONEY and isinstance(value, int | float):
        if lang == 1:
            return f"CNY {Decimal(str(value)).normalize():,f}"
        return f"{(Decimal(str(value)) / 10_000).normalize():f}万元"
    if key in SHARES and isinstance(value, int | float):
        return f"{Decimal(str(value)) * 100:.4g}%"
    if isinstance(value, list):
        return "、".join(map(str, value)) if lang == 0 else ", ".join(map(str, value))
    return str(value)


def _named(items: list[Any]) -> dict[str, Any] | None:
    if items and all(isinstance(i, BaseModel) and hasattr(i, "name") for i in items):
        return {i.name: i for i in items}
    return None


def _where(trail: list[tuple[str, tuple[str, str] | None]], lang: int) -> str:
    """The place in words: section names, and an entry's own name in 「」."""
    words = []
    for key, entry in trail:
        if entry is not None:
            words.append(f"「{entry[0]}」" if lang == 0 else f'"{entry[1]}"')
        elif key and _label(key, lang):
            words.append(_label(key, lang))
    return "".join(words) if lang == 0 else " ".join(words)


def _walk(
    a: Any,
    b: Any,
    path: tuple[str, ...],
    trail: list[tuple[str, tuple[str, str] | None]],
    out: list[Change],
) -> None:
    if isinstance(a, BaseModel) and isinstance(b, BaseModel):
        for key in type(a).model_fields:
            _walk(getattr(a, key), getattr(b, key), (*path, key), [*trail, (key, None)], out)
        return
    if isinstance(a, list) and isinstance(b, list):
        old, new = _named(a), _named(b)
        if (old is not None and new is not None) or (not a and _named(b)) or (not b and _named(a)):
            old, new = old or {}, new or {}
            for name in [*old, *(n for n in new if n not in old)]:
                entry = new.get(name) or old[name]
                shown = (getattr(entry, "zh", "") or name, getattr(entry, "en", "") or name)
                here: list[tuple[str, tuple[str, str] | None]] = [*trail, ("", shown)]
                if name not in new:
                    out.append(Change((*path, name), f"删除{_where(here, 0)}", f"removed {_where(here, 1)}"))
                elif name not in old:
                    out.append(Change((*path, name), f"新增{_where(here, 0)}", f"added {_where(here, 1)}"))
                else:
                    _walk(old[name], new[name], (*path, name), here, out)
            return
        if a != b:
            gone, came = [x for x in a if x not in b], [x for x in b if x not in a]
            key = path[-1]
            if not gone and not came:
                return  # the same values in another order
            zh, en = _where(trail, 0), _where(trail, 1)
            parts_zh = ([f"增加 {_say(key, came, 0)}"] if came else []) + (
                [f"去掉 {_say(key, gone, 0)}"] if gone else []
            )
            parts_en = ([f"adds {_say(key, came, 1)}"] if came else []) + (
                [f"drops {_say(key, gone, 1)}"] if gone else []
            )
            out.append(Change(path, f"{zh}：{'，'.join(parts_zh)}", f"{en}: {'; '.join(parts_en)}"))
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            _walk(a.get(key), b.get(key), (*path, str(key)), [*trail, (str(key), None)], out)
        return
    if a != b:
        key = path[-1]
        zh = f"{_where(trail, 0)}：{_say(key, a, 0)} → {_say(key, b, 0)}"
        en = f"{_where(trail, 1)}: {_say(key, a, 1)} → {_say(key, b, 1)}"
        out.append(Change(path, zh, en))


def diff(old: Playbook, new: Playbook) -> list[Change]:
    """Every change from ``old`` to ``new``, in the playbook's own order."""
    out: list[Change] = []
    _walk(old, new, (), [], out)
    return out
