"""The input tables of DOMAIN.md §3, one definition each.

Every table is one file per extract (``customers.csv`` or ``customers.parquet``)
or a folder of parts (``transactions/part-0001.csv`` …).
"""

from __future__ import annotations

from kequn.contract.schema import Column, ForeignKey, RowCheck, Table

CONTRACT_VERSION = "1.0"

BRANCH_LEVELS = ("head_office", "branch", "sub_branch", "outlet")
MANAGER_ROLES = (
    "private_banker",
    "wealth_manager",
    "remote_manager",
    "service_manager",
    "branch_head",
    "hq",
    "compliance",
    "lobby_manager",
    "teller",
)
OCCUPATIONS = (
    "civil_servant",
    "teacher",
    "doctor",
    "nurse",
    "researcher",
    "engineer",
    "office_worker",
    "executive",
    "merchant",
    "catering",
    "worker",
    "farmer",
    "driver",
    "self_employed",
    "student",
    "retired",
    "unemployed",
    "other",
)
INDUSTRIES = (
    "government",
    "public_institution",
    "education",
    "healthcare",
    "research",
    "oil_trade",
    "energy",
    "manufacturing",
    "trade",
    "finance",
    "technology",
    "construction",
    "catering",
    "agriculture",
    "other",
)
RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
PRODUCT_RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
PRODUCT_TYPES = (
    "demand_deposit",
    "time_deposit",
    "large_cd",
    "wealth_product",
    "fund",
    "insurance",
    "precious_metal",
    "trust",
    "pension",
    "individual_pension",
    "loan",
    "credit_card",
)
DEPOSIT_TYPES = ("demand_deposit", "time_deposit", "large_cd")
LIABILITY_TYPES = ("loan", "credit_card")
ASSET_CLASSES = ("cash", "fixed_income", "equity", "alternative", "protection", "liability")
#: each asset class as a banker names it (the allocation's five and the liabilities)
ASSET_CLASS_ZH = {
    "cash": "现金类",
    "fixed_income": "固收类",
    "equity": "权益类",
    "alternative": "另类",
    "protection": "保障类",
    "liability": "负债类",
}
LIQUIDITY = ("T0", "T1", "closed")
CHANNELS = (
    "counter",
    "atm",
    "mobile_app",
    "online",
    "pos",
    "unionpay_qr",
    "third_party_pay",
    "phone",
    "auto",
)
CREDIT_TYPES = ("salary", "pension", "transfer_in", "cash_deposit", "interest", "redemption")
DEBIT_TYPES = (
    "transfer_out",
    "card_spend",
    "bill_payment",
    "cash_withdrawal",
    "fee",
    "loan_repayment",
    "card_repayment",
    "purchase",
)
TXN_TYPES = (*CREDIT_TYPES, *DEBIT_TYPES, "other")
CONSENT_PURPOSES = (
    "marketing_phone",
    "marketing_sms",
    "marketing_wechat",
    "personalised_recommendation",
    "third_party_sharing",
    "sensitive_processing",
)
#: how a past contact was made (a bank's own codes are mapped onto these)
CONTACT_CHANNELS = ("phone", "visit", "wechat", "sms", "app", "mail", "branch", "other")
#: what came of a contact: the outcomes a manager logs in Kequn
CONTACT_OUTCOMES = (
    "reached",
    "not_reached",
    "interested",
    "declined",
    "sold",
    "maybe_later",
    "ignored",
    "complaint",
    "do_not_contact",
)
CONSENT_SOURCES = ("counter", "mobile_app", "online", "phone", "paper_contract", "wechat", "migration")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


BRANCHES = Table(
    name="branches",
    zh="机构",
    doc="The bank's organisation tree: head office › branches › sub-branches › outlets.",
    primary_key=("branch_id",),
    columns=(
        Column("branch_id", "str", "机构号", "Organisation code.", required=True, max_length=32),
        Column("name", "str", "机构名称", "Name of the organisation unit.", required=True, max_length=100),
        Column(
            "parent_id", "str", "上级机构号", "Parent unit; empty only for the head office.", max_length=32
        ),
        Column("level", "enum", "机构层级", "Level in the tree.", required=True, values=BRANCH_LEVELS),
        Column("city", "str", "所在城市", "City of the unit.", max_length=50),
    ),
    foreign_keys=(ForeignKey(("parent_id",), "branches", ("branch_id",)),),
)

MANAGERS = Table(
    name="managers",
    zh="客户经理及员工",
    doc="Staff who use Kequn: relationship managers by tier role, branch heads, HQ, "
    "compliance and branch-floor staff, with each one's daily contact capacity by channel.",
    primary_key=("manager_id",),
    columns=(
        Column("manager_id", "str", "员工号", "Staff number.", required=True, max_length=32),
        Column("name", "str", "姓名", "Staff member's name.", required=True, max_length=50, personal=True),
        Column("branch_id", "str", "所属机构", "Unit the staff member works in.", required=True),
        Column(
            "role",
            "enum",
            "岗位",
            "Role; decides which customers and pages they reach.",
            required=True,
            values=MANAGER_ROLES,
        ),
        Column("capacity_phone", "int", "日电话产能", "Phone contacts a day.", minimum=0, maximum=1000),
        Column(
            "capacity_visit", "int", "日面访产能", "Branch or outbound visits a day.", minimum=0, maximum=100
        ),
        Column(
            "capacity_wechat",
            "int",
            "日企微产能",
            "Enterprise-WeChat contacts a day.",
            minimum=0,
            maximum=5000,
        ),
        Column("capacity_sms", "int", "日短信产能", "SMS contacts a day.", minimum=0, maximum=100000),
        Column("active", "bool", "在岗", "False once the staff member has left."),
    ),
    foreign_keys=(ForeignKey(("branch_id",), "branches", ("branch_id",)),),
)

EMPLOYERS = Table(
    name="employers",
    zh="代发单位",
    doc="Employers whose staff are customers, most of them payroll (代发) clients. "
    "Optional: without it, employer segments and bonus-day triggers are off.",
    primary_key=("employer_id",),
    optional=True,
    columns=(
        Column("employer_id", "str", "单位编号", "Employer code.", required=True, max_length=32),
        Column("name", "str", "单位名称", "Employer's name.", required=True, max_length=200),
        Column(
            "industry",
            "enum",
            "行业",
            "Industry; drives segments such as civil service "
            "(行政事业单位), teachers (教师), talent (人才) and oil trade (油贸).",
            required=True,
            values=INDUSTRIES,
        ),
        Column("payday", "int", "发薪日", "Day of the month salaries are paid.", minimum=1, maximum=31),
        Column("bonus_date", "str", "奖金发放日", "Yearly bonus day as MM-DD.", check="month_day"),
        Column("payroll_agreement", "bool", "代发协议", "Pays salaries through the bank."),
        Column(
            "talent_employer",
            "bool",
            "人才单位",
            "University, hospital, research institute, large employer or 专精特新 enterprise.",
        ),
        Column("home_branch_id", "str", "开户机构", "Unit that serves the employer."),
    ),
    foreign_keys=(ForeignKey(("home_branch_id",), "branches", ("branch_id",)),),
)

CUSTOMERS = Table(
    name="customers",
    zh="个人客户",
    doc="Retail customers. Personal fields may be empty in a pseudonymised extract; when "
    "present they must be valid.",
    primary_key=("customer_id",),
    columns=(
        Column("customer_id", "str", "客户号", "Core-system customer number.", required=True, max_length=32),
        Column("name", "str", "姓名", "Customer's name.", max_length=50, personal=True),
        Column(
            "id_number",
            "str",
            "证件号码",
            "Resident ID number (居民身份证): 6-digit region, "
            "8-digit birth date, 3-digit sequence (odd for men), check digit.",
            check="id_number",
            personal=True,
        ),
        Column("phone", "str", "手机号码", "Mainland mobile number.", check="mobile", personal=True),
        Column("gender", "enum", "性别", "M or F.", required=True, values=("M", "F")),
        Column(
            "birth_date", "date", "出生日期", "Date of birth.", required=True, not_future=True, personal=True
        ),
        Column("occupation", "enum", "职业", "Occupation; decides visit windows.", values=OCCUPATIONS),
        Column("employer_id", "str", "工作单位", "Employer, if known."),
        Column("home_branch_id", "str", "归属机构", "Unit the customer belongs to.", required=True),
        Column("open_date", "date", "开户日期", "First account opened.", required=True, not_future=True),
        Column(
            "hukou_local",
            "bool",
            "本地户籍",
            "Local household registration; false marks new citizens (新市民).",
        ),
        Column(
            "risk_level",
            "enum",
            "风险承受能力等级",
            "Result of the last risk assessment.",
            values=RISK_LEVELS,
        ),
        Column(
            "risk_assessed_on",
            "date",
            "风险评估日期",
            "Date of the last risk assessment; valid 12 months.",
            not_future=True,
        ),
        Column("owner_manager_id", "str", "管户客户经理", "Owning manager; empty if unowned."),
        Column("dependants", "int", "供养人数", "People the customer supports.", minimum=0, maximum=20),
        Column("tags", "str", "客户标签", "Bank's own tags, separated by ';'.", max_length=1000),
    ),
    foreign_keys=(
        ForeignKey(("home_branch_id",), "branches", ("branch_id",)),
        ForeignKey(("owner_manager_id",), "managers", ("manager_id",)),
        ForeignKey(("employer_id",), "employers", ("employer_id",), optional_target=True),
    ),
    checks=(
        RowCheck(
            "date_order",
            "open_date",
            "open_date < birth_date",
            "an account cannot open before the customer's birth",
        ),
    ),
)

PRODUCTS = Table(
    name="products",
    zh="产品",
    doc="The product shelf (KYP): every product a customer can hold, with its tags.",
    primary_key=("product_id",),
    columns=(
        Column("product_id", "str", "产品代码", "Product code.", required=True, max_length=32),
        Column("name", "str", "产品名称", "Product name.", required=True, max_length=200),
        Column("type", "enum", "产品类型", "Product type.", required=True, values=PRODUCT_TYPES),
        Column(
            "risk_level",
            "enum",
            "产品风险等级",
            "Risk rating R1 (lowest) to R5.",
            required=True,
            values=PRODUCT_RISK_LEVELS,
        ),
        Column(
            "asset_class",
            "enum",
            "资产类别",
            "Asset class for allocation.",
            required=True,
            values=ASSET_CLASSES,
        ),
        Column(
            "liquidity",
            "enum",
            "流动性",
            "T0 same day, T1 next day, closed (封闭期).",
            required=True,
            values=LIQUIDITY,
        ),
        Column(
            "lockup_days", "int", "封闭期天数", "Days a closed product locks money.", minimum=0, maximum=36500
        ),
        Column("term_days", "int", "期限天数", "Term in days, for term products.", minimum=0, maximum=36500),
        Column("min_amount", "money", "起购金额", "Minimum subscription.", minimum=0),
        Column("issuer", "str", "发行机构", "Issuer or manager.", max_length=200),
        Column("is_pension", "bool", "养老产品", "Qualifies to be named and sold as pension (养老)."),
        Column("is_green", "bool", "绿色产品", "Green product."),
        Column(
            "expected_return",
            "rate",
            "业绩比较基准",
            "Expected yearly return, where known (never shown for pension products).",
            minimum=-1,
            maximum=1,
        ),
        Column("volatility", "rate", "波动率", "Yearly volatility, where known.", minimum=0, maximum=5),
        Column("fee_rate", "rate", "费率", "Yearly fee rate, where known.", minimum=0, maximum=1),
        Column("currency", "str", "币种", "ISO 4217 code, CNY by default.", check="currency"),
        Column("on_sale", "bool", "在售", "False for products no longer sold."),
    ),
)

HOLDINGS = Table(
    name="holdings",
    zh="持仓/账户",
    doc="Positions at month end: one row per account or position. Liabilities (loans, credit "
    "cards) are positive outstanding amounts.",
    primary_key=("account_id",),
    columns=(
        Column(
            "account_id",
            "str",
            "账号",
            "Account or position number.",
            required=True,
            max_length=40,
            personal=True,
        ),
        Column("customer_id", "str", "客户号", "Holder.", required=True),
        Column("product_id", "str", "产品代码", "Product held.", required=True),
        Column("balance", "money", "月末余额", "Balance at month end.", required=True),
        Column("avg_daily_balance_month", "money", "月日均余额", "Average daily balance over the month."),
        Column("cost", "money", "持仓成本", "Amount invested (for gain or loss)."),
        Column("currency", "str", "币种", "ISO 4217 code, CNY by default.", check="currency"),
        Column("open_date", "date", "开户/购买日期", "Opened or bought on.", required=True, not_future=True),
        Column("maturity_date", "date", "到期日", "Maturity, for term products."),
    ),
    foreign_keys=(
        ForeignKey(("customer_id",), "customers", ("customer_id",)),
        ForeignKey(("product_id",), "products", ("product_id",), reason="unknown_product_code"),
    ),
    checks=(
        RowCheck(
            "negative_deposit_balance",
            "balance",
            f"balance < 0 AND ref.type IN ({_quoted(DEPOSIT_TYPES)})",
            "deposit balances cannot be negative",
            lookup=("products", ("product_id",), ("product_id",)),
        ),
        RowCheck(
            "negative_balance",
            "balance",
            f"balance < 0 AND ref.type NOT IN ({_quoted(DEPOSIT_TYPES)})",
            "balances are positive; liabilities are positive outstanding amounts",
            lookup=("products", ("product_id",), ("product_id",)),
        ),
        RowCheck(
            "date_order",
            "maturity_date",
            "maturity_date < open_date",
            "a position cannot mature before it opened",
        ),
    ),
)

TRANSACTIONS = Table(
    name="transactions",
    zh="交易流水",
    doc="Transactions over the extract's months. Credits are positive, debits negative.",
    primary_key=("txn_id",),
    columns=(
        Column("txn_id", "str", "流水号", "Transaction number.", required=True, max_length=40),
        Column("customer_id", "str", "客户号", "Customer.", required=True),
        Column("account_id", "str", "账号", "Account, if known.", personal=True),
        Column(
            "ts",
            "timestamp",
            "交易时间",
            "When; a time without offset is Beijing time.",
            required=True,
            not_future=True,
        ),
        Column(
            "amount", "money", "交易金额", "Signed amount: credit positive, debit negative.", required=True
        ),
        Column("currency", "str", "币种", "ISO 4217 code, CNY by default.", check="currency"),
        Column("channel", "enum", "交易渠道", "Channel.", values=CHANNELS),
        Column(
            "type",
            "enum",
            "交易类型",
            "Salary 代发, pension, transfers, card spending, bill payments, cash and so on.",
            required=True,
            values=TXN_TYPES,
        ),
        Column("counterparty_bank", "str", "对方行", "Other bank of a transfer.", max_length=100),
        Column("same_name", "bool", "同名转账", "Transfer between the customer's own accounts (同名)."),
        Column(
            "merchant_category", "str", "商户类别码", "ISO 18245 merchant category code (MCC).", check="mcc"
        ),
        Column("employer_id", "str", "代发单位", "Paying employer, for salary credits."),
    ),
    foreign_keys=(ForeignKey(("customer_id",), "customers", ("customer_id",)),),
    checks=(
        RowCheck(
            "sign_mismatch",
            "amount",
            f"(type IN ({_quoted(CREDIT_TYPES)}) AND amount <= 0) OR "
            f"(type IN ({_quoted(DEBIT_TYPES)}) AND amount >= 0)",
            "credits are positive and debits negative",
        ),
    ),
)

CONSENTS = Table(
    name="consents",
    zh="授权同意",
    doc="Consent per purpose, with history: the latest row per customer and purpose holds.",
    primary_key=("customer_id", "purpose", "ts"),
    columns=(
        Column("customer_id", "str", "客户号", "Customer.", required=True),
        Column(
            "purpose",
            "enum",
            "授权用途",
            "What the consent is for; marketing purposes name their channel.",
            required=True,
            values=CONSENT_PURPOSES,
        ),
        Column(
            "granted", "bool", "是否同意", "Granted (true) or refused / withdrawn (false).", required=True
        ),
        Column(
            "ts", "timestamp", "授权时间", "When it was given or withdrawn.", required=True, not_future=True
        ),
        Column("source", "enum", "授权渠道", "Where it was collected.", values=CONSENT_SOURCES),
    ),
    foreign_keys=(ForeignKey(("customer_id",), "customers", ("customer_id",)),),
)

CONTACTS = Table(
    name="contacts",
    zh="历史接触记录",
    doc="Past contacts with their outcome, from the bank's call centre, campaigns and branches: "
    "what Kequn learns propensity from. Optional. A contact of a customer who has since left is "
    "history all the same, so the customer need not be in the extract. Columns the bank has "
    "about a contact beyond these (the customer's situation at the time, the campaign's "
    "conditions) are declared in the mapping as attributes and kept.",
    primary_key=("customer_id", "ts", "action"),
    optional=True,
    columns=(
        Column("contact_id", "str", "接触编号", "The bank's own number for the contact.", max_length=60),
        Column("customer_id", "str", "客户号", "Customer contacted.", required=True, max_length=32),
        Column(
            "ts",
            "timestamp",
            "接触时间",
            "When; a time without offset is Beijing time.",
            required=True,
            not_future=True,
        ),
        Column("channel", "enum", "接触渠道", "How the customer was reached.", values=CONTACT_CHANNELS),
        Column(
            "action",
            "str",
            "动作或营销代码",
            "The playbook's action, or the bank's own campaign or script code.",
            required=True,
            max_length=60,
        ),
        Column("campaign_id", "str", "营销活动", "The campaign the contact belonged to.", max_length=60),
        Column("product_id", "str", "产品代码", "Product offered, if any.", max_length=32),
        Column(
            "outcome",
            "enum",
            "接触结果",
            "What came of it (the bank's codes mapped onto Kequn's outcomes).",
            required=True,
            values=CONTACT_OUTCOMES,
        ),
        Column("amount", "money", "成交金额", "Amount sold, for a sale.", minimum=0),
        Column("manager_id", "str", "客户经理", "Who made the contact.", max_length=32),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (BRANCHES, MANAGERS, EMPLOYERS, CUSTOMERS, PRODUCTS, HOLDINGS, TRANSACTIONS, CONSENTS, CONTACTS)
}
#: the tables whose rows may carry the bank's own attributes (declared in a mapping)
ATTRIBUTE_TABLES = ("customers", "contacts")


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no table {name!r} in the contract; tables: {', '.join(TABLES)}") from None


def load_order() -> list[str]:
    """Tables ordered so that every referenced table comes first."""
    ordered: list[str] = []
    pending = dict(TABLES)
    while pending:
        for name, tbl in list(pending.items()):
            deps = {fk.ref_table for fk in tbl.foreign_keys} - {name}
            if deps <= set(ordered):
                ordered.append(name)
                del pending[name]
    return ordered
