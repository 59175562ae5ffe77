"""Customer groups, campaigns and the branch floor's records (客群经营, 厅堂)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kequn.store.models import Base, Money, tz


class CustomerGroup(Base):
    """One version of a named group: a predicate over profile columns, in the
    playbook's safe expression language, owned by a unit (its subtree bounds it)."""

    __tablename__ = "customer_groups"
    __table_args__ = (UniqueConstraint("name", "branch_id", "version", name="uq_group_version"),)

    group_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    #: the unit whose subtree bounds the group; NULL: the whole bank (HQ)
    branch_id: Mapped[str | None] = mapped_column(String(32))
    expression: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(tz())
    #: size, AUM and tier mix on the run it was saved on
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_id: Mapped[str | None] = mapped_column(String(20))


class Campaign(Base):
    """A group × action × channels × period × target, with its control group."""

    __tablename__ = "campaigns"

    campaign_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    group_id: Mapped[int] = mapped_column(Integer)
    branch_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    #: the campaign's own talk track (the action's when NULL), same placeholders
    talk_track: Mapped[str | None] = mapped_column(Text)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    #: weight against the day's triggered work, as a trigger's urgency (0-1]
    priority: Mapped[float] = mapped_column(Float, default=0.5)
    target_measure: Mapped[str] = mapped_column(String(16))
    target_value: Mapped[Decimal] = mapped_column(Money())
    control_share: Mapped[float] = mapped_column(Float, default=0.1)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default="active")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(tz())
    paused_at: Mapped[datetime | None] = mapped_column(tz())
    run_id: Mapped[str | None] = mapped_column(String(20))
    members_total: Mapped[int] = mapped_column(Integer, default=0)
    #: how the members were chosen from the group: everyone, or the most
    #: persuadable share by an uplift model ({share, model, of})
    targeting: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CampaignMember(Base):
    __tablename__ = "campaign_members"
    __table_args__ = (Index("ix_campaign_members_customer", "customer_id"),)

    campaign_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: treated or control (control: never contacted by the campaign)
    arm: Mapped[str] = mapped_column(String(8))
    stratum: Mapped[str] = mapped_column(String(60))
    manager_id: Mapped[str | None] = mapped_column(String(32))
    aum_start: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))


class CampaignVerdict(Base):
    """Where each treated member's campaign pair stopped on a day's decision:
    the campaign funnel's eligible stage is read from these."""

    __tablename__ = "campaign_verdicts"

    campaign_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    #: "task", or the stage and reason it stopped at ("within_contact_policy:marketing_cap")
    verdict: Mapped[str] = mapped_column(String(60))


class CheckIn(Base):
    """A customer known to be in the branch now, checked in by floor staff."""

    __tablename__ = "floor_checkins"
    __table_args__ = (Index("ix_checkins_branch_at", "branch_id", "at"),)

    checkin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    branch_id: Mapped[str] = mapped_column(String(32))
    #: lobby or counter
    post: Mapped[str] = mapped_column(String(8))
    staff_login: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(tz())
    best_action: Mapped[str | None] = mapped_column(String(40))
    duty_manager_id: Mapped[str | None] = mapped_column(String(32))


class Referral(Base):
    """转介: floor staff hand a customer in the branch to a manager, who gets a task."""

    __tablename__ = "floor_referrals"
    __table_args__ = (Index("ix_referrals_branch_at", "branch_id", "at"),)

    referral_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checkin_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    branch_id: Mapped[str] = mapped_column(String(32))
    post: Mapped[str] = mapped_column(String(8))
    staff_login: Mapped[str] = mapped_column(String(64))
    to_manager_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(tz())
    note: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(96))


class MicroSalon(Base):
    """微沙龙: a short lobby talk on one product to customers waiting in line."""

    __tablename__ = "micro_salons"
    __table_args__ = (Index("ix_salons_branch_day", "branch_id", "day"),)

    salon_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(String(32))
    manager_id: Mapped[str] = mapped_column(String(32), index=True)
    day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(tz())
    product_id: Mapped[str | None] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(100))
    listeners: Mapped[int] = mapped_column(Integer)
    #: customers who asked to hear more: each becomes a task
    leads: Mapped[list[Any]] = mapped_column(default=list)
    sales: Mapped[int] = mapped_column(Integer, default=0)
    sales_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))


class OutboundVisit(Base):
    """外拓: a visit to a merchant, employer or community, logged against its customers."""

    __tablename__ = "outbound_visits"

    visit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(String(32), index=True)
    manager_id: Mapped[str] = mapped_column(String(32), index=True)
    day: Mapped[date] = mapped_column(Date)
    target_kind: Mapped[str] = mapped_column(String(12))
    target_name: Mapped[str] = mapped_column(String(100))
    customers: Mapped[list[Any]] = mapped_column(default=list)
    leads: Mapped[int] = mapped_column(Integer, default=0)
    new_customers: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(300))
    merchant_maintenance: Mapped[bool] = mapped_column(Boolean, default=False)
