"""campaigns and the branch floor

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:19:18.286584
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kequn.store.models import Instant, Money

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_campaign", ["campaign_id", "customer_id"], unique=False)

    op.create_table(
        "campaign_members",
        sa.Column("campaign_id", sa.String(length=24), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("arm", sa.String(length=8), nullable=False),
        sa.Column("stratum", sa.String(length=60), nullable=False),
        sa.Column("manager_id", sa.String(length=32), nullable=True),
        sa.Column("aum_start", Money(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id"),
    )
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_members_customer", ["customer_id"], unique=False)

    op.create_table(
        "campaign_verdicts",
        sa.Column("campaign_id", sa.String(length=24), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("verdict", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", "day"),
    )
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("talk_track", sa.Text(), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("target_measure", sa.String(length=16), nullable=False),
        sa.Column("target_value", Money(), nullable=False),
        sa.Column("control_share", sa.Float(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.Column("paused_at", Instant(), nullable=True),
        sa.Column("run_id", sa.String(length=20), nullable=True),
        sa.Column("members_total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id"),
    )
    op.create_table(
        "customer_groups",
        sa.Column("group_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=True),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("group_id"),
        sa.UniqueConstraint("name", "branch_id", "version", name="uq_group_version"),
    )
    op.create_table(
        "floor_checkins",
        sa.Column("checkin_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("post", sa.String(length=8), nullable=False),
        sa.Column("staff_login", sa.String(length=64), nullable=False),
        sa.Column("at", Instant(), nullable=False),
        sa.Column("best_action", sa.String(length=40), nullable=True),
        sa.Column("duty_manager_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("checkin_id"),
    )
    with op.batch_alter_table("floor_checkins", schema=None) as batch_op:
        batch_op.create_index("ix_checkins_branch_at", ["branch_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_floor_checkins_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "floor_referrals",
        sa.Column("referral_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("post", sa.String(length=8), nullable=False),
        sa.Column("staff_login", sa.String(length=64), nullable=False),
        sa.Column("to_manager_id", sa.String(length=32), nullable=False),
        sa.Column("at", Instant(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("task_id", sa.String(length=96), nullable=True),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    with op.batch_alter_table("floor_referrals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_floor_referrals_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_referrals_branch_at", ["branch_id", "at"], unique=False)

    op.create_table(
        "micro_salons",
        sa.Column("salon_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("manager_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", Instant(), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("listeners", sa.Integer(), nullable=False),
        sa.Column("leads", sa.JSON(), nullable=False),
        sa.Column("sales", sa.Integer(), nullable=False),
        sa.Column("sales_amount", Money(), nullable=False),
        sa.PrimaryKeyConstraint("salon_id"),
    )
    with op.batch_alter_table("micro_salons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_micro_salons_manager_id"), ["manager_id"], unique=False)
        batch_op.create_index("ix_salons_branch_day", ["branch_id", "day"], unique=False)

    op.create_table(
        "outbound_visits",
        sa.Column("visit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("manager_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("target_kind", sa.String(length=12), nullable=False),
        sa.Column("target_name", sa.String(length=100), nullable=False),
        sa.Column("customers", sa.JSON(), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("new_customers", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("merchant_maintenance", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("visit_id"),
    )
    with op.batch_alter_table("outbound_visits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_visits_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_visits_manager_id"), ["manager_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_campaign")

    with op.batch_alter_table("outbound_visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_visits_manager_id"))
        batch_op.drop_index(batch_op.f("ix_outbound_visits_branch_id"))

    op.drop_table("outbound_visits")
    with op.batch_alter_table("micro_salons", schema=None) as batch_op:
        batch_op.drop_index("ix_salons_branch_day")
        batch_op.drop_index(batch_op.f("ix_micro_salons_manager_id"))

    op.drop_table("micro_salons")
    with op.batch_alter_table("floor_referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_branch_at")
        batch_op.drop_index(batch_op.f("ix_floor_referrals_customer_id"))

    op.drop_table("floor_referrals")
    with op.batch_alter_table("floor_checkins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_floor_checkins_customer_id"))
        batch_op.drop_index("ix_checkins_branch_at")

    op.drop_table("floor_checkins")
    op.drop_table("customer_groups")
    op.drop_table("campaigns")
    op.drop_table("campaign_verdicts")
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_members_customer")

    op.drop_table("campaign_members")
