"""workbench: users, sessions, products, holdings, timeline, branch figures, NPS scores

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:53:57.362794
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kequn.store.models import Instant, Money

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "branch_kpis",
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("branch_id", "as_of"),
    )
    op.create_table(
        "customer_holdings",
        sa.Column("holding_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("product_type", sa.String(length=24), nullable=False),
        sa.Column("asset_class", sa.String(length=16), nullable=False),
        sa.Column("risk_level", sa.String(length=2), nullable=False),
        sa.Column("balance", Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("maturity_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("holding_id"),
    )
    with op.batch_alter_table("customer_holdings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_holdings_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "customer_timeline",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("at", Instant(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("amount", Money(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    with op.batch_alter_table("customer_timeline", schema=None) as batch_op:
        batch_op.create_index("ix_timeline_customer_at", ["customer_id", "at"], unique=False)

    op.create_table(
        "products",
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("risk_level", sa.String(length=2), nullable=False),
        sa.Column("asset_class", sa.String(length=16), nullable=False),
        sa.Column("is_pension", sa.Boolean(), nullable=False),
        sa.Column("fee_rate", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("product_id"),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("manager_id", sa.String(length=32), nullable=True),
        sa.Column("branch_id", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", Instant(), nullable=True),
        sa.Column("created_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("login"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.Column("expires_at", Instant(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
        ),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_column("score")

    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))

    op.drop_table("web_sessions")
    op.drop_table("users")
    op.drop_table("products")
    with op.batch_alter_table("customer_timeline", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_customer_at")

    op.drop_table("customer_timeline")
    with op.batch_alter_table("customer_holdings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_holdings_customer_id"))

    op.drop_table("customer_holdings")
    op.drop_table("branch_kpis")
