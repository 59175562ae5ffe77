"""Scratch copies of a bank's two stores, for a rehearsal that must leave the
real ones untouched.

The analytical store's artifacts are immutable once published (see
``kequn.warehouse``), so a copy links them instead of copying gigabytes; only
the small catalog file is copied. The operational store is copied into a
scratch SQLite file: byte for byte through SQLite's backup API, or row by row
from PostgreSQL through the same models that wrote it."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from kequn import warehouse
from kequn.store import Base, open_store

#: rows moved at a time from PostgreSQL into the scratch copy
BATCH = 5_000


def clone_store(source: Path, target: Path) -> Path:
    """The analytical store at ``target``: its catalog copied, its immutable
    artifact files linked (copied where the file system cannot link)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    src_dir, dst_dir = warehouse.folder(source), warehouse.folder(target)
    if src_dir.is_dir():
        dst_dir.mkdir(exist_ok=True)
        for path in src_dir.iterdir():
            if not path.is_file() or path.suffix != ".duckdb":
                continue  # a write in progress (.wal, .tmp) is not part of what was published
            try:
                os.link(path, dst_dir / path.name)
            except OSError:
                shutil.copy(path, dst_dir / path.name)
    return target


def clone_ops(url: str, target: Path) -> str:
    """A SQLite copy of the operational store at ``url``; returns its URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = f"sqlite:///{target}"
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        source = sqlite3.connect(f"file:{parsed.database}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # a consistent copy, even while the workbench writes
        finally:
            copy.close()
            source.close()
        return scratch
    src = open_store(url, upgrade=False, pool_size=1)
    dst = open_store(scratch)
    try:
        with src.engine.connect() as read, dst.engine.begin() as write:
            for table in Base.metadata.sorted_tables:
                rows = read.execution_options(stream_results=True, yield_per=BATCH).execute(select(table))
                for part in rows.partitions(BATCH):
                    write.execute(insert(table), [dict(r._mapping) for r in part])
    finally:
        src.dispose()
        dst.dispose()
    return scratch
