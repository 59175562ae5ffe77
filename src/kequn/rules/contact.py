"""The contact policy (DOMAIN.md §8): the marketing cap, suppression after
repeated rejections, the snooze a "maybe later" asks for, the pause after an
action (or another of the same occasion) reached the customer, and one open
task per action. Each is an Ibis expression over the customer's contact
history (the outcomes logged), evaluated for every customer at night and for
one customer when an event arrives."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

import ibis
import ibis.expr.types as ir

from kequn.playbook.model import ContactPolicy

#: outcomes that mean the customer was contacted (they count against the cap)
CONTACTED = (
    "reached",
    "interested",
    "declined",
    "sold",
    "maybe_later",
    "complaint",
    "ignored",
    "do_not_contact",
)
#: outcomes that count towards pausing an action
REJECTED = ("ignored", "declined")


def horizon(policy: ContactPolicy) -> timedelta:
    """How far back the history matters to any rule."""
    return timedelta(
        days=max(
            policy.cap_days,
            policy.suppress_window_days + policy.suppress_days,
            policy.snooze_days,
            policy.recontact_days,
        )
    )


def recent_marketing(history: ir.Table, clock: ir.Table, policy: ContactPolicy) -> ir.Table:
    """customer_id, recent_marketing: marketing contacts within the cap period
    before ``clock.now`` (``clock``: one row, the moment of the decision)."""
    h = history.cross_join(clock.select("now"))
    h = h.filter(
        (h.kind == "marketing")
        & h.outcome.isin(list(CONTACTED))
        & (h.at >= h.now - ibis.interval(days=policy.cap_days))
    )
    return h.group_by("customer_id").aggregate(recent_marketing=h.count())


def occasions(triggers: Iterable[Sequence[str]]) -> dict[str, str]:
    """Each action that shares an occasion with another, and the occasion's name
    (its first action in name order). The actions a trigger proposes together
    answer one occasion: a maturity renewal that reached the customer makes
    the maturity notice of the same deposit a second call about it. Two
    triggers that share an action share their occasion. ``triggers``: the
    actions each trigger proposes."""
    groups: list[set[str]] = []
    for actions in triggers:
        joined = set(actions)
        for g in [g for g in groups if g & joined]:
            groups.remove(g)
            joined |= g
        groups.append(joined)
    return {a: min(g) for g in groups if len(g) > 1 for a in g}


def occasion(action: ir.StringValue, of: dict[str, str]) -> ir.StringValue:
    """The occasion ``action`` answers (``of``, from ``occasions``; an action
    alone is its own)."""
    if not of:
        return action
    return ibis.cases(*((action == a, ibis.literal(o)) for a, o in sorted(of.items())), else_=action)


def paused(history: ir.Table, policy: ContactPolicy) -> ir.Table:
    """customer_id, action, suppressed_until, snoozed_until: ``suppress_after``
    rejections of an action within ``suppress_window_days`` pause it for
    ``suppress_days`` from the last; a "maybe later" snoozes it."""
    k = policy.suppress_after
    r = history.filter(history.outcome.isin(list(REJECTED)))
    w = ibis.window(group_by=[r.customer_id, r.action], order_by=r.at)
    r = r.mutate(first_at=r.at.lag(k - 1).over(w))
    window = ibis.interval(days=policy.suppress_window_days)
    r = r.filter(r.first_at.notnull() & (r.at - window <= r.first_at))
    suppressed = r.group_by(["customer_id", "action"]).aggregate(
        suppressed_until=r.at.max() + ibis.interval(days=policy.suppress_days)
    )
    h = history.filter(history.outcome == "maybe_later")
    since = h.group_by(["customer_id", "action"]).aggregate(
        snoozed_until=h.at.max() + ibis.interval(days=policy.snooze_days),
    )
    return suppressed.outer_join(since, ["customer_id", "action"]).select(
        customer_id=ibis.coalesce(suppressed.customer_id, since.customer_id),
        action=ibis.coalesce(suppressed.action, since.action),
        suppressed_until=suppressed.suppressed_until,
        snoozed_until=since.snoozed_until,
    )


def reached(history: ir.Table, policy: ContactPolicy, of: dict[str, str]) -> ir.Table:
    """customer_id, occasion, contacted_until: any contact that reached the
    customer pauses every action of its occasion (``of``, from ``occasions``)
    for ``recontact_days``."""
    h = history.filter(history.outcome.isin(list(CONTACTED)))
    h = h.mutate(occasion=occasion(h.action, of))
    return h.group_by(["customer_id", "occasion"]).aggregate(
        contacted_until=h.at.max() + ibis.interval(days=policy.recontact_days),
    )


def over_cap(row: ir.Table, kind: ir.StringValue, policy: ContactPolicy) -> ir.BooleanValue:
    """Marketing past the cap: ``marketing_cap`` contacts within ``cap_days``."""
    return (kind == "marketing") & (row.recent_marketing.fill_null(0) >= policy.marketing_cap)


def suppressed(row: ir.Table, now: ir.TimestampValue) -> ir.BooleanValue:
    return (row.suppressed_until > now).fill_null(False)


def snoozed(row: ir.Table, now: ir.TimestampValue) -> ir.BooleanValue:
    return (row.snoozed_until > now).fill_null(False)


def contacted_recently(row: ir.Table, now: ir.TimestampValue) -> ir.BooleanValue:
    """The same action, or one of the same occasion, reached the customer less
    than ``recontact_days`` ago."""
    return (row.contacted_until > now).fill_null(False)


def already_open(row: ir.Table) -> ir.BooleanValue:
    """The same action for the same customer, still open: one is enough."""
    return row.already_open.fill_null(False)
