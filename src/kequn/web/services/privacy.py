"""The workbench's side of personal information protection: what a role sees in
clear, unmasking with a reason, the access trail of views, consent changes and
opt-outs from the customer's page, and compliance's search of the trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kequn.core.clock import SHANGHAI
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, record
from kequn.privacy.masking import reason_is_stated
from kequn.privacy.report import Alert, unusual_access
from kequn.store.models import AuditEntry, Customer
from kequn.web.security import Viewer

UNMASKABLE = ("name", "id_number", "phone")


class UnmaskRefused(Exception):
    pass


def clear_fields(pb: LoadedPlaybook, viewer: Viewer) -> frozenset[str]:
    return frozenset(pb.playbook.privacy.clear.get(viewer.role, []))  # type: ignore[call-overload]


def trail(s: Session, viewer: Viewer, action: str, customer_id: str | None, detail: dict[str, Any]) -> None:
    """On the trail with what it records, in the request's transaction (a change)."""
    record(s, [Event(viewer.login, viewer.role, action, customer_id, detail)])


def trail_read(
    s: Session, viewer: Viewer, action: str, customer_id: str | None, detail: dict[str, Any]
) -> None:
    """A read on the trail at once, committed with nothing else pending: the read
    has happened whatever the page does next, and the trail's head is locked for
    the append alone, not while the page renders (every view would queue behind
    it). The request's own connection: a second one per request would starve the
    pool under load."""
    if s.new or s.dirty or s.deleted:
        raise RuntimeError("a read's trail entry would commit the request's pending changes")
    record(s, [Event(viewer.login, viewer.role, action, customer_id, detail)])
    s.commit()


def unmask(
    s: Session, pb: LoadedPlaybook, viewer: Viewer, card: Customer, field: str, reason: str, moment: datetime
) -> str | None:
    """One field of one customer in clear, for a stated reason, within the day's limit."""
    p = pb.playbook.privacy
    if viewer.role not in p.unmask_roles:
        raise UnmaskRefused("your role may not unmask personal data")
    if field not in UNMASKABLE:
        raise UnmaskRefused(f"{field} cannot be unmasked")
    reason = " ".join((reason or "").split())
    if not reason_is_stated(reason):
        raise UnmaskRefused(
            "请写明查看原因(至少4个字，不能只是数字或符号) / "
            "state why you need it in words (at least 4 characters)"
        )
    # recorded first: the append holds the trail's lock until the request ends, so
    # the count below includes every unmask committed before it and this one;
    # parallel requests are counted one after another, never all against the same total
    trail(s, viewer, "unmask", card.customer_id, {"field": field, "reason": reason[:200]})
    start = datetime.combine(moment.astimezone(SHANGHAI).date(), time(0), SHANGHAI)
    used = s.scalar(
        select(func.count()).where(
            AuditEntry.actor == viewer.login, AuditEntry.action == "unmask", AuditEntry.at >= start
        )
    )
    if (used or 0) > p.unmask_per_day:
        # the request fails, so its trail entry is rolled back with it
        raise UnmaskRefused(
            f"今日查看次数({p.unmask_per_day}次)已用完 / the daily limit of {p.unmask_per_day} is used up"
        )
    value: str | None = getattr(card, field)
    return value


@dataclass(frozen=True)
class TrailQuery:
    actor: str | None = None
    customer_id: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None
    limit: int = 200


def search(s: Session, q: TrailQuery) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(min(q.limit, 1000))
    if q.actor:
        stmt = stmt.where(AuditEntry.actor == q.actor)
    if q.customer_id:
        stmt = stmt.where(AuditEntry.customer_id == q.customer_id)
    if q.action:
        stmt = stmt.where(AuditEntry.action == q.action)
    since = _morning(q.since)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    until = _morning(q.until, 1)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    return list(s.scalars(stmt))


def _morning(day: date | None, later: int = 0) -> datetime | None:
    """The start of ``day`` (plus ``later`` days) in Beijing; None when there is no
    day, or when it lies beyond what a stored moment can be (year 1, year 9999):
    such a bound holds for every entry."""
    if day is None:
        return None
    try:
        moment = datetime.combine(day + timedelta(days=later), time(0), SHANGHAI)
        moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment


def alerts(s: Session, pb: LoadedPlaybook, day: date, days: int = 7) -> list[Alert]:
    return unusual_access(s, pb, datetime.combine(day - timedelta(days=days), time(0), SHANGHAI))
