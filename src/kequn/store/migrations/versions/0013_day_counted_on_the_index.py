"""a manager's day counted on the index: ix_tasks_manager_day holds each task's channel

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 09:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_manager_day")
        batch_op.create_index(
            "ix_tasks_manager_day", ["manager_id", "as_of", "status", "channel"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_manager_day")
        batch_op.create_index("ix_tasks_manager_day", ["manager_id", "as_of", "status"], unique=False)
