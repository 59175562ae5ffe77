"""Retention: personal data past its period (playbook ``privacy.retention_days``)
is erased or pseudonymised; what anti-money-laundering rules keep is kept.

- contact notes (free text) are erased; the contact itself stays, without it;
- the customer timeline (transaction notes) past its period is deleted;
- expired sign-in sessions are deleted;
- quarantined rows of old snapshots lose their raw values and records;
- snapshots older than the period lose their customers' personal fields (the
  holdings and transactions stay: AML keeps them, keyed by the pseudonymous
  customer number).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from kequn import warehouse
from kequn.contract import TABLES
from kequn.ingest.sql import ident
from kequn.ingest.store import snapshots
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, record
from kequn.store.models import AmlRecord, Outcome, TimelineEntry, WebSession


def _days(pb: LoadedPlaybook, category: str) -> int | None:
    return pb.playbook.privacy.retention_days.get(category)  # type: ignore[call-overload, no-any-return]


def apply_retention(
    s: Session,
    pb: LoadedPlaybook,
    moment: datetime,
    actor: str,
    role: str,
    snapshot_store: Path | None = None,
) -> dict[str, int]:
    """Applies every retention period; returns what was erased, per category."""
    done: dict[str, int] = {}
    if (days := _days(pb, "outcome_notes")) is not None:
        done["outcome_notes"] = s.execute(
            update(Outcome)
            .where(Outcome.at < moment - timedelta(days=days), Outcome.note.is_not(None))
            .values(note=None)
        ).rowcount  # type: ignore[attr-defined]
    if (days := _days(pb, "timeline")) is not None:
        done["timeline"] = s.execute(
            delete(TimelineEntry).where(TimelineEntry.at < moment - timedelta(days=days))
        ).rowcount  # type: ignore[attr-defined]
    if (days := _days(pb, "web_sessions")) is not None:
        done["web_sessions"] = s.execute(
            delete(WebSession).where(WebSession.expires_at < moment - timedelta(days=days))
        ).rowcount  # type: ignore[attr-defined]
    # AML identity records end too, at their own date
    done["aml_records_ended"] = s.execute(
        delete(AmlRecord).where(AmlRecord.kept_until < moment.date())
    ).rowcount  # type: ignore[attr-defined]
    if snapshot_store is not None and Path(snapshot_store).exists():
        done.update(_snapshots(snapshot_store, pb, moment))
    record(s, [Event(actor, role, "retention", None, done, moment)])
    return done


def _snapshots(store: Path, pb: LoadedPlaybook, moment: datetime) -> dict[str, int]:
    """Old snapshots lose what their retention allows: the quarantine's raw rows,
    then the customers' identity (holdings and transactions stay, for AML)."""
    out = {"quarantine_rows": 0, "snapshots_pseudonymised": 0}
    quarantine_days = _days(pb, "quarantine")
    snapshot_days = _days(pb, "old_snapshots")
    personal = [c.name for c in TABLES["customers"].columns if c.personal]
    for snap in snapshots(store):
        age = (moment.date() - snap.as_of).days
        clear_quarantine = quarantine_days is not None and age > quarantine_days
        pseudonymise = snapshot_days is not None and age > snapshot_days
        if not (clear_quarantine or pseudonymise):
            continue

        def change(
            con: duckdb.DuckDBPyConnection,
            schema: str = snap.schema,
            q: bool = clear_quarantine,
            p: bool = pseudonymise,
        ) -> None:
            if q:
                n = con.execute(
                    f"UPDATE {schema}.quarantine SET value = NULL, record = NULL "
                    "WHERE value IS NOT NULL OR record IS NOT NULL"
                ).fetchone()
                out["quarantine_rows"] += int(n[0]) if n else 0
            if p:
                con.execute(
                    f"UPDATE {schema}.customers SET {', '.join(f'{ident(c)} = NULL' for c in personal)}"
                )
                out["snapshots_pseudonymised"] += 1

        warehouse.rewrite(store, snap.schema, change)
    return out
