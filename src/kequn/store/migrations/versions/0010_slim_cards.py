"""slim cards: a customer's facts are read from the run, not copied each night

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("facts")
        batch_op.add_column(sa.Column("consent", sa.JSON(), nullable=True))
        # the next sync writes every card again: a card's digest now covers the slim card
        batch_op.drop_column("card_hash")
        batch_op.add_column(sa.Column("card_hash", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("consent")
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=False, server_default="{}"))
