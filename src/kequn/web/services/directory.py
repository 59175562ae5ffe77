"""Finding a customer in one's book the way a banker asks: by customer number,
by name, by the last four digits of a phone, by a full phone or ID number; with
the count found and pages of them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from kequn.privacy.masking import mask_name
from kequn.store.models import Customer
from kequn.web.security import Viewer
from kequn.web.services.scope import customers_in_scope, customers_to_act_on

PAGE_SIZE = 50
_CUSTOMER_NO = re.compile(r"[A-Za-z]+\d*")
_ID_NUMBER = re.compile(r"\d{15}|\d{17}[\dXx]")
_MOBILE = re.compile(r"1\d{10}")


@dataclass(frozen=True)
class Found:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    by: str  # what the query was read as: all, customer_no, phone_last4, phone, id_number, name


def read_query(q: str) -> tuple[str, ColumnElement[bool] | None]:
    """What a typed query means, as a condition on customers."""
    q = q.strip()
    if not q:
        return "all", None
    if re.fullmatch(r"\d{4}", q):
        return "phone_last4", Customer.phone.endswith(q)
    if _MOBILE.fullmatch(q):
        return "phone", Customer.phone == q
    if _ID_NUMBER.fullmatch(q):
        return "id_number", Customer.id_number == q.upper()
    if _CUSTOMER_NO.fullmatch(q) and any(ch.isdigit() for ch in q):
        return "customer_no", Customer.customer_id.startswith(q.upper())
    if q.isdigit():
        return "customer_no", Customer.customer_id.contains(q)
    return "name", Customer.name.contains(q)


def find_customers(
    s: Session, viewer: Viewer, q: str, page: int = 1, tier_zh: dict[str, str] | None = None
) -> Found:
    by, condition = read_query(q)
    where = [customers_in_scope(viewer)] + ([condition] if condition is not None else [])
    total = int(s.scalar(select(func.count()).select_from(Customer).where(*where)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    stmt = (
        select(Customer)
        .where(*where)
        .order_by(Customer.customer_id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    rows = [
        {
            "customer_id": c.customer_id,
            "name": mask_name(c.name),
            "tier_zh": (tier_zh or {}).get(c.tier or "", c.tier),
            "aum": c.aum,
            "health_score": c.health_score,
        }
        for c in s.scalars(stmt)
    ]
    return Found(rows, total, page, pages, by)


def identify(s: Session, viewer: Viewer, typed: str) -> list[str]:
    """The customers a typed number names exactly, among those the viewer may act
    on: a customer number, a full mobile number or a full ID number. A lobby
    check-in names one person: no partial match, no name, no guess."""
    q = typed.strip()
    if _MOBILE.fullmatch(q):
        condition = Customer.phone == q
    elif _ID_NUMBER.fullmatch(q):
        condition = Customer.id_number == q.upper()
    elif q:
        condition = Customer.customer_id.in_({q, q.upper()})
    else:
        return []
    stmt = select(Customer.customer_id).where(customers_to_act_on(viewer), condition)
    return list(s.scalars(stmt.order_by(Customer.customer_id).limit(5)))
