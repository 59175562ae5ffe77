"""What each role may reach: a relationship manager their own book, a branch
head their branch subtree, HQ and compliance the whole bank. Anything outside
is not found (404), never shown."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.orm import Session

from kequn.store.models import Branch, Customer, Staff
from kequn.web.security import Viewer


def customers_in_scope(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.sees_all:
        return true()
    if viewer.is_manager and viewer.manager_id:
        return Customer.owner_manager_id == viewer.manager_id
    if viewer.role == "branch_head" and viewer.branch_path:
        return Customer.home_branch_id.in_(
            select(Branch.branch_id).where(Branch.path.like(viewer.branch_path + "%"))
        )
    return false()


def managers_in_scope(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.sees_all:
        return true()
    if viewer.role == "branch_head" and viewer.branch_path:
        return Staff.branch_id.in_(select(Branch.branch_id).where(Branch.path.like(viewer.branch_path + "%")))
    if viewer.manager_id:
        return Staff.manager_id == viewer.manager_id
    return false()


#: floor staff work their own branch's lobby
FLOOR_ROLES = frozenset({"lobby_manager", "teller"})


def customers_to_act_on(viewer: Viewer) -> ColumnElement[bool]:
    """Whom a user may record something about (a visit, an event, a check-in):
    their book; floor staff the customers of their own branch; no one else."""
    if viewer.role in FLOOR_ROLES:
        return Customer.home_branch_id == viewer.branch_id if viewer.branch_id else false()
    if viewer.read_only:
        return false()
    return customers_in_scope(viewer)


def all_within_reach(s: Session, viewer: Viewer, customer_ids: Iterable[str]) -> bool:
    """Every one of ``customer_ids`` is someone the user may act on (see above).
    The one check each write route about customers makes; a refusal is answered
    as "not found", so nothing is learnt of customers outside."""
    wanted = set(customer_ids)
    if not wanted:
        return True
    found = s.scalar(
        select(func.count())
        .select_from(Customer)
        .where(Customer.customer_id.in_(wanted), customers_to_act_on(viewer))
    )
    return found == len(wanted)
