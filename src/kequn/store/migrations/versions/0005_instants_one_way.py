"""instants one way: every moment SQLite keeps, in one text format

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00

Before this revision the bulk loads wrote ``2026-10-25 04:45:00`` where the ORM
wrote ``2026-12-01 08:17:21.964622``; text order was then not time order, and
readers met two formats in one column. PostgreSQL keeps TIMESTAMPTZ and needs
nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kequn.store.models import Base, Instant

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    inspector = sa.inspect(bind)
    present = set(inspector.get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name not in present:
            continue  # a table a later migration makes holds no older moments
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if not isinstance(column.type, Instant) or column.name not in columns:
                continue  # nor does a column a later migration adds
            name, col = table.name, column.name
            # 'YYYY-MM-DDTHH:MM:SS…' and '…+00:00' from any older writer, then the
            # missing microseconds
            op.execute(f"UPDATE {name} SET {col} = replace({col}, 'T', ' ') WHERE {col} LIKE '____-__-__T%'")
            op.execute(
                f"UPDATE {name} SET {col} = substr({col}, 1, length({col}) - 6) WHERE {col} LIKE '%+00:00'"
            )
            op.execute(f"UPDATE {name} SET {col} = {col} || '.000000' WHERE length({col}) = 19")


def downgrade() -> None:
    pass
