"""Explanations of automated decisions a customer could read (PIPL art. 24):
why this contact or product, which of their data it used, which rules it
passed, and how to refuse personalised targeting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kequn.playbook import LoadedPlaybook

#: the customer's data behind a fact, in words
DATA_ZH = {
    "aum": "您在我行的资产",
    "aum_month_end": "您在我行的资产",
    "aum_growth": "您近期的资产变化",
    "next_tier_gap": "您距离下一客户层级的资产差额",
    "near_threshold": "您距离下一客户层级的资产差额",
    "maturing_7d_amount": "即将到期的存款或理财",
    "next_maturity_days": "即将到期的存款或理财",
    "same_name_out_7d": "近期转往他行本人账户的资金",
    "large_transfer_7d": "近期的大额转出",
    "days_to_payday": "您的代发工资日",
    "salary_months": "您的代发工资记录",
    "days_to_bonus": "您单位的奖金发放日",
    "days_to_birthday": "您的生日",
    "birthday_this_month": "您的生日",
    "risk_expires_in_days": "您风险测评的有效期",
    "risk_expiring": "您风险测评的有效期",
    "risk_valid": "您的风险测评结果",
    "days_since_last_txn": "您最近一次交易的时间",
    "fund_return": "您持有基金的收益",
    "health_change": "您的财富健康度变化",
    "health_score": "您的财富健康度",
    "tier_move": "您的客户层级变化",
    "age": "您的年龄",
    "pension_months": "您的养老金入账记录",
}

RULES_ZH = {
    "eligible": "事件与您的情况相符",
    "applicable": "您未拒绝此类服务",
    "suitable": "产品风险不高于您的风险承受能力(适当性)",
    "within_contact_policy": "您已同意通过该渠道联系，且未超过联系频次上限",
    "arbitrated": "在当天可做的服务中优先级较高",
    "within_capacity": "客户经理当天有时间为您服务",
}

CHANNEL_ZH = {"phone": "电话", "visit": "面谈", "wechat": "企业微信", "sms": "短信", "app": "手机银行"}

REFUSE = (
    "如您不希望收到基于个人信息的推荐，可随时告知客户经理或在手机银行中关闭“个性化推荐”，"
    "之后仅保留必要的服务通知。"
)


def trigger_zh(pb: LoadedPlaybook, name: str) -> str:
    """A trigger's name: the playbook's, or that of a path outside it (a handover,
    a lobby referral, a salon lead, a campaign)."""
    for t in pb.playbook.triggers:
        if t.name == name:
            return t.zh
    if name.startswith("campaign:"):
        return f"营销活动 {name.removeprefix('campaign:')}"
    return {"handover": "客户移交", "referral": "大堂转介", "micro_salon": "微沙龙"}.get(name, name)


def explain_task(
    explanation: Mapping[str, Any], pb: LoadedPlaybook, channel: str | None = None
) -> dict[str, Any]:
    """A task's stored explanation (trigger, rules, features, score) in words."""
    actions = {a.name: a.zh for a in pb.playbook.actions}
    trigger = explanation.get("trigger") or ""
    action = explanation.get("action") or ""
    used = []
    for f in explanation.get("features_used") or []:
        words = DATA_ZH.get(f)
        if words and words not in used:
            used.append(words)
    rules = [RULES_ZH[r] for r in explanation.get("rules_passed") or [] if r in RULES_ZH]
    kind = explanation.get("kind")
    why = f"因为“{trigger_zh(pb, trigger)}”，我们安排了“{actions.get(action, action)}”"
    if channel:
        why += f"，通过{CHANNEL_ZH.get(channel, channel)}联系您"
    return {
        "why": why + "。",
        "data_used": used or ["您在我行的基本信息"],
        "rules": rules,
        "marketing": kind == "marketing",
        "refuse": REFUSE if kind == "marketing" else "这是必要的服务或合规通知，不属于营销推荐。",
        "automated": True,
        # what raised or lowered the model's chance most (none: the playbook's prior)
        "propensity_reasons": list(explanation.get("propensity_reasons") or []),
    }


def explain_recommendation(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A recommended product's reasons and passed suitability rules in words."""
    rules = {
        "on_sale": "产品在售",
        "no_risk_product": "风险测评未完成或已过期，仅推荐不承担投资风险的产品",
        "risk_within_tolerance": "产品风险等级不高于您的风险承受能力",
        "reserve_before_lockup": "保留足够的流动资金后再配置长期产品",
        "not_held": "您尚未持有该产品",
        "min_amount_within_gap": "起购金额在您的配置缺口之内",
        "pension_rules": "养老产品按规定不展示预期收益",
    }
    passed = [rules.get(r, r) for r in str(rec.get("rules_passed") or "").split(";") if r]
    return {
        "product": rec.get("product_name"),
        "why": rec.get("reasons") or "",
        "rules": passed,
        "refuse": REFUSE,
        "automated": True,
    }
