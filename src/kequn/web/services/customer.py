"""Customer 360: profile, tier, allocation against the model portfolio, wealth
health with findings and actions, recommendations, holdings, event timeline,
contact history and carbon ledger. Personal data masked by default."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session, aliased

from kequn.pipeline.health import counted_weights
from kequn.pipeline.health_texts import FACTS as HEALTH_FACTS
from kequn.pipeline.health_texts import diagnoses
from kequn.pipeline.texts import CLASS_ZH
from kequn.playbook import LoadedPlaybook
from kequn.playbook.model import ASSET_CLASSES
from kequn.privacy.consent import consents_of
from kequn.privacy.explain import explain_recommendation, explain_task
from kequn.privacy.masking import mask
from kequn.store.cards import Cards
from kequn.store.models import (
    Branch,
    Consent,
    ContactPreference,
    Customer,
    CustomerHolding,
    Erasure,
    Outcome,
    OwnershipChange,
    Staff,
    Task,
    TimelineEntry,
)
from kequn.web.security import Viewer
from kequn.web.services.privacy import clear_fields, trail_read
from kequn.web.services.scope import customers_in_scope
from kequn.web.services.views import (
    COMPONENT_ZH,
    HOLDING_CLASS_ZH,
    TIER_ZH,
    person,
    segments_of,
)

COMPONENTS = tuple(COMPONENT_ZH)

#: the profile's columns the customer's page, its report and the API show, beside
#: the bank's own attributes and the green ledger's counts: with the ledger's
#: these are 68 of the profile's 146 columns at 1,000,000 customers, and its facts
#: are read in 1.7 ms rather than 3.2 (``pipeline.cards._RunFile.facts``);
#: ``tests/test_customer_page.py`` renders the page from these and from every
#: column, and finds them alike
PAGE_FACTS = frozenset(
    {
        "age",
        "aum",
        "aum_month_end",
        "carbon_grams",
        "green_points",
        "health_score",
        "life_stage",
        "lifecycle",
        "next_tier_gap",
        "prev_tier",
        "risk_level",
        "risk_valid",
        "tier",
        "tier_move",
        "value_return",
        *HEALTH_FACTS,
        *(f"target_{c}" for c in ASSET_CLASSES),
        *(f"{c}_amount" for c in ASSET_CLASSES),
    }
)


@dataclass
class Customer360:
    card: Customer
    person: dict[str, Any]
    facts: dict[str, Any]
    segments: list[str]
    owner: str | None
    allocation: list[dict[str, Any]]
    health: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    holdings: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    carbon: list[dict[str, Any]]
    open_tasks: list[Task]
    consents: dict[str, bool]
    opted_out: bool
    do_not_contact: bool
    explanations: list[dict[str, Any]]
    #: who serves the customer, as the report names them: the bank, the unit, the manager
    bank: str | None = None
    unit: str | None = None
    manager: str | None = None
    #: the bank's own attributes (its mapping declares them): label and value
    attributes: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def tier_zh(self) -> str:
        return TIER_ZH.get(self.card.tier, self.card.tier)


def _seen_by(viewer: Viewer, customer_id: str) -> ColumnElement[bool]:
    """The customer, if the viewer may see them."""
    return and_(Customer.customer_id == customer_id, customers_in_scope(viewer))


def find_customer(s: Session, viewer: Viewer, customer_id: str) -> Customer | None:
    return s.scalar(select(Customer).where(_seen_by(viewer, customer_id)))


def customer_360(
    s: Session,
    cards: Cards,
    viewer: Viewer,
    customer_id: str,
    pb: LoadedPlaybook | None = None,
    clear: frozenset[str] = frozenset(),
) -> Customer360 | None:
    """The customer's page, if the viewer may see them (else None: not found)."""
    # the card with what the page names beside it, in one query: whether the
    # customer was erased, their manager's name, their branch
    unit_of = aliased(Branch)  # the scope's own subquery reads branches too
    found = s.execute(
        select(Customer, Erasure.customer_id, Staff.name, unit_of)
        .outerjoin(Erasure, Erasure.customer_id == Customer.customer_id)
        .outerjoin(Staff, Staff.manager_id == Customer.owner_manager_id)
        .outerjoin(unit_of, unit_of.branch_id == Customer.home_branch_id)
        .where(_seen_by(viewer, customer_id))
    ).first()
    if found is None:
        return None
    card, erased, manager, unit = found
    attributes = cards.attributes(s)
    f = cards.facts(s, customer_id, PAGE_FACTS | set(attributes), ledger=True, erased=bool(erased))
    aum = float(f.get("aum_month_end") or 0)
    allocation = [
        {
            "class": c,
            "class_zh": CLASS_ZH[c],
            "actual": round(float(f.get(f"{c}_amount") or 0) / aum, 4) if aum else 0.0,
            "target": float(f.get(f"target_{c}") or 0),
            "amount": float(f.get(f"{c}_amount") or 0),
        }
        for c in CLASS_ZH
    ]
    # how the score adds up: each judged component's score times its share of
    # the weight (a component that could not be judged has none)
    shares = counted_weights(
        pb.playbook.health.weights if pb is not None else {}, {c: f.get(f"health_{c}") for c in COMPONENTS}
    )
    said = diagnoses(f, pb) if pb is not None else dict.fromkeys(COMPONENTS)
    health = [
        {
            "component": c,
            "component_zh": COMPONENT_ZH[c],
            "score": f.get(f"health_{c}"),
            "band": f.get(f"band_{c}"),
            "finding": worded[0] if worded else None,
            "action": worded[1] if worded else None,
            "weight": share,
            "points": None if share is None else round(float(f[f"health_{c}"]) * share, 1),
        }
        for c in COMPONENTS
        for share, worded in ((shares.get(c), said[c]),)
    ]
    recs = []
    gaps_shown: set[Any] = set()
    for r in f.get("recs") or []:
        r = dict(r)
        if r.get("is_pension"):
            r["expected_return"] = None  # never shown for pension products
        # products of one class fill one gap: its amount is shown once, beside the
        # first of them, so that a banker does not read the rows as adding up
        r["gap_class_zh"] = CLASS_ZH.get(r.get("asset_class") or "", r.get("asset_class"))
        r["same_gap"] = r.get("asset_class") in gaps_shown
        gaps_shown.add(r.get("asset_class"))
        recs.append(r)
    holdings = [
        {
            "account": mask("account", h.account_id),
            "product_id": h.product_id,
            "product_name": h.product_name,
            "type": h.product_type,
            "class_zh": HOLDING_CLASS_ZH.get(h.asset_class, h.asset_class),
            "risk_level": h.risk_level,
            "balance": h.balance,
            "currency": h.currency,
            "maturity_date": h.maturity_date,
        }
        for h in s.scalars(
            select(CustomerHolding)
            .where(CustomerHolding.customer_id == customer_id)
            .order_by(CustomerHolding.balance.desc())
        )
    ]
    timeline: list[dict[str, Any]] = [
        {"at": t.at, "kind": t.kind, "labels": [t.kind], "amount": t.amount, "note": t.note, "source": "txn"}
        for t in s.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.customer_id == customer_id)
            .order_by(TimelineEntry.at.desc())
            .limit(30)
        )
    ]
    contacts = [
        {
            "at": o.at,
            "action": o.action,
            "channel": o.channel,
            "outcome": o.outcome,
            "amount": o.amount,
            "manager_id": o.manager_id,
            "note": o.note,
        }
        for o in s.scalars(
            select(Outcome).where(Outcome.customer_id == customer_id).order_by(Outcome.at.desc()).limit(50)
        )
    ]
    timeline += [
        {
            "at": c["at"],
            "kind": f"contact:{c['outcome']}",
            "labels": ["contact", c["outcome"], c["action"]],
            "amount": c["amount"],
            "note": c["note"],
            "source": "contact",
        }
        for c in contacts
    ]
    # read once: the timeline shows each change, the card the consents in force
    recorded = list(s.scalars(select(Consent).where(Consent.customer_id == customer_id)))
    timeline += [
        {
            "at": c.ts,
            "kind": f"consent:{c.purpose}",
            "labels": ["consent", c.purpose, "granted" if c.granted else "withdrawn"],
            "amount": None,
            "note": None,
            "source": "consent",
        }
        for c in recorded
    ]
    changes = list(s.scalars(select(OwnershipChange).where(OwnershipChange.customer_id == customer_id)))
    named = _managers_named(s, {i for o in changes for i in (o.from_manager_id, o.to_manager_id)})
    timeline += [
        {
            "at": o.at,
            "kind": f"owner:{o.reason}",
            "labels": ["owner", o.reason],
            "amount": None,
            "note": f"{named(o.from_manager_id)} → {named(o.to_manager_id)}",
            "source": "ownership",
        }
        for o in changes
    ]
    timeline.sort(key=lambda e: e["at"] or datetime.min, reverse=True)
    owner = None
    if card.owner_manager_id:
        owner = _manager_label(card.owner_manager_id, manager)
    root = s.get(Branch, unit.path.strip("/").split("/")[0]) if unit and unit.path else None
    open_tasks = list(
        s.scalars(
            select(Task)
            .where(Task.customer_id == customer_id, Task.status == "open")
            .order_by(Task.as_of.desc())
        )
    )
    consents = consents_of(s, card, recorded)
    prefs = s.get(ContactPreference, customer_id)
    explanations = []
    if pb is not None:
        explanations = [
            {"task_id": t.task_id, **explain_task(t.explanation or {}, pb, t.channel)} for t in open_tasks
        ] + [explain_recommendation(r) for r in recs]
    return Customer360(
        card,
        person(card, clear),
        f,
        segments_of(card),
        owner,
        allocation,
        health,
        recs,
        holdings,
        timeline[:60],
        contacts,
        list(f.get("carbon") or []),
        open_tasks,
        consents,
        bool(prefs and prefs.personalised_opt_out),
        bool(prefs and prefs.do_not_contact),
        explanations,
        root.name if root else None,
        unit.name if unit else None,
        manager,
        [(label, f.get(name)) for name, label in attributes.items() if name in f],
    )


def view_customer(
    s: Session,
    cards: Cards,
    pb: LoadedPlaybook,
    viewer: Viewer,
    customer_id: str,
    action: str = "view_customer",
) -> Customer360 | None:
    """The 360 as the viewer's role may see it, the view put on the access trail."""
    c = customer_360(s, cards, viewer, customer_id, pb, clear_fields(pb, viewer))
    if c is not None:
        trail_read(s, viewer, action, customer_id, {})
    return c


def _managers_named(s: Session, ids: set[str | None]) -> Callable[[str | None], str]:
    """A manager as a banker reads them in a change of owner: name and number
    (the number alone where the manager is no longer on the staff list)."""
    wanted = sorted(i for i in ids if i)
    found = select(Staff.manager_id, Staff.name).where(Staff.manager_id.in_(wanted))
    names: dict[str, str] = {m: n for m, n in s.execute(found)} if wanted else {}

    return lambda manager_id: _manager_label(manager_id, names.get(manager_id)) if manager_id else "—"


def _manager_label(manager_id: str, name: str | None) -> str:
    """A manager by name and number; by number alone where no name is known."""
    return f"{name} ({manager_id})" if name else manager_id
