"""Tasks made by people rather than by triggers: a referral from the floor, a lead
from a micro-salon. Both go through the funnel's stages like any trigger. A
salon lead is marketing: every rule holds, but a person chose the customer, so
it is not arbitrated against the day's other work. A referral is the customer
standing in the branch asking to see a manager: only do-not-contact stops it,
and it takes no capacity; its explanation says which stages it skipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kequn.decide.one import decide_one
from kequn.decide.single_tasks import new_task, open_tasks
from kequn.playbook import LoadedPlaybook
from kequn.rules import SKIPPED, passed_before
from kequn.store.cards import Cards
from kequn.store.models import Customer, Staff, Task

#: the stages a person's choice does not go through
SKIPS = {
    "referral": ("in_person", ("arbitrated", "within_capacity")),
    "salon": ("chosen_by_staff", ("arbitrated", "within_capacity")),
}


@dataclass
class Verdict:
    ok: bool
    stage: str
    reason: str
    channel: str | None = None


@dataclass
class Proposed:
    task: Task | None
    verdict: Verdict


def propose(
    s: Session,
    cards: Cards,
    card: Customer,
    action_name: str,
    trigger: str,
    manager_id: str,
    now: datetime,
    pb: LoadedPlaybook,
    source: str,
    note: str | None = None,
    in_person: bool = False,
    suffix: str = "",
) -> Proposed:
    """Runs the funnel for one customer and one action a person chose, and stores the task."""
    action = next((a for a in pb.playbook.actions if a.name == action_name), None)
    if action is None:
        raise ValueError(f"the playbook has no action {action_name!r}")
    proposal = {
        "customer_id": card.customer_id,
        "trigger": trigger,
        "urgency": 1.0,
        "action": action.name,
        "campaign_id": None,
        "campaign_channels": None,
    }
    facts = cards.facts(s, card.customer_id)
    judged = decide_one(s, pb, card, facts, now, proposals=[proposal], manager_id=manager_id)
    row = judged[0]
    if in_person:
        # standing in the branch: only do-not-contact stops the meeting
        stopped = row["rule"] == "do_not_contact"
        channel = action.channels[0]
    else:
        stopped = row["rule"] is not None
        channel = (row["channels_left"] or [None])[0]
    if stopped:
        return Proposed(None, Verdict(False, row["stage"], row["rule"]))
    skip, skipped = SKIPS["referral" if in_person else "salon"]
    staff = s.get(Staff, manager_id)
    value = float(row["value"] or 0.0)
    product = _product(row)
    [task] = open_tasks(
        s,
        [
            new_task(
                pb,
                card,
                action,
                trigger=trigger,
                manager_id=manager_id,
                manager_name=staff.name if staff else None,
                channel=channel or action.channels[0],
                scheduled_at=now,
                product=product,
                facts=facts,
                score={
                    "value": value,
                    "propensity": action.prior,
                    "urgency": 1.0,
                    "priority": value * action.prior,
                },
                explanation={
                    "rules_passed": ["within_contact_policy:do_not_contact"]
                    if in_person
                    else [st for st in passed_before("task") if st not in skipped],
                    "skipped": list(skipped) if not in_person else [*skipped, "applicable", "suitable"],
                    "skipped_why": {"zh": SKIPPED[skip][0], "en": SKIPPED[skip][1]},
                    "note": note,
                    "features_used": [],
                },
                source=source,
                audit=(f"system:{source}", "decision_direct", {"manager": manager_id}),
                now=now,
                suffix=suffix,
            )
        ],
    )
    return Proposed(task, Verdict(True, "task", "", channel))


def _product(row: dict[str, Any]) -> dict[str, Any] | None:
    if not row.get("product_id"):
        return None
    return {
        "product_id": row["product_id"],
        "product_name": row.get("product_name"),
        "expected_return": row.get("expected_return"),
        "is_pension": bool(row.get("is_pension")),
        "term_days": row.get("term_days"),
    }
