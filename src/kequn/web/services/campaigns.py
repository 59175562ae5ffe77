"""Who reaches which groups and campaigns, and the business moment of an action."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kequn.core.clock import SHANGHAI, now
from kequn.store.campaign_models import Campaign
from kequn.store.models import Branch
from kequn.web.security import Viewer


def moment_of(day: date) -> datetime:
    """Now, on the business day the pages show (the same day in production; a
    fixed day in a demo or a test, whose tasks must land on that day)."""
    clock = now().astimezone(SHANGHAI)
    return datetime.combine(day, clock.timetz())


def group_unit(viewer: Viewer) -> str | None:
    """The unit a new group belongs to: the bank's (None) for HQ, else the user's."""
    return None if viewer.sees_all else viewer.branch_id


def campaigns_in_reach(s: Session, viewer: Viewer) -> list[Campaign]:
    q = select(Campaign).order_by(Campaign.created_at.desc())
    if not viewer.sees_all:
        if not viewer.branch_path:
            return []
        q = q.where(
            Campaign.branch_id.in_(select(Branch.branch_id).where(Branch.path.like(viewer.branch_path + "%")))
        )
    return list(s.scalars(q))
