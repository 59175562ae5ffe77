"""What each role may reach: a relationship manager their own book, a branch
head their branch subtree, HQ and compliance the whole bank. Anything outside
is not found (404), never shown."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, select, true

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
