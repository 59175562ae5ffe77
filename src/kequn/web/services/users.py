"""Users of the workbench."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kequn.store.models import Staff, User
from kequn.web.security import RM_ROLES, ROLES, hash_password


def create_user(
    s: Session,
    login: str,
    password: str,
    role: str,
    moment: datetime,
    manager_id: str | None = None,
    branch_id: str | None = None,
    display_name: str | None = None,
) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(sorted(ROLES))}")
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    if role in RM_ROLES and not manager_id:
        raise ValueError("a relationship manager's user needs --manager")
    staff = s.get(Staff, manager_id) if manager_id else None
    if manager_id and staff is None:
        raise ValueError(f"no staff member {manager_id!r} in the store (run `kequn decide`)")
    if staff is not None and branch_id is None:
        branch_id = staff.branch_id
    existing = s.scalar(select(User).where(User.login == login))
    if existing is not None:
        raise ValueError(f"login {login!r} is taken")
    user = User(
        login=login,
        display_name=display_name or (staff.name if staff else login),
        password_hash=hash_password(password),
        role=role,
        manager_id=manager_id,
        branch_id=branch_id,
        active=True,
        failed_attempts=0,
        created_at=moment,
    )
    s.add(user)
    s.flush()
    return user
