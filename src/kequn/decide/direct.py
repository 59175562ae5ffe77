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
from kequn.decide.talk import render, values
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, record
from kequn.store.models import Customer, Staff, Task


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
    task_id = f"{now.date().isoformat()}:{card.customer_id}:{action.name}{suffix}"
    existing = s.get(Task, task_id)
    if existing is not None:
        return Proposed(existing, verdict)
    staff = s.get(Staff, manager_id)
    vals = values(facts, card.name, card.gender, staff.name if staff else None, product, pb)
    value = float(facts.get("aum_month_end") or 0) * 0.002
    task = Task(
        task_id=task_id,
        run_id=None,
        as_of=now.date(),
        customer_id=card.customer_id,
        manager_id=manager_id,
        action=action.name,
        trigger=trigger,
        kind=action.kind,
        channel=verdict.channel or action.channels[0],
        scheduled_at=now,
        contact_window="now",
        priority=value * action.prior,
        value=value,
        propensity=action.prior,
        urgency=1.0,
        product_id=product.get("product_id") if product else None,
        talk_track=render(action.talk_track, vals),
        visit_material=render(action.visit_material, vals) if action.visit_material else None,
        explanation={
            "trigger": trigger,
            "action": action.name,
            "kind": action.kind,
            "rules_passed": ["in_person"]
            if in_person
            else ["applicable", "suitable", "within_contact_policy"],
            "product": product.get("product_id") if product else None,
            "note": note,
            "features_used": [],
        },
        status="open",
        source=source,
        version=1,
        created_at=now,
        updated_at=now,
    )
    s.add(task)
    record(
        s,
        [
            Event(
                f"system:{source}",
                "system",
                "decision_direct",
                card.customer_id,
                {"task": task_id, "trigger": trigger, "action": action.name, "manager": manager_id},
                now,
            )
        ],
    )
    return Proposed(task, verdict)
