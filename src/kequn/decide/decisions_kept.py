"""Where decisions are kept and found: one decide at a time per store, the
day's published decisions and the next free id, the run a decision reads, and
a decision's pairs file listed in the analytical store's catalog."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
from sqlalchemy import Connection, text

from kequn import warehouse
from kequn.core.errors import KequnError
from kequn.pipeline.catalog import RunInfo, list_runs


def latest_run(duck: duckdb.DuckDBPyConnection, snapshot_id: str) -> RunInfo:
    found = [r for r in list_runs(duck) if r.snapshot_id == snapshot_id]
    if not found:
        raise KequnError(f"no pipeline run on snapshot {snapshot_id}: run `kequn run` first")
    return found[-1]


@contextlib.contextmanager
def day_lock(store: Path) -> Iterator[None]:
    """One decide at a time per store: a second one waits for the first."""
    path = Path(str(store) + ".decide.lock")
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def published_for(con: Connection, day: date) -> list[str]:
    return list(
        con.execute(
            text(
                "SELECT run_id FROM decision_runs WHERE as_of = :d AND status = 'published' ORDER BY run_id"
            ),
            {"d": day},
        ).scalars()
    )


def next_decision_id(con: Connection, duck: duckdb.DuckDBPyConnection, day: date) -> str:
    """The next free id of the day in both stores (either may have been reset)."""
    taken = set(con.execute(text("SELECT run_id FROM decision_runs WHERE as_of = :d"), {"d": day}).scalars())
    taken |= {
        a.name.removeprefix("decision_")
        for a in warehouse.artifacts(duck)
        if a.kind == "decision" and a.name.startswith(f"decision_{day:%Y%m%d}_")
    }
    n = 1
    while f"{day:%Y%m%d}_{n:02d}" in taken:
        n += 1
    return f"{day:%Y%m%d}_{n:02d}"


def list_orphans(store: Path, con: Connection) -> None:
    """A decision committed to the operational store whose pairs file was not yet
    listed (the process stopped in between) is listed now."""
    rows = con.execute(
        text(
            "SELECT run_id, as_of, pairs_file FROM decision_runs WHERE pairs_file IS NOT NULL "
            "ORDER BY as_of DESC LIMIT 5"
        )
    ).all()
    if not rows or not Path(store).exists():
        return
    cat = warehouse.reader(store, [])
    try:
        listed = {a.name for a in warehouse.artifacts(cat)}
    finally:
        cat.close()
    for run_id, as_of, file in rows:
        name = f"decision_{run_id}"
        path = warehouse.folder(store) / file
        if name not in listed and path.exists():
            made = warehouse.NewFile(
                name,
                "decision",
                as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of)),
                file,
                path,
            )
            warehouse.publish(store, made, lambda cat: None)
