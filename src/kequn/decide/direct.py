"""Tasks made by people rather than by triggers: a referral from the floor, a lead
from a micro-salon. A salon lead is marketing and must pass the same
applicability and contact rules as any trigger; a referral is the customer
standing in the branch asking to see a manager, so it is a service task that
only an opt-out of contact stops."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kequn.decide.policy import Verdict, applicable, contact_policy
from kequn.decide.realtime import _product, contact_state
from kequn.decide.tasks import open_task
from kequn.playbook import LoadedPlaybook
from kequn.playbook.evaluate import evaluate
from kequn.store.models import Customer, Staff, Task

#: the rules a lead passes: no arbitration or capacity, a person chose the customer
PERSONAL_RULES = ("applicable", "suitable", "within_contact_policy")


@dataclass
class Proposed:
    task: Task | None
    verdict: Verdict


def propose(
    s: Session,
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
    """Checks the contact rules for one customer and action and stores the task."""
    action = next((a for a in pb.playbook.actions if a.name == action_name), None)
    if action is None:
        raise ValueError(f"the playbook has no action {action_name!r}")
    facts: dict[str, Any] = dict(card.facts or {})
    state = contact_state(s, card, now, pb)
    product = _product(action, facts)
    if in_person:
        channel = action.channels[0]
        verdict = (
            Verdict(False, "within_contact_policy", "do_not_contact")
            if state.do_not_contact
            else Verdict(True, "within_contact_policy", "", channel)
        )
    else:
        verdict = applicable(action, state)
        if verdict.ok and action.product != "none" and product is None:
            verdict = Verdict(False, "applicable", "no_suitable_product")
        if verdict.ok:
            forced = "visit" if product and product.get("dual_recording") else None
            verdict = contact_policy(action, state, pb.playbook.contact, now, forced)
    if not verdict.ok:
        return Proposed(None, verdict)
    staff = s.get(Staff, manager_id)
    value = float(evaluate(pb.expression("actions", action.name), facts) or 0.0)
    task = open_task(
        s,
        pb,
        card,
        action,
        trigger=trigger,
        manager_id=manager_id,
        manager_name=staff.name if staff else None,
        channel=verdict.channel or action.channels[0],
        scheduled_at=now,
        product=product,
        facts=facts,
        score={"value": value, "propensity": action.prior, "urgency": 1.0, "priority": value * action.prior},
        explanation={
            "rules_passed": ["in_person"]
            if in_person
            else ["applicable", "suitable", "within_contact_policy"],
            "note": note,
            "features_used": [],
        },
        source=source,
        audit=(f"system:{source}", "decision_direct", {"manager": manager_id}),
        now=now,
        suffix=suffix,
    )
    return Proposed(task, verdict)
