"""A customer's card: the slim row of the operational store (who they are, their
tier, AUM, owner and segments, what lists and scopes filter on) and its facts
(the profile, consent state, recommendations, carbon ledger), read from the
run the last published decision was made on.

Both halves come from the same run: the decision that wrote the slim cards
names its run and snapshot (``decision_runs``), and the facts are read from
that run's file in the analytical store (``kequn.pipeline.cards``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kequn.ingest.store import schema_for
from kequn.pipeline.cards import CardFacts
from kequn.store.models import DecisionRun, Erasure, Outcome, Task

Facts = dict[str, Any]


@dataclass(frozen=True)
class Decided:
    """The run and snapshot behind the operational store's cards."""

    run_schema: str
    snapshot_schema: str


def decided(s: Session) -> Decided | None:
    """The run behind the cards, read once per transaction: a page asks for its
    facts and for the run's attributes, an event for facts and history; a later
    transaction of the same session reads it again (a decision may have published)."""
    memo = s.info.get("kequn_decided")
    txn = s.get_transaction()
    if memo is not None and txn is not None and memo[0] is txn:
        found: Decided | None = memo[1]
        return found
    found = _decided(s)
    s.info["kequn_decided"] = (s.get_transaction(), found)
    return found


#: the latest published decision's run and snapshot (built once: every event
#: and every page reads it)
_LATEST_DECIDED = (
    select(DecisionRun.pipeline_run_id, DecisionRun.snapshot_id)
    .where(DecisionRun.status == "published")
    .order_by(DecisionRun.as_of.desc(), DecisionRun.run_id.desc())
    .limit(1)
)


def _decided(s: Session) -> Decided | None:
    row = s.execute(_LATEST_DECIDED).first()
    return None if row is None else _as_decided(row[0], row[1])


def _as_decided(run_id: Any, snapshot_id: Any) -> Decided | None:
    if run_id is None:
        return None
    return Decided(f"run_{run_id}", schema_for(date.fromisoformat(str(snapshot_id)[:10])))


def decided_columns() -> tuple[Any, Any]:
    """The latest published decision's run and snapshot as two columns another
    read carries beside its rows (an event reads them with its customers: a
    round trip less); ``remember_decided`` keeps what they held."""
    return (
        _LATEST_DECIDED.with_only_columns(DecisionRun.pipeline_run_id).scalar_subquery(),
        _LATEST_DECIDED.with_only_columns(DecisionRun.snapshot_id).scalar_subquery(),
    )


def remember_decided(s: Session, run_id: Any, snapshot_id: Any) -> None:
    """What ``decided_columns`` read, kept as ``decided`` keeps its own read:
    for the rest of the session's transaction."""
    s.info["kequn_decided"] = (s.get_transaction(), _as_decided(run_id, snapshot_id))


class Cards:
    """Where the workbench and one-customer decisions read facts: an analytical
    store (``None``: none configured, and every card shows its slim row only)."""

    def __init__(self, analytics: Path | str | None) -> None:
        self.reader = CardFacts(analytics) if analytics else None

    def many(
        self,
        s: Session,
        customer_ids: Iterable[str],
        columns: frozenset[str] | None = None,
        erased: Collection[str] | None = None,
        ledger: bool = False,
        recs: bool = True,
    ) -> dict[str, Facts]:
        """Each customer's facts; a customer the run does not know (one who has
        left, say) has none. ``columns``: only these of the profile, and the
        recommendations (what a decision reads), with the green ledger if
        ``ledger`` (``recs`` False: the profile's columns alone); ``erased``:
        which of the customers were erased, when the caller read it with their
        cards."""
        ids = sorted(set(customer_ids))
        if self.reader is None or not ids:
            return {}
        where = decided(s)
        if where is None:
            return {}
        found = self.reader.facts(ids, where.run_schema, columns, ledger, recs)
        # an erased customer's age goes with their birth date, in every copy
        if erased is None:
            erased = set(s.scalars(select(Erasure.customer_id).where(Erasure.customer_id.in_(list(found)))))
        for cid in erased:
            if cid in found:
                found[cid].pop("age", None)
        return found

    def facts(
        self,
        s: Session,
        customer_id: str,
        columns: frozenset[str] | None = None,
        ledger: bool = False,
        erased: bool | None = None,
    ) -> Facts:
        """One customer's facts (``many``); ``erased``: whether they were, when
        the caller read it with their card."""
        known = None if erased is None else ([customer_id] if erased else [])
        return self.many(s, [customer_id], columns, known, ledger).get(customer_id, {})

    def attributes(self, s: Session) -> dict[str, str]:
        """The bank's own attributes a card shows: name -> label."""
        where = decided(s) if self.reader is not None else None
        if self.reader is None or where is None:
            return {}
        return self.reader.attributes(where.run_schema)

    def history(self, s: Session, customer_ids: Iterable[str], since: datetime) -> list[dict[str, Any]]:
        """Every contact of the customers from ``since``: the bank's own, as the run
        behind the cards keeps them, and the outcomes logged in Kequn."""
        ids = sorted(set(customer_ids))
        out: list[dict[str, Any]] = []
        where = decided(s) if self.reader is not None else None
        if self.reader is not None and where is not None:
            out = [h for h in self.reader.history(ids, where.run_schema) if h["ts"] >= since]
        rows = s.execute(
            select(Outcome.customer_id, Outcome.at, Task.campaign_id, Outcome.action, Outcome.outcome)
            .outerjoin(Task, Task.task_id == Outcome.task_id)
            .where(Outcome.customer_id.in_(ids), Outcome.at >= since, Outcome.outcome != "survey")
        ).all()
        out += [
            {"customer_id": cid, "ts": at, "campaign": campaign or action, "outcome": outcome}
            for cid, at, campaign, action, outcome in rows
        ]
        return out

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
