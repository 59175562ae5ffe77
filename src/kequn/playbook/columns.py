"""The columns a playbook predicate may name, by the stage that computes them.

Predicates are checked against these names before any data is touched; the
pipeline computes every one of them (a test holds the two together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Type = Literal["int", "float", "str", "bool", "date", "list"]


@dataclass(frozen=True, slots=True)
class ColumnDoc:
    type: Type
    doc: str
    #: the name a banker reads (Chinese; English through the workbench's catalogue)
    label: str = ""
    #: an amount in CNY: entered and read back in 万元
    money: bool = False


#: per-customer facts, computed from the snapshot before any classification
FEATURES: dict[str, ColumnDoc] = {
    "age": ColumnDoc("int", "age in whole years on the as-of date", "年龄"),
    "gender": ColumnDoc("str", "M or F", "性别"),
    "occupation": ColumnDoc("str", "occupation code of the contract (teacher, doctor, …)", "职业"),
    "industry": ColumnDoc("str", "the employer's industry (government, education, oil_trade, …)", "所在行业"),
    "talent_employer": ColumnDoc(
        "bool", "works for a talent employer (university, hospital, …)", "人才单位员工"
    ),
    "hukou_local": ColumnDoc("bool", "local household registration; false for 新市民", "本地户籍"),
    "dependants": ColumnDoc("int", "people the customer supports", "供养人数"),
    "tenure_days": ColumnDoc("int", "days since the first account was opened", "开户天数"),
    "risk_level": ColumnDoc("str", "C1..C5, NULL if never assessed", "风险等级"),
    "risk_level_num": ColumnDoc("int", "1..5, 0 if never assessed", "风险等级(数字)"),
    "risk_valid": ColumnDoc("bool", "the risk assessment is within its validity", "风评在有效期内"),
    "risk_expires_in_days": ColumnDoc(
        "int", "days until the assessment expires (negative: expired; NULL: never assessed)", "风评到期天数"
    ),
    "tags": ColumnDoc("list", "the bank's own tags", "行内标签"),
    "owned": ColumnDoc("bool", "has an owning manager in the extract", "已有归属客户经理"),
    "aum": ColumnDoc(
        "float", "assets under management in CNY, on the playbook's basis", "资产(AUM)", money=True
    ),
    "aum_month_end": ColumnDoc("float", "AUM from month-end balances, CNY", "月末资产", money=True),
    "aum_avg_daily": ColumnDoc(
        "float", "AUM from monthly average daily balances, CNY", "月日均资产", money=True
    ),
    "deposits": ColumnDoc("float", "demand, time and large-CD deposits, CNY", "存款", money=True),
    "liabilities": ColumnDoc("float", "loans and card balances outstanding, CNY", "负债", money=True),
    "cash_amount": ColumnDoc("float", "cash-class assets, CNY", "现金类资产", money=True),
    "fixed_income_amount": ColumnDoc("float", "fixed-income assets, CNY", "固收类资产", money=True),
    "equity_amount": ColumnDoc("float", "equity assets, CNY", "权益类资产", money=True),
    "alternative_amount": ColumnDoc("float", "alternative assets, CNY", "另类资产", money=True),
    "protection_amount": ColumnDoc("float", "insurance and other protection, CNY", "保障类资产", money=True),
    "liquid_assets": ColumnDoc("float", "assets redeemable at T+0 or T+1, CNY", "流动资产", money=True),
    "fund_balance": ColumnDoc("float", "funds held, CNY", "基金持仓", money=True),
    "wealth_balance": ColumnDoc("float", "wealth products held, CNY", "理财持仓", money=True),
    "pension_balance": ColumnDoc(
        "float", "pension and individual-pension products held, CNY", "养老金融持仓", money=True
    ),
    "fund_return": ColumnDoc(
        "float", "funds' balance against their cost, minus 1 (NULL: none)", "基金收益率"
    ),
    "above_risk_share": ColumnDoc(
        "float",
        "share of AUM in products above the customer's risk level or held on an expired assessment",
        "超风险持仓占比",
    ),
    "n_products": ColumnDoc("int", "distinct products held (assets)", "持有产品数"),
    "first_time_investor": ColumnDoc("bool", "holds no wealth product, fund or trust", "首次投资客户"),
    "salary_months": ColumnDoc("int", "calendar months with a payroll (代发) credit", "代发工资月数"),
    "salary_monthly": ColumnDoc("float", "average payroll credit a month, CNY", "月均代发工资", money=True),
    "pension_months": ColumnDoc("int", "calendar months with a pension credit", "养老金入账月数"),
    "spend_monthly": ColumnDoc(
        "float", "own spending a month (cards, bills, cash), CNY", "月均消费", money=True
    ),
    "same_name_out": ColumnDoc(
        "float", "same-name transfers to other banks, CNY", "同名他行转出金额", money=True
    ),
    "same_name_out_count": ColumnDoc(
        "int", "number of same-name transfers to other banks", "同名他行转出笔数"
    ),
    "txn_count": ColumnDoc("int", "customer-initiated transactions in the extract", "主动交易笔数"),
    "days_since_last_txn": ColumnDoc(
        "int",
        "days since the last customer-initiated transaction (the window's length + 1 if none)",
        "距上次交易天数",
    ),
    "net_flow": ColumnDoc("float", "money in minus money out over the window, CNY", "资金净流入", money=True),
    "aum_growth": ColumnDoc(
        "float",
        "AUM growth over the period (vs the previous run, else estimated from the window's flows)",
        "资产增长率",
    ),
    "liquid_reserve_months": ColumnDoc(
        "float", "liquid assets in months of own spending", "流动资金可覆盖月数"
    ),
    "green_points": ColumnDoc("int", "green-energy points from low-carbon behaviours", "绿色积分"),
    "carbon_grams": ColumnDoc("float", "CO2e reduction from low-carbon behaviours, grams", "减碳量(克)"),
    "prev_dormant": ColumnDoc("bool", "was dormant at the previous run", "上次跑批为睡眠户"),
}

#: computed from the features by the playbook's own rules, in this order
CLASSIFICATIONS: dict[str, ColumnDoc] = {
    "tier": ColumnDoc("str", "tier name from the ladder, with hysteresis", "客户层级"),
    "prev_tier": ColumnDoc("str", "tier at the previous run (NULL: first run)", "上次层级"),
    "tier_move": ColumnDoc("str", "up, down, same or new", "层级变动"),
    "near_threshold": ColumnDoc("bool", "just below the next tier's line", "临近升级门槛"),
    "life_stage": ColumnDoc("str", "人生阶段 from the playbook's life stages", "人生阶段"),
    "lifecycle": ColumnDoc("str", "relationship lifecycle stage", "客户生命周期"),
}

#: in the finished profile, for customer groups and analysts
PROFILE: dict[str, ColumnDoc] = {
    "segments": ColumnDoc("list", "segments the customer belongs to", "客群分类"),
    "health_score": ColumnDoc(
        "float", "wealth-health score 0-100: the weighted mean of the components judged", "财富健康度"
    ),
    "health_allocation": ColumnDoc("float", "allocation-fit sub-score", "配置契合得分"),
    "health_growth": ColumnDoc("float", "growth sub-score (NULL: cannot be judged)", "资产增速得分"),
    "health_liquidity": ColumnDoc("float", "liquidity sub-score (NULL: cannot be judged)", "流动性得分"),
    "health_risk_match": ColumnDoc("float", "risk-match sub-score (NULL: cannot be judged)", "风险匹配得分"),
    "health_diversification": ColumnDoc("float", "diversification sub-score", "分散度得分"),
    "health_protection": ColumnDoc("float", "protection sub-score (NULL: cannot be judged)", "保障得分"),
    "health_maturity": ColumnDoc(
        "float", "maturity-ladder sub-score (NULL: cannot be judged)", "期限阶梯得分"
    ),
    "home_branch_id": ColumnDoc("str", "the customer's unit", "所属机构"),
}

#: facts that only triggers read (computed by the pipeline, kept in the profile)
TRIGGER_FEATURES: dict[str, ColumnDoc] = {
    "maturing_7d_amount": ColumnDoc(
        "float", "term products maturing within 7 days, CNY", "7日内到期金额", money=True
    ),
    "next_maturity_days": ColumnDoc("int", "days to the next maturity (NULL: none)", "距下次到期天数"),
    "birthday_this_month": ColumnDoc("bool", "the birthday falls in the as-of month", "本月生日"),
    "days_to_birthday": ColumnDoc("int", "days to the next birthday", "距生日天数"),
    "days_to_payday": ColumnDoc(
        "int", "days to the employer's next payday (NULL: no employer)", "距发薪日天数"
    ),
    "days_to_bonus": ColumnDoc("int", "days to the employer's next bonus day", "距奖金发放天数"),
    "same_name_out_7d": ColumnDoc(
        "float", "same-name transfers to other banks, last 7 days, CNY", "近7日同名他行转出", money=True
    ),
    "large_transfer_7d": ColumnDoc(
        "float", "the largest transfer out in the last 7 days, CNY", "近7日最大单笔转出", money=True
    ),
    "prev_health_score": ColumnDoc("float", "health score at the previous run", "上次财富健康度"),
    "health_change": ColumnDoc("float", "health score change since the previous run", "财富健康度变化"),
}

#: fields of a real-time event; NULL in the nightly batch
EVENT: dict[str, ColumnDoc] = {
    "event_type": ColumnDoc(
        "str", "product_view, visit_booked, check_in, complaint, transfer_out, …", "事件类型"
    ),
    "event_product_id": ColumnDoc("str", "the product the event is about", "事件产品"),
    "event_views_7d": ColumnDoc("int", "views of that product in the last 7 days", "近7日浏览次数"),
    "event_amount": ColumnDoc("float", "the event's amount, CNY", "事件金额", money=True),
}

#: transaction columns, for carbon behaviours
TRANSACTION: dict[str, ColumnDoc] = {
    "type": ColumnDoc("str", "transaction type", "交易类型"),
    "channel": ColumnDoc("str", "channel", "渠道"),
    "merchant_category": ColumnDoc("str", "ISO 18245 MCC", "商户类别码"),
    "amount": ColumnDoc("float", "signed amount", "交易金额"),
    "counterparty_bank": ColumnDoc("str", "other bank of a transfer", "对方银行"),
    "same_name": ColumnDoc("bool", "same-name transfer", "同名转账"),
}

SCOPES: dict[str, dict[str, ColumnDoc]] = {
    "features": FEATURES,
    "classified": {**FEATURES, **CLASSIFICATIONS},
    "profile": {**FEATURES, **CLASSIFICATIONS, **PROFILE},
    "transaction": TRANSACTION,
    "trigger": {**FEATURES, **CLASSIFICATIONS, **PROFILE, **TRIGGER_FEATURES, **EVENT},
}
