"""The access trail: who viewed, exported, unmasked, changed or decided what about
which customer. Append-only and tamper-evident: every entry carries the hash of
the previous one, so an edited, removed or reordered entry breaks the chain at a
place ``verify`` names. The head's hash is worth writing down somewhere else
(``kequn audit verify`` prints it): a chain rewritten from the start by someone
with write access to the store only shows against such an anchor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from kequn.core.clock import now as clock_now
from kequn.store.models import AuditEntry, AuditHead

GENESIS = "0" * 64

#: what the trail records: an entry of another action is refused (each is named
#: in both languages on the audit page, and compliance filters by them)
ACTIONS = (
    "view_customer",
    "view_report",
    "search",
    "export",
    "unmask",
    "outcome",
    "reassign",
    "decision_run",
    "decision_event",
    "decision_direct",
    "consent_change",
    "opt_out",
    "subject_request",
    "erasure",
    "retention",
    "sign_in",
    "audit_search",
    "ingest_accepted",
    "model_trained",
    "model_activated",
    "model_rolled_back",
    "campaign_launch",
    "campaign_pause",
    "campaign_resume",
    "campaign_tasks",
    "floor_check_in",
    "floor_referral",
    "playbook_submitted",
    "playbook_simulated",
    "playbook_approved",
    "playbook_rolled_back",
)


def canonical(detail: dict[str, Any] | None) -> str:
    """The one JSON text of a detail that is stored and hashed."""
    return json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def digest(lines: Iterable[str]) -> str:
    """One hash over many records (sorted first): a run's entry covers all its tasks."""
    h = hashlib.sha256()
    for line in sorted(lines):
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    customer_id: str | None,
    detail: str,
) -> str:
    body = f"[{seq}{_after_number(at, actor, role, action, customer_id, detail)}"
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _after_number(
    at: datetime, actor: str, role: str, action: str, customer_id: str | None, detail: str
) -> str:
    """What an entry's hashed body holds after its number: the body is the JSON
    list ``[seq, instant, actor, role, action, customer_id, detail]``, and
    PostgreSQL, which numbers an entry as it appends it (``_APPEND``), puts the
    number in front of this."""
    rest = json.dumps(
        [_instant(at), actor, role, action, customer_id, detail], ensure_ascii=False, separators=(",", ":")
    )
    return "," + rest[1:]


#: an entry appended alone on PostgreSQL, in one statement: the head locked, the
#: entry numbered and hashed after the head's hash, stored, and the head moved
#: on. The head stays locked until the transaction ends, as before; what it
#: saves is the time it is held: with the hash computed in Python between
#: three statements, a holder under load waited for its process's other
#: threads before each, and every page that records a view queued behind it.
#: ``FOR UPDATE`` waits for an appender holding the head, then reads the head
#: as that appender left it.
_APPEND = text(
    """
    WITH old AS (SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE),
    new AS (
        SELECT seq + 1 AS seq, hash AS prev_hash,
               encode(sha256(convert_to(hash || '[' || (seq + 1)::text || :rest, 'UTF8')), 'hex') AS hash
        FROM old
    ),
    moved AS (UPDATE audit_head SET seq = new.seq, hash = new.hash FROM new WHERE audit_head.id = 1)
    INSERT INTO audit_log (seq, at, actor, role, action, customer_id, detail, prev_hash, hash)
    SELECT seq, :at, :actor, :role, :action, :customer_id, :detail, prev_hash, hash FROM new
    RETURNING seq, prev_hash, hash
    """
)


@dataclass(frozen=True)
class Event:
    """One thing to record: ``actor`` is a login, or ``system:<job>`` for batch jobs."""

    actor: str
    role: str
    action: str
    customer_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None


def _lock_head(s: Session, count: int) -> tuple[int, str]:
    """Reserves ``count`` sequence numbers; the UPDATE locks the head row (PostgreSQL)
    or the database (SQLite) until the transaction ends, so appends never interleave."""
    reserve = (
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + count)
        .returning(AuditHead.seq, AuditHead.hash)
    )
    row = s.execute(reserve).first()
    if row is None:  # the trail's first entry: its head is made, then reserved as ever
        s.add(AuditHead(id=1, seq=0, hash=GENESIS))
        s.flush()
        row = s.execute(reserve).one()
    return int(row[0]) - count, str(row[1])


def record(s: Session, events: Iterable[Event]) -> list[AuditEntry]:
    """Appends ``events`` to the trail in the session's transaction: they are kept
    if, and only if, what they record is."""
    batch = list(events)
    if not batch:
        return []
    unnamed = sorted({ev.action for ev in batch} - set(ACTIONS))
    if unnamed:
        raise ValueError(f"audit actions {unnamed} are not in kequn.privacy.audit.ACTIONS")
    if len(batch) == 1 and s.get_bind().dialect.name == "postgresql":
        # one entry (a view, an outcome): one statement. A batch's entries (an
        # event batch's tasks) are three statements in all, not one each
        appended = _append_one(s, batch[0])
        if appended is not None:
            return [appended]
    last_seq, prev = _lock_head(s, len(batch))
    moment = clock_now()
    rows = []
    for i, ev in enumerate(batch, start=1):
        at = ev.at or moment
        detail = canonical(ev.detail)
        h = entry_hash(prev, last_seq + i, at, ev.actor, ev.role, ev.action, ev.customer_id, detail)
        rows.append(_entry(ev, last_seq + i, at, detail, prev, h))
        prev = h
    s.add_all(rows)
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
    s.flush()
    return rows


def _append_one(s: Session, ev: Event) -> AuditEntry | None:
    """``ev`` appended on PostgreSQL in one statement; None when the trail has
    no head yet (its first entry makes it)."""
    at = ev.at or clock_now()
    detail = canonical(ev.detail)
    done = s.execute(
        _APPEND,
        {
            "rest": _after_number(at, ev.actor, ev.role, ev.action, ev.customer_id, detail),
            "at": at,
            "actor": ev.actor,
            "role": ev.role,
            "action": ev.action,
            "customer_id": ev.customer_id,
            "detail": detail,
        },
    ).first()
    if done is None:
        return None  # no head: nothing was appended
    seq, prev_hash, h = done
    return _entry(ev, seq, at, detail, prev_hash, h)


def _entry(ev: Event, seq: int, at: datetime, detail: str, prev_hash: str, h: str) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        at=at,
        actor=ev.actor,
        role=ev.role,
        action=ev.action,
        customer_id=ev.customer_id,
        detail=detail,
        prev_hash=prev_hash,
        hash=h,
    )


def record_one(
    s: Session,
    actor: str,
    role: str,
    action: str,
    customer_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    return record(s, [Event(actor, role, action, customer_id, detail or {})])[0]


@dataclass
class Verification:
    checked: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(s: Session, chunk: int = 20_000) -> Iterator[tuple[Any, ...]]:
    """The trail's raw rows in sequence order, nothing parsed: a tampered row must
    be reported, not crash the reader."""
    after: Any = None
    while True:
        where = "" if after is None else "WHERE seq > :after"
        rows = s.execute(
            text(
                "SELECT seq, at, actor, role, action, customer_id, detail, prev_hash, hash "
                f"FROM audit_log {where} ORDER BY seq LIMIT {chunk}"
            ),
            {"after": after},
        ).all()
        if not rows:
            return
        yield from (tuple(r) for r in rows)
        after = rows[-1][0]


def _moment(value: Any) -> datetime:
    """A stored moment: TIMESTAMPTZ from PostgreSQL, UTC text from SQLite."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify(s: Session, expect_head: str | None = None) -> Verification:
    """Walks the whole chain: every entry's hash recomputed, every link and number
    checked, the head compared. Names each problem by the entry at fault: an
    entry whose content no longer matches its hash was changed; an entry that
    matches its own hash but is not the one its successor points at was changed
    and re-hashed (or replaced); a gap in the numbers is a removal."""
    result = Verification()
    prev, expected_seq = GENESIS, 1
    prev_sound = True  # the entry before passed its own check
    last_seq: Any = 0
    for seq, at, actor, role, action, customer_id, detail, prev_hash, stored in _rows(s):
        last_seq = seq
        if not isinstance(seq, int):
            result.problems.append(f"an entry has a sequence number {seq!r} that is not a number")
            prev_sound = False
            continue
        gap = seq != expected_seq
        if gap:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}–{seq - 1}"
            result.problems.append(f"entry {missing} is missing (the trail jumps to {seq})")
        elif prev_hash != prev and prev_sound and seq > 1:
            # the entry before is self-consistent, yet this one was chained to another
            result.problems.append(
                f"entry {seq - 1} was changed after it was written and its hash recomputed, "
                f"or replaced (entry {seq} was chained to a different entry {seq - 1})"
            )
        elif prev_hash != prev and seq == 1:
            result.problems.append("entry 1 does not start from the beginning of the trail")
        try:
            again = entry_hash(str(prev_hash), seq, _moment(at), actor, role, action, customer_id, detail)
            sound = again == stored
            why = "" if sound else f" ({action} by {actor})"
        except (TypeError, ValueError) as exc:
            sound, why = False, f": a field cannot be read ({exc})"
        if not sound:
            result.problems.append(f"entry {seq} was changed after it was written{why}")
        prev, expected_seq, prev_sound = str(stored), seq + 1, sound
        result.checked += 1
    head = s.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != expected_seq - 1 or head_hash != prev:
        if head_seq > last_seq:
            cut = (
                f"entry {head_seq} was"
                if head_seq == expected_seq
                else f"entries {expected_seq}–{head_seq} were"
            )
            result.problems.append(
                f"the trail ends at entry {expected_seq - 1} but its head says {head_seq}: "
                f"{cut} removed from the end"
            )
        elif head_seq == expected_seq - 1 and prev_sound:
            result.problems.append(
                f"entry {head_seq} was changed after it was written and its hash recomputed, "
                "or replaced (the head still holds the hash it was written with)"
            )
        else:
            result.problems.append(
                f"the head (entry {head_seq}, hash {head_hash[:12]}…) does not match the last "
                f"entry {expected_seq - 1}: the end of the trail was rewritten"
            )
    if expect_head is not None and expect_head != head_hash:
        result.problems.append(
            f"the head is {head_hash}, not the anchored {expect_head}: the trail was rewritten "
            "(or the anchor is from another store)"
        )
    result.head = head_hash
    return result
