"""uplift models learnt from campaigns' arms, and how a campaign chose its members

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kequn.store.models import Instant

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uplift_models",
        sa.Column("version", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("learner", sa.String(length=24), nullable=False),
        sa.Column("trained_at", Instant(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("campaigns", sa.JSON(), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_index("ix_uplift_models_action", "uplift_models", ["action"])
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("targeting", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("targeting")
    op.drop_index("ix_uplift_models_action", table_name="uplift_models")
    op.drop_table("uplift_models")
