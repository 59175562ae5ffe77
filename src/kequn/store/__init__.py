"""The operational store: SQLAlchemy 2 models, Alembic migrations, sessions.

SQLite by default (a file beside the snapshot), PostgreSQL in production."""

from kequn.store.db import Store, default_url, open_store
from kequn.store.models import Base

__all__ = ["Base", "Store", "default_url", "open_store"]
