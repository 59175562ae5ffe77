"""The playbook's shape: every bank-specific choice of DOMAIN.md, as immutable types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kequn.contract.tables import MANAGER_ROLES, PRODUCT_TYPES

ASSET_CLASSES = ("cash", "fixed_income", "equity", "alternative", "protection")
RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
HEALTH_COMPONENTS = (
    "allocation",
    "growth",
    "liquidity",
    "risk_match",
    "diversification",
    "protection",
    "maturity",
)
BANDS = ("poor", "fair", "good")
#: the band of a component that cannot be judged for a customer (growth on a
#: bank's first run has no earlier period; liquidity with no spending to count
#: months of; risk match with no valid risk assessment has nothing to measure
#: against; a maturity ladder needs two fixed-term holdings; protection past the
#: age cover is bought is not measured against the family's needs): its finding
#: says so rather than calling it steady, matched, well spread or low
UNKNOWN_BAND = "unknown"
#: components that can be unknown, where the playbook gives texts for that band
#: (a playbook without them, written before a component could be unknown,
#: judges that component in the three bands as it did)
MAY_BE_UNKNOWN = ("growth", "liquidity", "risk_match", "maturity", "protection")
RECOMMENDATION_FACTORS = ("gap_fit", "popularity", "return", "green")


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(Frozen):
    name: str
    version: str
    description: str = ""


class Tier(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    zh: str
    #: the name in English (the workbench in English; empty: the code is shown)
    en: str = ""
    min_aum: float = Field(ge=0)
    owner_role: Literal[MANAGER_ROLES]  # type: ignore[valid-type]
    diagnoses_per_year: int = Field(default=0, ge=0, le=12)
    service: str = ""


class Tiers(Frozen):
    basis: Literal["avg_daily", "month_end"] = "avg_daily"
    #: a customer leaves a tier downwards only below line x (1 - hysteresis)
    hysteresis: float = Field(ge=0, le=0.5)
    #: within this share below the next line: near threshold (资产升级)
    near_threshold: float = Field(ge=0, le=0.5)
    ladder: list[Tier] = Field(min_length=2)


class Rule(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    zh: str
    #: the name in English (the workbench in English; empty: the code is shown)
    en: str = ""
    when: str
    doc: str = ""


class Stages(Frozen):
    """Ordered rules: the first that holds names the stage, else ``default``."""

    default: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    default_zh: str
    default_en: str = ""
    rules: list[Rule]


class Portfolios(Frozen):
    #: risk level -> life stage -> asset class -> target weight
    targets: dict[str, dict[str, dict[str, float]]]


class Texts(Frozen):
    finding: str
    action: str


class Health(Frozen):
    weights: dict[str, float]
    #: sub-scores below ``poor_below`` are poor, from ``good_from`` on good
    poor_below: float = Field(default=40, ge=0, le=100)
    good_from: float = Field(default=70, ge=0, le=100)
    #: AUM growth that scores 100 (and its negative scores 0)
    growth_full_at: float = Field(default=0.2, gt=0)
    #: months of own spending that liquid assets should cover
    liquidity_months: float = Field(default=6, gt=0)
    #: sub-score points lost per percentage point of AUM above the risk level
    risk_mismatch_penalty: float = Field(default=2.5, gt=0)
    #: number of products at which diversification scores 100
    diversification_target: int = Field(default=4, ge=2)
    #: protection amount that scores 100, per dependant plus one for the customer
    protection_per_person: float = Field(default=100_000, gt=0)
    #: from this age cover is not bought: missing protection is no longer held
    #: against the score, nor is protection recommended
    protection_until_age: int = Field(default=65, ge=18)
    #: the staged target for a book's average score, by quarter of the year
    #: (1-4): Ping An's 财富健康度 targets rise stage by stage
    quarter_targets: dict[int, float] = Field(default={1: 48.0, 2: 50.0, 3: 52.0, 4: 54.0})
    texts: dict[str, dict[str, Texts]]


class Suitability(Frozen):
    assessment_valid_days: int = Field(default=365, ge=1)
    expiring_within_days: int = Field(default=30, ge=0)
    dual_recording_age: int = Field(default=65, ge=18)
    dual_recording_min_risk: int = Field(default=3, ge=1, le=5)
    closed_min_reserve_months: float = Field(default=6, ge=0)
    pension_min_term_days: int = Field(default=1825, ge=0)
    pension_min_age: int = Field(default=40, ge=18)
    #: 个人养老金 is paid into until the basic pension is drawn: not offered from this age
    individual_pension_until_age: int = Field(default=60, ge=18)
    #: product types that count as risk products: never offered on an expired or
    #: missing assessment
    risk_product_types: list[str]


class Recommendations(Frozen):
    per_customer: int = Field(default=3, ge=1, le=10)
    candidates_per_bucket: int = Field(default=12, ge=1, le=100)
    min_gap_share: float = Field(default=0.05, ge=0, le=1)
    min_gap_amount: float = Field(default=1000, ge=0)
    weights: dict[str, float]


class Behaviour(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    zh: str
    #: the name in English (the workbench in English; empty: the code is shown)
    en: str = ""
    when: str
    grams: float = Field(ge=0)
    points: int = Field(ge=0)


class Carbon(Frozen):
    note: str
    behaviours: list[Behaviour] = Field(min_length=1)


CHANNELS = ("phone", "visit", "wechat", "sms", "app")


class Action(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    zh: str
    #: the name in English (the workbench in English; empty: the code is shown)
    en: str = ""
    #: marketing is capped and needs marketing consent for its channel; service
    #: and compliance are not marketing, but go only through channels allowed
    kind: Literal["marketing", "service", "compliance"]
    #: uses the customer's profile to target them: off for those who opted out
    personalised: bool = False
    channels: list[Literal[CHANNELS]] = Field(min_length=1)  # type: ignore[valid-type]
    #: offer the customer's best suitable product, from this asset class or any
    product: Literal["none", "any", "cash", "fixed_income", "equity", "alternative", "protection"] = "none"
    #: value in CNY of doing it, an expression over the trigger columns
    value: str
    #: chance of success before there are outcomes to learn from
    prior: float = Field(ge=0, le=1)
    talk_track: str
    visit_material: str = ""


class Trigger(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    zh: str
    #: the name in English (the workbench in English; empty: the code is shown)
    en: str = ""
    when: str
    urgency: float = Field(ge=0, le=1)
    actions: list[str] = Field(min_length=1)
    doc: str = ""


class ContactPolicy(Frozen):
    #: at most ``marketing_cap`` marketing contacts per customer per ``cap_days``
    marketing_cap: int = Field(default=1, ge=0)
    cap_days: int = Field(default=7, ge=1)
    #: an action ignored or declined ``suppress_after`` times in ``suppress_window_days``
    #: is paused for ``suppress_days``
    suppress_after: int = Field(default=2, ge=1)
    suppress_window_days: int = Field(default=30, ge=1)
    suppress_days: int = Field(default=60, ge=1)
    #: "maybe later" snoozes the action this long instead of counting against it
    snooze_days: int = Field(default=14, ge=1)
    #: an action that reached the customer (whatever they answered) is not raised
    #: for them again for this many days: a manager does not find yesterday's
    #: conversation as today's task (0: no pause)
    recontact_days: int = Field(default=7, ge=0)
    #: the consent purpose each channel needs for marketing
    channel_consent: dict[str, str]
    #: contact windows by channel, "HH:MM-HH:MM"
    windows: dict[str, list[str]]
    #: branch-visit windows by occupation (seed 000); "weekend" for civil servants
    visit_windows: dict[str, list[str]]
    #: minutes a contact takes, for laying tasks into windows
    minutes: dict[str, int]
    #: how much of an action's value a contact on each channel realises, for
    #: choosing channels when capacity is short
    channel_weight: dict[str, float]
    tasks_per_customer_per_day: int = Field(default=1, ge=1)


PERSONAL_FIELDS = ("name", "id_number", "phone", "account")
ROLES = (
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


class Privacy(Frozen):
    """Personal information protection (DOMAIN.md §11)."""

    #: fields each role sees in clear; everything else is masked (张*, 1101**********1234, …)
    clear: dict[Literal[ROLES], list[Literal[PERSONAL_FIELDS]]] = Field(default_factory=dict)  # type: ignore[valid-type]
    #: roles that may unmask one field of one customer, with a stated reason
    unmask_roles: list[Literal[ROLES]] = Field(default_factory=list)  # type: ignore[valid-type]
    unmask_per_day: int = Field(default=20, ge=0)
    #: days to answer a data-subject request
    request_days: int = Field(default=15, ge=1)
    #: days each category of personal data is kept; then erased or pseudonymised
    retention_days: dict[
        Literal["outcome_notes", "timeline", "web_sessions", "quarantine", "old_snapshots"], int
    ] = Field(default_factory=dict)
    #: anti-money-laundering retention of identity and transaction records, in days
    aml_days: int = Field(default=1825, ge=0)
    #: an alert when one user views more distinct customers in a day than this …
    alert_views_per_day: int = Field(default=80, ge=1)
    #: … or than this many times their role's median
    alert_median_factor: float = Field(default=3.0, ge=1)


class ExtractGuards(Frozen):
    """How far one night's extract may move from the snapshot before it before
    ingest refuses to publish it (``kequn ingest --accept "reason"`` overrides)."""

    #: relative change in the number of customers (0.05: ±5%)
    customers: float = Field(default=0.05, gt=0)
    #: relative change in the number of holdings
    holdings: float = Field(default=0.10, gt=0)
    #: relative change in total AUM (the AUM product types' balances)
    aum: float = Field(default=0.10, gt=0)
    #: the share of any table's rows that may be quarantined
    quarantined: float = Field(default=0.05, gt=0, le=1)


class Release(Frozen):
    """How a change to this playbook is rehearsed before it goes live."""

    #: a group's task rate or share of R4-R5 offers moving by more than this
    #: (as a share: 0.05 is five points) is flagged by ``kequn playbook simulate``
    fairness_threshold: float = Field(default=0.05, gt=0, le=1)


class Playbook(Frozen):
    playbook: Meta
    #: CNY per unit of each currency
    fx: dict[str, float]
    #: product types counted in AUM
    aum_product_types: list[Literal[PRODUCT_TYPES]]  # type: ignore[valid-type]
    #: transactions in this window count for flows and behaviour
    window_months: int = Field(default=3, ge=1, le=24)
    tiers: Tiers
    life_stages: Stages
    lifecycle: Stages
    segments: list[Rule]
    portfolios: Portfolios
    health: Health
    suitability: Suitability
    recommendations: Recommendations
    carbon: Carbon
    triggers: list[Trigger]
    actions: list[Action]
    contact: ContactPolicy
    privacy: Privacy = Field(default_factory=Privacy)
    ingest: ExtractGuards = Field(default_factory=ExtractGuards)
    release: Release = Field(default_factory=Release)
