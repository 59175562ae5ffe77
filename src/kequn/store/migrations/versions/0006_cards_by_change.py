"""cards synced by change, and the decision's own file of pairs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_hash", sa.String(length=32), nullable=True))
    with op.batch_alter_table("decision_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pairs_file", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decision_runs", schema=None) as batch_op:
        batch_op.drop_column("pairs_file")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("card_hash")
