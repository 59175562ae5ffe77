"""propensity models kept as LightGBM text with the spec of their inputs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kequn.store.models import Instant

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("propensity_models", schema=None) as batch_op:
        batch_op.alter_column("artifact", existing_type=sa.String(length=400), nullable=True)
        batch_op.add_column(sa.Column("model_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("spec", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=12), nullable=False, server_default="trained")
        )
        batch_op.add_column(sa.Column("replaced", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("activated_at", Instant(), nullable=True))
        batch_op.add_column(sa.Column("activated_by", sa.String(length=64), nullable=True))
    # a model of an earlier Kequn was a pickle on disk: it is never loaded again
    op.execute("UPDATE propensity_models SET active = FALSE, status = 'retired'")


def downgrade() -> None:
    with op.batch_alter_table("propensity_models", schema=None) as batch_op:
        for name in ("activated_by", "activated_at", "replaced", "status", "spec", "model_text"):
            batch_op.drop_column(name)
