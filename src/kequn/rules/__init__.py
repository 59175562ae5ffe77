"""The rules a bank must never break, each written once, as Ibis expressions.

Every rule family has its module: ``suitability`` (适当性: risk within
tolerance, a valid assessment, pension rules, reserve before a lock-up, dual
recording), ``consent`` (purpose and channel, do-not-contact, personalised
opt-out), ``contact`` (the marketing cap, suppression, snoozes, one open task
per action). The expressions read columns of a table, never a particular
one: the nightly batch compiles them over every customer on DuckDB or Spark,
and a real-time event evaluates the very same compiled SQL on its one
customer's rows (``kequn.rules.local``).

This module names what a drop can say: every rule that can stop a pair, the
stage it belongs to, and its words in Chinese and English. A reason code that
is not here cannot be recorded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    stage: str
    zh: str
    en: str


#: the funnel's stages in order: a pair stopped at one passed every stage before it
STAGES: tuple[Stage, ...] = (
    Stage("eligible", "资格", "eligible"),
    Stage("applicable", "适用", "applicable"),
    Stage("suitable", "适当性", "suitable"),
    Stage("within_contact_policy", "触达规则", "within the contact policy"),
    Stage("arbitrated", "择优", "arbitrated"),
    Stage("within_capacity", "产能", "within capacity"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)

RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule("left_bank", "eligible", "客户已离行(已不在本行的数据中)", "the customer has left the bank"),
        Rule("unowned", "eligible", "客户尚无管户客户经理", "no manager owns the customer"),
        Rule("inactive_manager", "eligible", "管户客户经理已离岗", "the customer's manager has left"),
        Rule(
            "personalised_opt_out",
            "applicable",
            "客户已拒绝个性化营销",
            "the customer refused personalised marketing",
        ),
        Rule(
            "no_suitable_product",
            "suitable",
            "没有适合客户的产品可填补该动作所需的配置缺口",
            "no suitable product fills the gap the action needs",
        ),
        Rule("on_sale", "suitable", "产品已停售", "the product is no longer sold"),
        Rule(
            "risk_within_tolerance",
            "suitable",
            "产品风险等级高于客户风险承受能力",
            "the product's risk is above the customer's risk tolerance",
        ),
        Rule(
            "valid_assessment",
            "suitable",
            "客户风险测评未做或已过期，不得推荐风险产品",
            "no valid risk assessment: no risk product may be offered",
        ),
        Rule(
            "reserve_before_lockup",
            "suitable",
            "客户流动性储备不足6个月支出，不推荐封闭期产品",
            "the customer's liquid reserve is below the months a closed product needs",
        ),
        Rule(
            "pension_rules",
            "suitable",
            "不符合养老产品销售规则(期限、年龄或测评)，或已过个人养老金缴存年龄",
            "the pension product's rules are not met (term, age or assessment), "
            "or the customer is past paying into an individual pension",
        ),
        Rule(
            "do_not_contact",
            "within_contact_policy",
            "客户要求不再联系",
            "the customer asked not to be contacted",
        ),
        Rule(
            "already_open",
            "within_contact_policy",
            "该客户同一动作已有未完成任务",
            "the same action is already open for this customer",
        ),
        Rule(
            "no_consent_for_channel",
            "within_contact_policy",
            "动作的渠道均未获客户授权",
            "no channel of the action has the customer's consent",
        ),
        Rule(
            "no_consent_for_campaign_channel",
            "within_contact_policy",
            "活动指定的渠道均未获客户授权",
            "none of the campaign's channels has the customer's consent",
        ),
        Rule(
            "marketing_cap",
            "within_contact_policy",
            "营销频次已达上限(周期内已有营销触达)",
            "a marketing contact within the cap period already",
        ),
        Rule(
            "suppressed",
            "within_contact_policy",
            "客户近期多次忽略或拒绝，该动作暂停",
            "ignored or declined too often recently: paused",
        ),
        Rule(
            "snoozed",
            "within_contact_policy",
            "客户表示“以后再说”，暂缓联系",
            "the customer said 'maybe later'",
        ),
        Rule(
            "contacted_recently",
            "within_contact_policy",
            "近期已就该动作或同一事由联系过客户，间隔期内不再重复",
            "this action, or another for the same occasion, reached the customer recently: "
            "not repeated so soon",
        ),
        Rule(
            "outranked",
            "arbitrated",
            "当天该客户有更优先的动作",
            "another action ranked higher for this customer today",
        ),
        Rule(
            "over_capacity",
            "within_capacity",
            "客户经理所有可用渠道的当日产能已满",
            "the manager's capacity on every allowed channel was full",
        ),
    )
}

#: what a path that skips a stage on purpose says in its tasks' explanation
SKIPPED: dict[str, tuple[str, str]] = {
    "in_person": (
        "客户在网点现场，转介不占用客户经理产能，也不受营销频次限制",
        "the customer is in the branch: a referral takes no capacity and no marketing cap",
    ),
    "chosen_by_staff": (
        "由员工挑选的客户(沙龙线索)，不参与当日择优，不占用批量产能",
        "chosen by staff (a salon lead): not arbitrated, no batch capacity",
    ),
}


def rule(code: str) -> Rule:
    try:
        return RULES[code]
    except KeyError:
        raise KeyError(f"no rule {code!r}: a drop must name one of {', '.join(RULES)}") from None


def stage(name: str) -> Stage:
    return next(s for s in STAGES if s.name == name)


def passed_before(stage_name: str) -> list[str]:
    """The stages a pair stopped at ``stage_name`` passed (all of them for a task)."""
    if stage_name == "task":
        return list(STAGE_NAMES)
    return list(STAGE_NAMES[: STAGE_NAMES.index(stage_name)])
