"""a card's holdings and timeline rewritten only when they changed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holdings_hash", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("timeline_hash", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("timeline_hash")
        batch_op.drop_column("holdings_hash")
