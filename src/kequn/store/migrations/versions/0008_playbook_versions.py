"""playbook versions released under four eyes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kequn.store.models import Instant

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playbook_versions",
        sa.Column("version_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
        sa.Column("simulated_by", sa.String(length=64), nullable=True),
        sa.Column("simulated_at", Instant(), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", Instant(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("simulation", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.create_index("ix_playbook_versions_digest", "playbook_versions", ["digest"])
    op.create_index("ix_playbook_versions_status", "playbook_versions", ["status"])


def downgrade() -> None:
    op.drop_index("ix_playbook_versions_status", table_name="playbook_versions")
    op.drop_index("ix_playbook_versions_digest", table_name="playbook_versions")
    op.drop_table("playbook_versions")
