"""Explanations of automated decisions a customer could read (PIPL art. 24):
why this contact or product, which of their data it used, which rules it
passed, and how to refuse personalised targeting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kequn.playbook import LoadedPlaybook

#: the customer's data behind a fact, in words (Chinese, English)
DATA = {
    "aum": ("您在我行的资产", "your assets with the bank"),
    "aum_month_end": ("您在我行的资产", "your assets with the bank"),
    "aum_growth": ("您近期的资产变化", "the recent change in your assets"),
    "next_tier_gap": ("您距离下一客户层级的资产差额", "how far your assets are from the next customer tier"),
    "near_threshold": ("您距离下一客户层级的资产差额", "how far your assets are from the next customer tier"),
    "maturing_7d_amount": ("即将到期的存款或理财", "deposits or wealth products about to mature"),
    "next_maturity_days": ("即将到期的存款或理财", "deposits or wealth products about to mature"),
    "same_name_out_7d": (
        "近期转往他行本人账户的资金",
        "money you recently moved to your own accounts at other banks",
    ),
    "large_transfer_7d": ("近期的大额转出", "a recent large transfer out"),
    "days_to_payday": ("您的代发工资日", "your payday"),
    "salary_months": ("您的代发工资记录", "your salary credits"),
    "days_to_bonus": ("您单位的奖金发放日", "your employer's bonus date"),
    "days_to_birthday": ("您的生日", "your birthday"),
    "birthday_this_month": ("您的生日", "your birthday"),
    "risk_expires_in_days": ("您风险测评的有效期", "when your risk assessment expires"),
    "risk_expiring": ("您风险测评的有效期", "when your risk assessment expires"),
    "risk_valid": ("您的风险测评结果", "your risk assessment"),
    "days_since_last_txn": ("您最近一次交易的时间", "when you last made a transaction"),
    "fund_return": ("您持有基金的收益", "the return on your funds"),
    "health_change": ("您的财富健康度变化", "the change in your wealth health"),
    "health_score": ("您的财富健康度", "your wealth health"),
    "tier_move": ("您的客户层级变化", "the change in your customer tier"),
    "age": ("您的年龄", "your age"),
    "pension_months": ("您的养老金入账记录", "your pension credits"),
}
BASIC_DATA = ("您在我行的基本信息", "your basic details with the bank")

#: what each stage a task passed means to the customer
RULES = {
    "eligible": ("事件与您的情况相符", "the event matches your situation"),
    "applicable": ("您未拒绝此类服务", "you have not refused this kind of service"),
    "suitable": (
        "产品风险不高于您的风险承受能力(适当性)",
        "the product's risk is within your risk tolerance (suitability)",
    ),
    "within_contact_policy": (
        "您已同意通过该渠道联系，且未超过联系频次上限",
        "you agreed to be contacted this way, and we have not contacted you too often",
    ),
    "arbitrated": (
        "在当天可做的服务中优先级较高",
        "it ranked high among the services we could offer that day",
    ),
    "within_capacity": ("客户经理当天有时间为您服务", "your relationship manager has time for you that day"),
}

CHANNELS = {
    "phone": ("电话", "phone"),
    "visit": ("面谈", "a meeting"),
    "wechat": ("企业微信", "WeCom"),
    "sms": ("短信", "text message"),
    "app": ("手机银行", "the mobile banking app"),
}

REFUSE = (
    "如您不希望收到基于个人信息的推荐，可随时告知客户经理或在手机银行中关闭“个性化推荐”，"
    "之后仅保留必要的服务通知。"
)
REFUSE_EN = (
    "If you do not want recommendations based on your personal information, tell your "
    "relationship manager or turn off personalised recommendations in the mobile banking app "
    "at any time; only necessary service notices will remain."
)
SERVICE = (
    "这是必要的服务或合规通知，不属于营销推荐。",
    "This is a necessary service or compliance notice, not marketing.",
)

#: a recommendation's suitability rules, in words
RECOMMENDATION_RULES = {
    "on_sale": ("产品在售", "the product is on sale"),
    "no_risk_product": (
        "风险测评未完成或已过期，仅推荐不承担投资风险的产品",
        "no valid risk assessment: only products without investment risk are recommended",
    ),
    "risk_within_tolerance": (
        "产品风险等级不高于您的风险承受能力",
        "the product's risk is within your risk tolerance",
    ),
    "reserve_before_lockup": (
        "保留足够的流动资金后再配置长期产品",
        "enough ready money is kept before any long-term product",
    ),
    "not_held": ("您尚未持有该产品", "you do not hold it yet"),
    "min_amount_within_gap": (
        "起购金额在您的配置缺口之内",
        "its minimum amount is within your allocation gap",
    ),
    "pension_rules": (
        "养老产品按规定不展示预期收益",
        "as a pension product, no expected return is shown, as the rules require",
    ),
}

OUTSIDE_PLAYBOOK = {
    "handover": ("客户移交", "customer handover"),
    "referral": ("大堂转介", "lobby referral"),
    "micro_salon": ("微沙龙", "micro-salon"),
}


def trigger_zh(pb: LoadedPlaybook, name: str) -> str:
    """A trigger's name: the playbook's, or that of a path outside it (a handover,
    a lobby referral, a salon lead, a campaign)."""
    return trigger_name(pb, name, 0)


def trigger_name(pb: LoadedPlaybook, name: str, language: int) -> str:
    """A trigger's name in Chinese (``language`` 0) or English (1)."""
    for t in pb.playbook.triggers:
        if t.name == name:
            return (t.zh, t.en)[language]
    if name.startswith("campaign:"):
        return ("营销活动 ", "campaign ")[language] + name.removeprefix("campaign:")
    return OUTSIDE_PLAYBOOK[name][language] if name in OUTSIDE_PLAYBOOK else name


def explain_task(
    explanation: Mapping[str, Any], pb: LoadedPlaybook, channel: str | None = None
) -> dict[str, Any]:
    """A task's stored explanation (trigger, rules, features, score) in words: in
    Chinese, with the same in English under ``en``."""
    trigger = explanation.get("trigger") or ""
    action = explanation.get("action") or ""
    kind = explanation.get("kind")
    said = []
    for lang in (0, 1):
        actions = {a.name: (a.zh, a.en)[lang] for a in pb.playbook.actions}
        used: list[str] = []
        for f in explanation.get("features_used") or []:
            words = DATA[f][lang] if f in DATA else None
            if words and words not in used:
                used.append(words)
        named, done = trigger_name(pb, trigger, lang), actions.get(action, action)
        by = CHANNELS[channel][lang] if channel in CHANNELS else channel
        if lang == 0:
            why = f"因为“{named}”，我们安排了“{done}”" + (f"，通过{by}联系您" if channel else "") + "。"
        else:
            why = f"Because of “{named}”, we arranged “{done}”" + (f", by {by}" if channel else "") + "."
        said.append(
            {
                "why": why,
                "data_used": used or [BASIC_DATA[lang]],
                "rules": [RULES[r][lang] for r in explanation.get("rules_passed") or [] if r in RULES],
                "refuse": (REFUSE, REFUSE_EN)[lang] if kind == "marketing" else SERVICE[lang],
            }
        )
    return {
        **said[0],
        "marketing": kind == "marketing",
        "automated": True,
        # what raised or lowered the model's chance most (none: the playbook's prior)
        "propensity_reasons": list(explanation.get("propensity_reasons") or []),
        "en": said[1],
    }


def explain_recommendation(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A recommended product's reasons and passed suitability rules in words (the
    reasons as the run wrote them, in Chinese; the page reads them in its language)."""
    codes = [r for r in str(rec.get("rules_passed") or "").split(";") if r]
    said = [
        {
            "why": rec.get("reasons") or "",
            "rules": [RECOMMENDATION_RULES[r][lang] if r in RECOMMENDATION_RULES else r for r in codes],
            "refuse": (REFUSE, REFUSE_EN)[lang],
        }
        for lang in (0, 1)
    ]
    return {"product": rec.get("product_name"), **said[0], "automated": True, "en": said[1]}
