"""The branch floor (厅堂): check-ins, referrals (转介), micro-salons (微沙龙) and
outbound visits (外拓), and the rates a branch is measured on.

A check-in is a real-time event: the customer's triggers are decided at once
(the ``in_branch`` trigger proposes a face-to-face meeting), and floor staff see
the customer's best action, a masked summary and the manager on duty: the owner
when the owner works at this branch, otherwise the branch's manager with the
lightest day. Referral rate (*) = referrals / check-ins, by post (lobby or
counter), over a period."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from kequn.core.clock import SHANGHAI
from kequn.core.errors import KequnError
from kequn.decide.direct import Proposed, propose
from kequn.decide.propensity import Model
from kequn.decide.realtime import handle_event
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, record
from kequn.privacy.masking import mask_name
from kequn.store import Store
from kequn.store.campaign_models import CheckIn, MicroSalon, OutboundVisit, Referral
from kequn.store.cards import Cards
from kequn.store.models import Customer, Outcome, Staff, Task, TimelineEntry

RM_ROLES = ("private_banker", "wealth_manager", "remote_manager", "service_manager")
POSTS = {"lobby_manager": "lobby", "teller": "counter"}
AUM_BANDS = (
    (0, "5万以下"),
    (50_000, "5万-20万"),
    (200_000, "20万-100万"),
    (1_000_000, "100万-600万"),
    (6_000_000, "600万以上"),
)
TARGET_KINDS = ("merchant", "employer", "community")


@dataclass
class FloorView:
    checkin_id: int
    customer_id: str
    summary: dict[str, Any]
    best_action: str | None
    best_action_zh: str | None
    talk_track: str | None
    duty_manager_id: str | None
    duty_manager_name: str | None
    managers: list[tuple[str, str]] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)


def _band(aum: Decimal) -> str:
    label = AUM_BANDS[0][1]
    for line, name in AUM_BANDS:
        if aum >= line:
            label = name
    return label


def masked_summary(card: Customer, pb: LoadedPlaybook, day: date) -> dict[str, Any]:
    """What floor staff may see: no number, no full name, bands instead of amounts."""
    tiers = {t.name: t.zh for t in pb.playbook.tiers.ladder}
    h = pb.playbook.health
    age = None
    if card.birth_date:
        years = (
            day.year
            - card.birth_date.year
            - ((day.month, day.day) < (card.birth_date.month, card.birth_date.day))
        )
        age = f"{years // 10 * 10}多岁"
    return {
        "name": mask_name(card.name),
        "gender": {"M": "男", "F": "女"}.get(card.gender or "", ""),
        "age_band": age,
        "tier": tiers.get(card.tier, card.tier),
        "aum_band": _band(card.aum or Decimal(0)),
        # the score banded by the playbook's lines, as each component is
        "health_band": "良好"
        if card.health_score >= h.good_from
        else ("一般" if card.health_score >= h.poor_below else "待改善"),
        "owned": card.owner_manager_id is not None,
    }


def branch_managers(s: Session, branch_id: str) -> list[Staff]:
    return list(
        s.scalars(
            select(Staff)
            .where(Staff.branch_id == branch_id, Staff.active, Staff.role.in_(RM_ROLES))
            .order_by(Staff.manager_id)
        )
    )


def duty_manager(s: Session, card: Customer, branch_id: str, day: date) -> Staff | None:
    """The owner when they work here; else the branch's manager with the fewest open tasks today
    (wealth managers first: they hold the branch's face-to-face work)."""
    owner = s.get(Staff, card.owner_manager_id) if card.owner_manager_id else None
    if owner is not None and owner.active and owner.branch_id == branch_id:
        return owner
    here = branch_managers(s, branch_id)
    if not here:
        return None
    load = dict(
        s.execute(
            select(Task.manager_id, func.count())
            .where(
                Task.as_of == day, Task.status == "open", Task.manager_id.in_([m.manager_id for m in here])
            )
            .group_by(Task.manager_id)
        ).all()
    )
    return min(here, key=lambda m: (m.role != "wealth_manager", load.get(m.manager_id, 0), m.manager_id))


def check_in(
    ops: Store,
    cards: Cards,
    pb: LoadedPlaybook,
    customer_id: str,
    branch_id: str,
    staff_login: str,
    staff_role: str,
    now: datetime,
    model: Model | None = None,
) -> FloorView:
    post = POSTS.get(staff_role)
    if post is None:
        raise KequnError("only lobby managers and tellers check customers in")
    with ops.session() as s:
        if s.get(Customer, customer_id) is None:
            raise KequnError(f"unknown customer {customer_id!r}")
    # the customer in the branch is an event: the same triggers and rules as any other
    event = handle_event(ops, cards, {"customer_id": customer_id, "event_type": "check_in"}, pb, model, now)
    actions = {a.name: a for a in pb.playbook.actions}
    with ops.session() as s:
        card = s.get(Customer, customer_id)
        assert card is not None
        best = event.task
        if best is None:
            best = s.scalars(
                select(Task)
                .where(Task.customer_id == customer_id, Task.status == "open", Task.as_of <= now.date())
                .order_by(Task.priority.desc())
                .limit(1)
            ).first()
        duty = duty_manager(s, card, branch_id, now.date())
        row = CheckIn(
            customer_id=customer_id,
            branch_id=branch_id,
            post=post,
            staff_login=staff_login,
            at=now,
            best_action=best.action if best else None,
            duty_manager_id=duty.manager_id if duty else None,
        )
        s.add(row)
        s.flush()
        record(
            s,
            [
                Event(
                    staff_login,
                    staff_role,
                    "floor_check_in",
                    customer_id,
                    {"branch": branch_id, "post": post},
                    now,
                )
            ],
        )
        return FloorView(
            checkin_id=row.checkin_id,
            customer_id=customer_id,
            summary=masked_summary(card, pb, now.date()),
            best_action=best.action if best else None,
            best_action_zh=actions[best.action].zh if best and best.action in actions else None,
            talk_track=None,  # the talk track names the customer: it is for the manager, not the floor
            duty_manager_id=duty.manager_id if duty else None,
            duty_manager_name=duty.name if duty else None,
            managers=[(m.manager_id, m.name) for m in branch_managers(s, branch_id)],
            triggers=event.triggers,
        )


def refer(
    ops: Store,
    cards: Cards,
    pb: LoadedPlaybook,
    checkin_id: int,
    to_manager_id: str,
    staff_login: str,
    staff_role: str,
    now: datetime,
    note: str | None = None,
) -> tuple[Referral, Proposed]:
    """转介: the checked-in customer to a manager of the branch, who gets a task now."""
    with ops.session() as s:
        visit = s.get(CheckIn, checkin_id)
        if visit is None or visit.staff_login != staff_login:
            raise KequnError(f"no check-in {checkin_id} of yours")
        manager = s.get(Staff, to_manager_id)
        if manager is None or not manager.active or manager.branch_id != visit.branch_id:
            raise KequnError(f"{to_manager_id} is not a manager of this branch")
        card = s.get(Customer, visit.customer_id)
        assert card is not None
        referral = Referral(
            checkin_id=checkin_id,
            customer_id=visit.customer_id,
            branch_id=visit.branch_id,
            post=visit.post,
            staff_login=staff_login,
            to_manager_id=to_manager_id,
            at=now,
            note=(note or "")[:200] or None,
        )
        s.add(referral)
        s.flush()
        proposed = propose(
            s,
            cards,
            card,
            "referral_meet",
            "referral",
            to_manager_id,
            now,
            pb,
            "referral",
            note=referral.note,
            in_person=True,
            suffix=f":{referral.referral_id}",
        )
        referral.task_id = proposed.task.task_id if proposed.task else None
        record(
            s,
            [
                Event(
                    staff_login,
                    staff_role,
                    "floor_referral",
                    visit.customer_id,
                    {"to": to_manager_id, "post": visit.post, "task": referral.task_id},
                    now,
                )
            ],
        )
        return referral, proposed


def log_salon(
    ops: Store,
    cards: Cards,
    pb: LoadedPlaybook,
    manager_id: str,
    topic: str,
    listeners: int,
    leads: list[str],
    sales: int,
    sales_amount: Decimal,
    now: datetime,
    product_id: str | None = None,
) -> tuple[MicroSalon, list[Proposed]]:
    """A micro-salon held by ``manager_id``; each lead gets a follow-up task (their
    owner's, or the holder's when unowned) if the contact rules allow it."""
    if listeners < 0 or sales < 0 or sales_amount < 0:
        raise KequnError("listeners, sales and amounts cannot be negative")
    if not topic.strip():
        raise KequnError("a micro-salon needs its topic")
    with ops.session() as s:
        holder = s.get(Staff, manager_id)
        if holder is None:
            raise KequnError(f"unknown manager {manager_id!r}")
        known = set(s.scalars(select(Customer.customer_id).where(Customer.customer_id.in_(leads))))
        unknown = [c for c in leads if c not in known]
        if unknown:
            raise KequnError(f"unknown customers among the leads: {', '.join(unknown[:5])}")
        salon = MicroSalon(
            branch_id=holder.branch_id,
            manager_id=manager_id,
            day=now.date(),
            at=now,
            product_id=product_id,
            topic=topic.strip()[:100],
            listeners=listeners,
            leads=sorted(known),
            sales=sales,
            sales_amount=sales_amount,
        )
        s.add(salon)
        s.flush()
        made = []
        for customer_id in sorted(known):
            card = s.get(Customer, customer_id)
            assert card is not None
            made.append(
                propose(
                    s,
                    cards,
                    card,
                    "salon_follow_up",
                    "micro_salon",
                    card.owner_manager_id or manager_id,
                    now,
                    pb,
                    "salon",
                    note=topic[:100],
                )
            )
        return salon, made


def log_visit(
    ops: Store,
    manager_id: str,
    target_kind: str,
    target_name: str,
    customers: list[str],
    leads: int,
    new_customers: int,
    now: datetime,
    note: str | None = None,
    merchant_maintenance: bool = False,
) -> OutboundVisit:
    """外拓: logged once, and on the timeline of each customer it was about."""
    if target_kind not in TARGET_KINDS:
        raise KequnError(f"target kind: one of {', '.join(TARGET_KINDS)}")
    if not target_name.strip():
        raise KequnError("an outbound visit names whom it visited")
    with ops.session() as s:
        who = s.get(Staff, manager_id)
        if who is None:
            raise KequnError(f"unknown manager {manager_id!r}")
        known = sorted(
            set(s.scalars(select(Customer.customer_id).where(Customer.customer_id.in_(customers))))
        )
        visit = OutboundVisit(
            branch_id=who.branch_id,
            manager_id=manager_id,
            day=now.date(),
            target_kind=target_kind,
            target_name=target_name.strip()[:100],
            customers=known,
            leads=max(leads, 0),
            new_customers=max(new_customers, 0),
            note=(note or "")[:300] or None,
            merchant_maintenance=merchant_maintenance,
        )
        s.add(visit)
        for customer_id in known:
            s.add(
                TimelineEntry(
                    customer_id=customer_id,
                    at=now,
                    kind="outbound_visit",
                    channel="visit",
                    note=f"外拓：{visit.target_name}"[:200],
                )
            )
        s.flush()
        return visit


@dataclass
class FloorFigures:
    checkins: dict[str, int] = field(default_factory=dict)
    referrals: dict[str, int] = field(default_factory=dict)
    referral_sales: int = 0
    salons: int = 0
    salon_standard: int = 0
    salon_listeners: int = 0
    salon_leads: int = 0
    salon_sales: int = 0
    salon_amount: Decimal = Decimal(0)
    visits: int = 0

    def rate(self, post: str) -> float | None:
        """Referrals over check-ins at ``post``; None when no one checked in there."""
        n = self.checkins.get(post, 0)
        return self.referrals.get(post, 0) / n if n else None


def floor_figures(s: Session, branches: list[str] | None, start: date, end: date) -> FloorFigures:
    """Floor measures for the units ``branches`` (None: all) over [start, end]."""
    t0 = datetime.combine(start, time(0, 0), SHANGHAI)
    t1 = datetime.combine(end + timedelta(days=1), time(0, 0), SHANGHAI)
    f = FloorFigures()

    def within(col: Any) -> Any:
        return col.in_(branches) if branches is not None else true()

    def by_post(table: type[CheckIn] | type[Referral]) -> dict[str, int]:
        return {
            p: int(n)
            for p, n in s.execute(
                select(table.post, func.count())
                .where(within(table.branch_id), table.at >= t0, table.at < t1)
                .group_by(table.post)
            ).all()
        }

    f.checkins = by_post(CheckIn)
    f.referrals = by_post(Referral)
    f.referral_sales = int(
        s.scalar(
            select(func.count(func.distinct(Outcome.task_id)))
            .join(Referral, Referral.task_id == Outcome.task_id)
            .where(within(Referral.branch_id), Referral.at >= t0, Referral.at < t1, Outcome.outcome == "sold")
        )
        or 0
    )
    row = s.execute(
        select(
            func.count(),
            func.coalesce(func.sum(MicroSalon.listeners), 0),
            func.coalesce(func.sum(MicroSalon.sales), 0),
        ).where(within(MicroSalon.branch_id), MicroSalon.day >= start, MicroSalon.day <= end)
    ).one()
    f.salons, f.salon_listeners, f.salon_sales = int(row[0]), int(row[1]), int(row[2])
    for leads, amount in s.execute(
        select(MicroSalon.leads, MicroSalon.sales_amount).where(
            within(MicroSalon.branch_id), MicroSalon.day >= start, MicroSalon.day <= end
        )
    ).all():
        f.salon_leads += len(leads or [])
        f.salon_amount += amount or Decimal(0)
    wealth = s.scalar(
        select(func.count())
        .select_from(Staff)
        .where(within(Staff.branch_id), Staff.active, Staff.role == "wealth_manager")
    )
    working_days = sum(1 for i in range((end - start).days + 1) if (start + timedelta(days=i)).weekday() < 5)
    f.salon_standard = int(wealth or 0) * max(working_days, 1)
    f.visits = int(
        s.scalar(
            select(func.count())
            .select_from(OutboundVisit)
            .where(within(OutboundVisit.branch_id), OutboundVisit.day >= start, OutboundVisit.day <= end)
        )
        or 0
    )
    return f
