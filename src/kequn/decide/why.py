"""``kequn why CUSTOMER ACTION``: why a customer did or did not get an action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from kequn import warehouse
from kequn.playbook import LoadedPlaybook
from kequn.playbook.evaluate import evaluate
from kequn.store import Store
from kequn.store.models import Customer

REASONS_ZH = {
    "unowned": "no manager owns the customer",
    "personalised_opt_out": "the customer refused personalised marketing",
    "no_suitable_product": "no suitable product fills the gap the action needs",
    "do_not_contact": "the customer asked not to be contacted",
    "already_open": "the same action is already open for this customer",
    "no_consent_for_channel": "no channel of the action has the customer's consent",
    "marketing_cap": "a marketing contact within the cap period already",
    "suppressed": "ignored or declined too often recently: paused",
    "snoozed": "the customer said 'maybe later': snoozed",
    "outranked": "another action ranked higher for this customer today",
    "over_capacity": "the manager's capacity on every allowed channel was full",
}


@dataclass
class Explanation:
    customer_id: str
    action: str
    decision: str | None
    verdict: str
    lines: list[str] = field(default_factory=list)


def explain(
    duck: duckdb.DuckDBPyConnection, ops: Store, pb: LoadedPlaybook, customer_id: str, action: str
) -> Explanation:
    actions = {a.name: a for a in pb.playbook.actions}
    if action not in actions:
        return Explanation(
            customer_id, action, None, "unknown action", [f"actions: {', '.join(sorted(actions))}"]
        )
    last = warehouse.latest(duck, "decision")
    decision = last.name if last else None
    if decision:
        warehouse.attach(duck, None, [decision])
    row = None
    if decision:
        row = duck.execute(
            f"SELECT trigger, stage, reason, value, propensity, priority, "
            f"channel, manager_id FROM {decision}.pairs WHERE customer_id = ? "
            "AND action = ?",
            [customer_id, action],
        ).fetchone()
    out = Explanation(customer_id, action, decision, "")
    if row is not None:
        trigger, stage, reason, value, prop, prio, channel, manager = row
        out.lines.append(f"proposed by trigger {trigger!r}")
        if stage == "task":
            out.verdict = f"task for {manager} by {channel}"
        else:
            out.verdict = f"dropped at '{stage}': {reason}"
            out.lines.append(REASONS_ZH.get(reason, reason))
        if prio == prio and prio is not None:
            out.lines.append(f"value {value:.2f} × propensity {prop:.3f} × urgency = priority {prio:.3f}")
        return out
    with ops.session() as s:
        card = s.get(Customer, customer_id)
        facts: dict[str, Any] = dict(card.facts) if card else {}
    out.verdict = "not proposed: no trigger for it held"
    for t in pb.playbook.triggers:
        if action not in t.actions:
            continue
        expr = pb.expression("triggers", t.name)
        shown = ", ".join(f"{c}={facts.get(c)!r}" for c in sorted(expr.columns))
        out.lines.append(f"trigger {t.name!r}: {t.when} -> {evaluate(expr, facts)} ({shown})")
    return out
