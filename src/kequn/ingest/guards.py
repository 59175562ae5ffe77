"""How far one night's extract may move from the snapshot before it.

A truncated export, a file sent twice, a job that ran on the wrong day: each
looks like a valid extract whose rows simply differ. The guards compare the
staged extract with the latest published snapshot (customers, holdings, total
AUM) and its own share of quarantined rows; beyond the playbook's limits the
extract is not published unless a person accepts it with a reason. An extract
with a required table empty, or with every row of a table quarantined, is
refused whatever the limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

from kequn.core.errors import KequnError
from kequn.ingest.sql import literal


@dataclass(frozen=True)
class Limits:
    """Relative changes allowed against the previous snapshot (0.05: ±5%)."""

    customers: float = 0.05
    holdings: float = 0.10
    aum: float = 0.10
    #: the share of any table's rows that may be quarantined
    quarantined: float = 0.05
    #: product types whose balances make up AUM (liabilities excluded)
    aum_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Moved:
    measure: str
    before: Decimal | int | None
    after: Decimal | int
    change: float  # relative, or the quarantined share
    limit: float

    def describe(self) -> str:
        if self.measure.startswith("quarantined"):
            table = self.measure.split(":", 1)[1]
            return (
                f"{table}: {self.change:.1%} of rows quarantined ({self.after:,} of {self.before:,}); "
                f"the playbook allows {self.limit:.0%}"
            )
        return (
            f"{self.measure}: {self.before:,} → {self.after:,} ({self.change:+.1%}); "
            f"the playbook allows ±{self.limit:.0%}"
        )


@dataclass(frozen=True)
class Figures:
    customers: int
    holdings: int
    aum: Decimal


@dataclass
class GuardReport:
    previous: str | None
    figures: Figures
    moved: list[Moved] = field(default_factory=list)
    accepted_by: str | None = None
    reason: str | None = None


class ExtractRefused(KequnError):
    """The extract was not published: it moved too far, or it is empty."""

    def __init__(self, message: str, report: GuardReport | None = None) -> None:
        self.report = report
        super().__init__(message)


def figures(con: duckdb.DuckDBPyConnection, prefix: str, aum_types: Sequence[str]) -> Figures:
    """The measures of an extract: ``prefix`` "accepted_" in the stage, or a
    snapshot's schema followed by a dot."""
    types = ", ".join(literal(t) for t in aum_types) or "''"
    row = con.execute(f"""
        SELECT (SELECT count(*) FROM {prefix}customers),
               (SELECT count(*) FROM {prefix}holdings),
               (SELECT coalesce(sum(h.balance), 0) FROM {prefix}holdings h
                JOIN {prefix}products p USING (product_id) WHERE p.type IN ({types}))""").fetchone()
    assert row is not None
    return Figures(int(row[0]), int(row[1]), Decimal(row[2]))


def never_empty(counts: Sequence[tuple[str, int, int, bool]]) -> None:
    """``counts``: (table, read, accepted, optional). A required table with no
    rows, or any table whose every row was quarantined, is not an extract."""
    problems = []
    for table, read, accepted, optional in counts:
        if read == 0 and not optional:
            problems.append(f"{table}: the file holds no rows (a header alone, or a truncated export)")
        elif read > 0 and accepted == 0:
            problems.append(f"{table}: every one of its {read:,} rows was quarantined")
    if problems:
        raise ExtractRefused("not published: " + "; ".join(problems))


def check(
    previous: Figures | None,
    previous_id: str | None,
    now: Figures,
    quarantined: Sequence[tuple[str, int, int]],
    limits: Limits,
) -> GuardReport:
    """What moved beyond the limits (``quarantined``: table, read, quarantined)."""
    report = GuardReport(previous_id, now)
    if previous is not None:
        for measure, before, after, limit in (
            ("customers", previous.customers, now.customers, limits.customers),
            ("holdings", previous.holdings, now.holdings, limits.holdings),
            ("AUM", previous.aum, now.aum, limits.aum),
        ):
            if before == 0:
                continue
            change = float((Decimal(after) - Decimal(before)) / Decimal(before))
            if abs(change) > limit:
                report.moved.append(Moved(measure, before, after, change, limit))
    for table, read, bad in quarantined:
        share = bad / read if read else 0.0
        if share > limits.quarantined:
            report.moved.append(Moved(f"quarantined:{table}", read, bad, share, limits.quarantined))
    return report


def enforce(report: GuardReport, accept: str | None, by: str | None) -> GuardReport:
    """Refuses an extract that moved too far, unless ``accept`` gives the reason."""
    if not report.moved:
        return report
    if accept is not None and accept.strip():
        report.accepted_by = by
        report.reason = accept.strip()
        return report
    against = f" against snapshot {report.previous}" if report.previous else ""
    lines = "; ".join(m.describe() for m in report.moved)
    raise ExtractRefused(
        f"not published: the extract moved beyond the playbook's limits{against}: {lines}. "
        'If this is right, ingest again with --accept "the reason"',
        report,
    )
