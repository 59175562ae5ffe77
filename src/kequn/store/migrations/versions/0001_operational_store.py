"""operational store: organisation, customers, ownership, consent, tasks, outcomes

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 17:32:16.957282
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kequn.store.models import Instant, Money

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "branches",
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("city", sa.String(length=50), nullable=True),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("branch_id"),
    )
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_branches_path"), ["path"], unique=False)

    op.create_table(
        "claims",
        sa.Column("claim_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("manager_id", sa.String(length=32), nullable=False),
        sa.Column("claimed_at", Instant(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("claim_id"),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claims_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("consent_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("ts", Instant(), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=True),
        sa.Column("recorded_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("consent_id"),
        sa.UniqueConstraint("customer_id", "purpose", "ts", name="uq_consent_event"),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index("ix_consents_customer_purpose", ["customer_id", "purpose"], unique=False)

    op.create_table(
        "contact_prefs",
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("do_not_contact", sa.Boolean(), nullable=False),
        sa.Column("personalised_opt_out", sa.Boolean(), nullable=False),
        sa.Column("updated_at", Instant(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("home_branch_id", sa.String(length=32), nullable=False),
        sa.Column("owner_manager_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=50), nullable=True),
        sa.Column("id_number", sa.String(length=18), nullable=True),
        sa.Column("phone", sa.String(length=11), nullable=True),
        sa.Column("gender", sa.String(length=1), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("occupation", sa.String(length=24), nullable=True),
        sa.Column("tier", sa.String(length=24), nullable=False),
        sa.Column("prev_tier", sa.String(length=24), nullable=True),
        sa.Column("aum", Money(), nullable=False),
        sa.Column("health_score", sa.Float(), nullable=False),
        sa.Column("risk_level", sa.String(length=2), nullable=True),
        sa.Column("lifecycle", sa.String(length=24), nullable=True),
        sa.Column("life_stage", sa.String(length=24), nullable=True),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("snapshot_id", sa.String(length=10), nullable=True),
        sa.Column("run_id", sa.String(length=20), nullable=True),
        sa.Column("updated_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_home_branch_id"), ["home_branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_owner_manager_id"), ["owner_manager_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_tier"), ["tier"], unique=False)

    op.create_table(
        "decision_runs",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("snapshot_id", sa.String(length=10), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=20), nullable=False),
        sa.Column("started_at", Instant(), nullable=False),
        sa.Column("finished_at", Instant(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("decision_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_runs_as_of"), ["as_of"], unique=False)

    op.create_table(
        "ownership_log",
        sa.Column("change_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("from_manager_id", sa.String(length=32), nullable=True),
        sa.Column("to_manager_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("at", Instant(), nullable=False),
        sa.Column("decision_run_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("change_id"),
    )
    with op.batch_alter_table("ownership_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ownership_log_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "propensity_models",
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("trained_at", Instant(), nullable=False),
        sa.Column("algorithm", sa.String(length=60), nullable=False),
        sa.Column("outcomes_used", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact", sa.String(length=400), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "staff",
        sa.Column("manager_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("capacity_phone", sa.Integer(), nullable=False),
        sa.Column("capacity_visit", sa.Integer(), nullable=False),
        sa.Column("capacity_wechat", sa.Integer(), nullable=False),
        sa.Column("capacity_sms", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("successor_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("manager_id"),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_branch_id"), ["branch_id"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(length=96), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("manager_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("scheduled_at", Instant(), nullable=True),
        sa.Column("contact_window", sa.String(length=24), nullable=True),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("propensity", sa.Float(), nullable=False),
        sa.Column("urgency", sa.Float(), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=True),
        sa.Column("talk_track", sa.Text(), nullable=False),
        sa.Column("visit_material", sa.Text(), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.Column("updated_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_customer", ["customer_id", "as_of"], unique=False)
        batch_op.create_index("ix_tasks_manager_day", ["manager_id", "as_of", "status"], unique=False)

    op.create_table(
        "outcomes",
        sa.Column("outcome_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=96), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("manager_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=True),
        sa.Column("amount", Money(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("at", Instant(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.task_id"],
        ),
        sa.PrimaryKeyConstraint("outcome_id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index("ix_outcomes_customer_at", ["customer_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outcomes_task_id"), ["task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcomes_task_id"))
        batch_op.drop_index("ix_outcomes_customer_at")

    op.drop_table("outcomes")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_manager_day")
        batch_op.drop_index("ix_tasks_customer")

    op.drop_table("tasks")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_branch_id"))

    op.drop_table("staff")
    op.drop_table("propensity_models")
    with op.batch_alter_table("ownership_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ownership_log_customer_id"))

    op.drop_table("ownership_log")
    with op.batch_alter_table("decision_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_runs_as_of"))

    op.drop_table("decision_runs")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_tier"))
        batch_op.drop_index(batch_op.f("ix_customers_owner_manager_id"))
        batch_op.drop_index(batch_op.f("ix_customers_home_branch_id"))

    op.drop_table("customers")
    op.drop_table("contact_prefs")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents_customer_purpose")

    op.drop_table("consents")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claims_customer_id"))

    op.drop_table("claims")
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branches_path"))

    op.drop_table("branches")
