"""The operational store's tables: the organisation, the customers' working
cards, ownership, consent, tasks and their outcomes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from kequn.core.clock import SHANGHAI


class Money(TypeDecorator[Decimal]):
    """Exact money: NUMERIC(18,2) where the database has it; text in SQLite,
    which would otherwise turn every amount into a float."""

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(18, 2))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


#: how SQLite keeps a moment: UTC, microseconds always written, so that text
#: order is time order and every path (ORM, bulk loads, raw SQL) writes alike
SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_instant(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Kequn stores only aware times")
    return value.astimezone(UTC).strftime(SQLITE_INSTANT)


class Instant(TypeDecorator[datetime]):
    """A moment in time, always timezone-aware in Python (Asia/Shanghai when read).
    PostgreSQL keeps TIMESTAMPTZ; SQLite, which has no time zones, keeps UTC as
    text in ``SQLITE_INSTANT``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(26))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return sqlite_instant(value)
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Kequn stores only aware times")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(SHANGHAI)


def tz() -> Instant:
    return Instant()


class Branch(Base):
    __tablename__ = "branches"

    branch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(50))
    #: "/B00/B01/B0101/": a branch head's subtree is every path under theirs
    path: Mapped[str] = mapped_column(String(400), index=True)


class Staff(Base):
    __tablename__ = "staff"

    manager_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    branch_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[str] = mapped_column(String(24))
    capacity_phone: Mapped[int] = mapped_column(Integer, default=0)
    capacity_visit: Mapped[int] = mapped_column(Integer, default=0)
    capacity_wechat: Mapped[int] = mapped_column(Integer, default=0)
    capacity_sms: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: who inherits the book when this manager leaves
    successor_id: Mapped[str | None] = mapped_column(String(32))


class Customer(Base):
    """A customer's slim working card, refreshed from the latest run: who they
    are, their tier, AUM, health and segments, their owner, the bank's consent
    answers. Their facts (the profile, recommendations, carbon ledger) are read
    from the run itself (``kequn.store.cards``)."""

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    home_branch_id: Mapped[str] = mapped_column(String(32), index=True)
    owner_manager_id: Mapped[str | None] = mapped_column(String(32), index=True)
    name: Mapped[str | None] = mapped_column(String(50))
    id_number: Mapped[str | None] = mapped_column(String(18))
    phone: Mapped[str | None] = mapped_column(String(11))
    gender: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[date | None] = mapped_column(Date)
    occupation: Mapped[str | None] = mapped_column(String(24))
    tier: Mapped[str] = mapped_column(String(24), index=True)
    prev_tier: Mapped[str | None] = mapped_column(String(24))
    aum: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    health_score: Mapped[float] = mapped_column(Float, default=0.0)
    risk_level: Mapped[str | None] = mapped_column(String(2))
    lifecycle: Mapped[str | None] = mapped_column(String(24))
    life_stage: Mapped[str | None] = mapped_column(String(24))
    segments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: the bank's latest answer per consent purpose in the snapshot ({purpose:
    #: {granted, ts}}); Kequn's own records since are in ``consents``
    consent: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    snapshot_id: Mapped[str | None] = mapped_column(String(10))
    run_id: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(tz())
    #: the card's content digest (its fields, holdings, timeline): a sync writes only
    #: the cards whose digest changed
    card_hash: Mapped[str | None] = mapped_column(String(32))
    #: the digests of the rows kept in customer_holdings and customer_timeline:
    #: a changed card rewrites them only when they changed too (a card changes
    #: every night with its day counts; a customer's positions seldom do)
    holdings_hash: Mapped[str | None] = mapped_column(String(32))
    timeline_hash: Mapped[str | None] = mapped_column(String(32))
    #: the snapshot day the customer was first missing from the extract (closed
    #: every account): the card is kept as it last was, and no path makes them a
    #: task; NULL while they bank here (a customer who comes back is cleared)
    left_on: Mapped[date | None] = mapped_column(Date)


class Claim(Base):
    """认领: a manager asks for an unowned customer of their branch."""

    __tablename__ = "claims"

    claim_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    manager_id: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column(tz())
    status: Mapped[str] = mapped_column(String(12), default="pending")
    note: Mapped[str | None] = mapped_column(String(200))


class OwnershipChange(Base):
    __tablename__ = "ownership_log"

    change_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    from_manager_id: Mapped[str | None] = mapped_column(String(32))
    to_manager_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(tz())
    decision_run_id: Mapped[str | None] = mapped_column(String(40))


class Consent(Base):
    """The consent registry: every grant and withdrawal, with its source."""

    __tablename__ = "consents"
    __table_args__ = (
        UniqueConstraint("customer_id", "purpose", "ts", name="uq_consent_event"),
        Index("ix_consents_customer_purpose", "customer_id", "purpose"),
    )

    consent_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    ts: Mapped[datetime] = mapped_column(tz())
    source: Mapped[str | None] = mapped_column(String(24))
    recorded_by: Mapped[str | None] = mapped_column(String(32))


class ContactPreference(Base):
    __tablename__ = "contact_prefs"

    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    personalised_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(tz())
    source: Mapped[str | None] = mapped_column(String(32))


class DecisionRun(Base):
    __tablename__ = "decision_runs"

    run_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, index=True)
    snapshot_id: Mapped[str] = mapped_column(String(10))
    pipeline_run_id: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(tz())
    finished_at: Mapped[datetime | None] = mapped_column(tz())
    status: Mapped[str] = mapped_column(String(12))
    model_version: Mapped[str | None] = mapped_column(String(40))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the analytical store's file of every pair and its verdict (``kequn why``)
    pairs_file: Mapped[str | None] = mapped_column(String(120))


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # the channel too: the slots a manager has booked on a day (every event
        # counts them) are counted on the index alone, no task row read
        Index("ix_tasks_manager_day", "manager_id", "as_of", "status", "channel"),
        Index("ix_tasks_customer", "customer_id", "as_of"),
        # a campaign's tasks: untasked members each night, withdrawal on pause
        Index("ix_tasks_campaign", "campaign_id", "customer_id"),
    )

    #: "2026-11-20:C000000013:maturity_renewal": the same day never holds a pair twice
    task_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(40))
    as_of: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[str] = mapped_column(String(32))
    manager_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(12))
    scheduled_at: Mapped[datetime | None] = mapped_column(tz())
    contact_window: Mapped[str | None] = mapped_column(String(24))
    priority: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)
    propensity: Mapped[float] = mapped_column(Float)
    urgency: Mapped[float] = mapped_column(Float)
    product_id: Mapped[str | None] = mapped_column(String(32))
    talk_track: Mapped[str] = mapped_column(Text)
    visit_material: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="open")
    source: Mapped[str] = mapped_column(String(12), default="batch")
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    #: optimistic locking: concurrent edits of one task cannot both win
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(tz())
    updated_at: Mapped[datetime] = mapped_column(tz())

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it)


class Outcome(Base):
    __tablename__ = "outcomes"
    __table_args__ = (Index("ix_outcomes_customer_at", "customer_id", "at"),)

    outcome_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: a double click or a retry sends the same key: it is recorded once
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    task_id: Mapped[str | None] = mapped_column(String(96), ForeignKey("tasks.task_id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(32))
    manager_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str | None] = mapped_column(String(12))
    outcome: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[Decimal | None] = mapped_column(Money())
    note: Mapped[str | None] = mapped_column(String(500))
    #: 0-10 for an NPS survey answer (outcome "survey")
    score: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(tz())


class CustomerHolding(Base):
    """A customer's positions as of the last run, for the customer 360."""

    __tablename__ = "customer_holdings"

    holding_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    account_id: Mapped[str] = mapped_column(String(40))
    product_id: Mapped[str] = mapped_column(String(32))
    product_name: Mapped[str] = mapped_column(String(200))
    product_type: Mapped[str] = mapped_column(String(24))
    asset_class: Mapped[str] = mapped_column(String(16))
    risk_level: Mapped[str] = mapped_column(String(2))
    balance: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    maturity_date: Mapped[date | None] = mapped_column(Date)


class TimelineEntry(Base):
    """Notable transactions of the last months, for the customer's event timeline."""

    __tablename__ = "customer_timeline"
    __table_args__ = (Index("ix_timeline_customer_at", "customer_id", "at"),)

    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(tz())
    kind: Mapped[str] = mapped_column(String(24))
    amount: Mapped[Decimal | None] = mapped_column(Money())
    channel: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(200))


class Product(Base):
    """The product shelf, for names, types and fee rates on the workbench."""

    __tablename__ = "products"

    product_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(24))
    risk_level: Mapped[str] = mapped_column(String(2))
    asset_class: Mapped[str] = mapped_column(String(16))
    is_pension: Mapped[bool] = mapped_column(Boolean, default=False)
    fee_rate: Mapped[float | None] = mapped_column(Float)


class BranchKpi(Base):
    """Per branch unit and day, the figures the dashboards show that come from
    the nightly run (deposits, AUM, tiers, health); contact figures are live."""

    __tablename__ = "branch_kpis"

    branch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class User(Base):
    __tablename__ = "users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(24))
    manager_id: Mapped[str | None] = mapped_column(String(32))
    branch_id: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(tz())
    created_at: Mapped[datetime] = mapped_column(tz())


class WebSession(Base):
    __tablename__ = "web_sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.user_id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(tz())
    expires_at: Mapped[datetime] = mapped_column(tz())


class PropensityModel(Base):
    """A trained propensity model: LightGBM's own text and the spec of its
    inputs, kept in the store (nothing is unpickled, nothing read from a path).
    At most one is active; each activation remembers the one it replaced."""

    __tablename__ = "propensity_models"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    trained_at: Mapped[datetime] = mapped_column(tz())
    algorithm: Mapped[str] = mapped_column(String(60))
    outcomes_used: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: a file of an earlier Kequn's model (never loaded any more)
    artifact: Mapped[str | None] = mapped_column(String(400))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    model_text: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: trained, active, retired (replaced or rolled back), refused (worse than what was in force)
    status: Mapped[str] = mapped_column(String(12), default="trained")
    #: the model in force when this one was activated: what a rollback restores
    replaced: Mapped[str | None] = mapped_column(String(40))
    activated_at: Mapped[datetime | None] = mapped_column(tz())
    activated_by: Mapped[str | None] = mapped_column(String(64))


class UpliftModel(Base):
    """Who is persuadable for one action, learnt from campaigns' treated and
    control arms: LightGBM's text (one booster, or two for the two-model
    learner) and the spec of its inputs. The newest of an action is in force."""

    __tablename__ = "uplift_models"

    version: Mapped[str] = mapped_column(String(60), primary_key=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    learner: Mapped[str] = mapped_column(String(24))
    trained_at: Mapped[datetime] = mapped_column(tz())
    members: Mapped[int] = mapped_column(Integer)
    campaigns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    texts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AuditEntry(Base):
    """The access trail: append-only, each entry chained to the previous by its
    hash (see kequn.privacy.audit). ``detail`` is the canonical JSON that was hashed."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_actor_at", "actor", "at"),
        Index("ix_audit_customer_at", "customer_id", "at"),
        Index("ix_audit_action_at", "action", "at"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(tz())
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link, one row; appends lock it, so they are serialised."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class SubjectRequest(Base):
    """A data-subject request (PIPL arts. 44-47): access and copy, correction, deletion."""

    __tablename__ = "subject_requests"

    request_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(tz())
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: what a correction asks for: {"field": "phone", "value": "..."}
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_by: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(tz())
    closed_by: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(Text)


class Erasure(Base):
    """A customer whose personal data was erased (deletion request or retention):
    later syncs and snapshots keep it erased."""

    __tablename__ = "erasures"

    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(tz())
    reason: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[int | None] = mapped_column(Integer)


class AmlRecord(Base):
    """Identity data kept after an erasure because anti-money-laundering rules
    require it (5 years); compliance only, flagged, never shown in the workbench."""

    __tablename__ = "aml_records"

    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(50))
    id_number: Mapped[str | None] = mapped_column(String(18))
    kept_until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200))


class PlaybookVersion(Base):
    """A playbook as submitted for release: its text kept whole, who wrote it, when
    it was rehearsed, who (never its author) approved it, and which version was
    in force before it (what a rollback returns to)."""

    __tablename__ = "playbook_versions"

    version_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    #: draft -> active -> retired (a rolled-back or replaced version)
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(tz())
    simulated_by: Mapped[str | None] = mapped_column(String(64))
    simulated_at: Mapped[datetime | None] = mapped_column(tz())
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(tz())
    previous_id: Mapped[int | None] = mapped_column(Integer)
    #: the last rehearsal's figures (``kequn.release.simulate.as_dict``)
    simulation: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# the campaign and floor tables live in their own module; importing it here puts
# them in Base.metadata wherever the models are loaded (migrations included)
from kequn.store import campaign_models as _campaign_models  # noqa: E402, F401
