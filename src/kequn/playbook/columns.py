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


#: per-customer facts, computed from the snapshot before any classification
FEATURES: dict[str, ColumnDoc] = {
    "age": ColumnDoc("int", "age in whole years on the as-of date"),
    "gender": ColumnDoc("str", "M or F"),
    "occupation": ColumnDoc("str", "occupation code of the contract (teacher, doctor, …)"),
    "industry": ColumnDoc("str", "the employer's industry (government, education, oil_trade, …)"),
    "talent_employer": ColumnDoc("bool", "works for a talent employer (university, hospital, …)"),
    "hukou_local": ColumnDoc("bool", "local household registration; false for 新市民"),
    "dependants": ColumnDoc("int", "people the customer supports"),
    "tenure_days": ColumnDoc("int", "days since the first account was opened"),
    "risk_level": ColumnDoc("str", "C1..C5, NULL if never assessed"),
    "risk_level_num": ColumnDoc("int", "1..5, 0 if never assessed"),
    "risk_valid": ColumnDoc("bool", "the risk assessment is within its validity"),
    "risk_expires_in_days": ColumnDoc(
        "int", "days until the assessment expires (negative: expired; NULL: never assessed)"
    ),
    "tags": ColumnDoc("list", "the bank's own tags"),
    "owned": ColumnDoc("bool", "has an owning manager in the extract"),
    "aum": ColumnDoc("float", "assets under management in CNY, on the playbook's basis"),
    "aum_month_end": ColumnDoc("float", "AUM from month-end balances, CNY"),
    "aum_avg_daily": ColumnDoc("float", "AUM from monthly average daily balances, CNY"),
    "deposits": ColumnDoc("float", "demand, time and large-CD deposits, CNY"),
    "liabilities": ColumnDoc("float", "loans and card balances outstanding, CNY"),
    "cash_amount": ColumnDoc("float", "cash-class assets, CNY"),
    "fixed_income_amount": ColumnDoc("float", "fixed-income assets, CNY"),
    "equity_amount": ColumnDoc("float", "equity assets, CNY"),
    "alternative_amount": ColumnDoc("float", "alternative assets, CNY"),
    "protection_amount": ColumnDoc("float", "insurance and other protection, CNY"),
    "liquid_assets": ColumnDoc("float", "assets redeemable at T+0 or T+1, CNY"),
    "fund_balance": ColumnDoc("float", "funds held, CNY"),
    "wealth_balance": ColumnDoc("float", "wealth products held, CNY"),
    "pension_balance": ColumnDoc("float", "pension and individual-pension products held, CNY"),
    "fund_return": ColumnDoc("float", "funds' balance against their cost, minus 1 (NULL: none)"),
    "above_risk_share": ColumnDoc(
        "float", "share of AUM in products above the customer's risk level or held on an expired assessment"
    ),
    "n_products": ColumnDoc("int", "distinct products held (assets)"),
    "first_time_investor": ColumnDoc("bool", "holds no wealth product, fund or trust"),
    "salary_months": ColumnDoc("int", "calendar months with a payroll (代发) credit"),
    "salary_monthly": ColumnDoc("float", "average payroll credit a month, CNY"),
    "pension_months": ColumnDoc("int", "calendar months with a pension credit"),
    "spend_monthly": ColumnDoc("float", "own spending a month (cards, bills, cash), CNY"),
    "same_name_out": ColumnDoc("float", "same-name transfers to other banks, CNY"),
    "same_name_out_count": ColumnDoc("int", "number of same-name transfers to other banks"),
    "txn_count": ColumnDoc("int", "customer-initiated transactions in the extract"),
    "days_since_last_txn": ColumnDoc(
        "int", "days since the last customer-initiated transaction (the window's length + 1 if none)"
    ),
    "net_flow": ColumnDoc("float", "money in minus money out over the window, CNY"),
    "aum_growth": ColumnDoc(
        "float", "AUM growth over the period (vs the previous run, else estimated from the window's flows)"
    ),
    "liquid_reserve_months": ColumnDoc("float", "liquid assets in months of own spending"),
    "green_points": ColumnDoc("int", "green-energy points from low-carbon behaviours"),
    "carbon_grams": ColumnDoc("float", "CO2e reduction from low-carbon behaviours, grams"),
    "prev_dormant": ColumnDoc("bool", "was dormant at the previous run"),
}

#: computed from the features by the playbook's own rules, in this order
CLASSIFICATIONS: dict[str, ColumnDoc] = {
    "tier": ColumnDoc("str", "tier name from the ladder, with hysteresis"),
    "prev_tier": ColumnDoc("str", "tier at the previous run (NULL: first run)"),
    "tier_move": ColumnDoc("str", "up, down, same or new"),
    "near_threshold": ColumnDoc("bool", "just below the next tier's line"),
    "life_stage": ColumnDoc("str", "人生阶段 from the playbook's life stages"),
    "lifecycle": ColumnDoc("str", "relationship lifecycle stage"),
}

#: in the finished profile, for customer groups and analysts
PROFILE: dict[str, ColumnDoc] = {
    "segments": ColumnDoc("list", "segments the customer belongs to"),
    "health_score": ColumnDoc("float", "wealth-health score 0-100"),
    "health_allocation": ColumnDoc("float", "allocation-fit sub-score"),
    "health_growth": ColumnDoc("float", "growth sub-score"),
    "health_liquidity": ColumnDoc("float", "liquidity sub-score"),
    "health_risk_match": ColumnDoc("float", "risk-match sub-score"),
    "health_diversification": ColumnDoc("float", "diversification sub-score"),
    "health_protection": ColumnDoc("float", "protection sub-score"),
    "health_maturity": ColumnDoc("float", "maturity-ladder sub-score"),
    "home_branch_id": ColumnDoc("str", "the customer's unit"),
}

#: facts that only triggers read (computed by the pipeline, kept in the profile)
TRIGGER_FEATURES: dict[str, ColumnDoc] = {
    "maturing_7d_amount": ColumnDoc("float", "term products maturing within 7 days, CNY"),
    "next_maturity_days": ColumnDoc("int", "days to the next maturity (NULL: none)"),
    "birthday_this_month": ColumnDoc("bool", "the birthday falls in the as-of month"),
    "days_to_birthday": ColumnDoc("int", "days to the next birthday"),
    "days_to_payday": ColumnDoc("int", "days to the employer's next payday (NULL: no employer)"),
    "days_to_bonus": ColumnDoc("int", "days to the employer's next bonus day"),
    "same_name_out_7d": ColumnDoc("float", "same-name transfers to other banks, last 7 days, CNY"),
    "large_transfer_7d": ColumnDoc("float", "the largest transfer out in the last 7 days, CNY"),
    "prev_health_score": ColumnDoc("float", "health score at the previous run"),
    "health_change": ColumnDoc("float", "health score change since the previous run"),
}

#: fields of a real-time event; NULL in the nightly batch
EVENT: dict[str, ColumnDoc] = {
    "event_type": ColumnDoc("str", "product_view, visit_booked, check_in, complaint, transfer_out, …"),
    "event_product_id": ColumnDoc("str", "the product the event is about"),
    "event_views_7d": ColumnDoc("int", "views of that product in the last 7 days"),
    "event_amount": ColumnDoc("float", "the event's amount, CNY"),
}

#: transaction columns, for carbon behaviours
TRANSACTION: dict[str, ColumnDoc] = {
    "type": ColumnDoc("str", "transaction type"),
    "channel": ColumnDoc("str", "channel"),
    "merchant_category": ColumnDoc("str", "ISO 18245 MCC"),
    "amount": ColumnDoc("float", "signed amount"),
    "counterparty_bank": ColumnDoc("str", "other bank of a transfer"),
    "same_name": ColumnDoc("bool", "same-name transfer"),
}

SCOPES: dict[str, dict[str, ColumnDoc]] = {
    "features": FEATURES,
    "classified": {**FEATURES, **CLASSIFICATIONS},
    "profile": {**FEATURES, **CLASSIFICATIONS, **PROFILE},
    "transaction": TRANSACTION,
    "trigger": {**FEATURES, **CLASSIFICATIONS, **PROFILE, **TRIGGER_FEATURES, **EVENT},
}
