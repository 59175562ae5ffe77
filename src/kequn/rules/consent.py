"""Consent (PIPL): per purpose, per channel; the customer's do-not-contact and
refusal of personalised targeting (DOMAIN.md §11).

A pair or task row carries the latest state of each purpose as a column
``consent_<purpose>`` (true granted, false refused or withdrawn, NULL never
asked), ``do_not_contact`` and ``personalised_opt_out``. These expressions
decide on them; the funnel, the real-time path and the withdrawal of open
tasks when a consent changes all evaluate them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

PURPOSES = (
    "marketing_phone",
    "marketing_sms",
    "marketing_wechat",
    "personalised_recommendation",
    "third_party_sharing",
    "sensitive_processing",
)


def column(purpose: str) -> str:
    return f"consent_{purpose}"


def latest_consents(events: ir.Table) -> ir.Table:
    """One row per customer, a column per purpose: the latest grant or refusal.
    ``events``: customer_id, purpose, granted, ts (the bank's and Kequn's own)."""
    # two answers at the same moment: the refusal holds
    ranked = events.mutate(
        rn=ibis.row_number().over(
            group_by=[events.customer_id, events.purpose], order_by=[ibis.desc(events.ts), events.granted]
        )
    )
    last = ranked.filter(ranked.rn == 0)
    return last.group_by("customer_id").aggregate(
        **{column(p): last.granted.cast("boolean").max(where=last.purpose == p) for p in PURPOSES}
    )


def purpose_of(channel: ir.StringValue, channel_consent: Mapping[str, str]) -> ir.StringValue:
    return ibis.cases(*((channel == ch, p) for ch, p in channel_consent.items()), else_=ibis.null("string"))


def given(row: ir.Table, channel: ir.StringValue, channel_consent: Mapping[str, str]) -> ir.BooleanValue:
    """The state of the purpose ``channel`` needs, on ``row`` (NULL: never asked)."""
    return ibis.cases(
        *((channel == ch, row[column(p)]) for ch, p in channel_consent.items()),
        else_=ibis.null("boolean"),
    )


def channel_allowed(
    row: ir.Table, kind: ir.StringValue, channel: ir.StringValue, channel_consent: Mapping[str, str]
) -> ir.BooleanValue:
    """Marketing needs the channel's consent granted; service and compliance
    contacts may use any channel the customer has not refused."""
    g = given(row, channel, channel_consent)
    return ibis.ifelse(kind == "marketing", g.fill_null(False), g.fill_null(True))


def opted_out(row: ir.Table) -> ir.BooleanValue:
    """The customer refused personalised targeting, either way of saying it."""
    return row.personalised_opt_out.fill_null(False) | (
        row[column("personalised_recommendation")] == ibis.literal(False)
    ).fill_null(False)


def refused_personalisation(
    row: ir.Table, kind: ir.StringValue, personalised: ir.BooleanValue
) -> ir.BooleanValue:
    """A marketing or personalised action to a customer who opted out."""
    return opted_out(row) & ((kind == "marketing") | personalised.fill_null(False))


def no_contact(row: ir.Table, kind: ir.StringValue) -> ir.BooleanValue:
    """Do-not-contact stops everything but compliance (a re-assessment, say)."""
    return row.do_not_contact.fill_null(False) & (kind != "compliance")


def withdrawn(
    row: ir.Table,
    kind: ir.StringValue,
    channel: ir.StringValue,
    personalised: ir.BooleanValue,
    channel_consent: Mapping[str, str],
) -> ir.StringValue:
    """Why an open task may no longer be worked (NULL: it may): the rules above,
    applied to the task's own channel."""
    return ibis.cases(
        (no_contact(row, kind), "do_not_contact"),
        (refused_personalisation(row, kind, personalised), "personalised_opt_out"),
        (~channel_allowed(row, kind, channel, channel_consent), "no_consent_for_channel"),
        else_=ibis.null("string"),
    )


# one customer at a time ------------------------------------------------------------------

EVENTS = ibis.schema(
    {"customer_id": "string", "purpose": "string", "granted": "boolean", "ts": "timestamp('UTC')"}
)
_EVENTS = ibis.table(EVENTS, name="consent_events")
_LATEST = latest_consents(_EVENTS)


def card_events(customer_id: str, card: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The bank's latest answer per purpose, as a working card keeps it
    ({purpose: {granted, ts}}), as consent events."""
    out = []
    for purpose, state in (card or {}).items():
        if isinstance(state, Mapping) and state.get("granted") is not None:
            ts = state.get("ts")
            moment = _moment(ts)
            out.append(
                {
                    "customer_id": customer_id,
                    "purpose": purpose,
                    "granted": bool(state["granted"]),
                    "ts": moment,
                }
            )
    return out


def _moment(ts: Any) -> datetime:
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    if isinstance(ts, str):
        moment = datetime.fromisoformat(ts)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime(1970, 1, 1, tzinfo=UTC)


def state_of(customer_id: str, events: Sequence[Mapping[str, Any]]) -> dict[str, bool | None]:
    """The consents in force for one customer: ``latest_consents`` over their
    events (the bank's and Kequn's own), evaluated in process."""
    from kequn.rules.rows import execute

    rows = execute(_LATEST, {"consent_events": [dict(e) for e in events]})
    found = rows[0] if rows else {}
    return {p: found.get(column(p)) for p in PURPOSES}
