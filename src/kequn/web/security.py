"""Sign-in, sessions, CSRF and what each role may reach.

Passwords are argon2id hashes, at the cost ``KEQUN_PASSWORD_COST`` names (see
``PASSWORD_COSTS``); a hash made at another cost is remade at the next sign-in,
so raising the cost reaches every user who signs in again. A session is a
random id in an HttpOnly, Secure, SameSite cookie, kept server-side with its
own CSRF token, which every form and HTMX request must send back. Repeated
failures lock an account for a while.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from fastapi import HTTPException, Request
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.store.models import Branch, User, WebSession
from kequn.web.settings import Settings

SESSION_COOKIE = "kequn_session"
PRE_COOKIE = "kequn_pre"  # double-submit token for the sign-in form, before any session
RM_ROLES = frozenset({"private_banker", "wealth_manager", "remote_manager", "service_manager"})
ROLES = RM_ROLES | {"branch_head", "hq", "compliance", "lobby_manager", "teller"}
#: who plans customer groups and campaigns
PLANNERS = ("branch_head", "hq")
#: who works the branch floor (check-ins and referrals)
FLOOR_STAFF = ("lobby_manager", "teller")
#: argon2id costs a bank may choose: RFC 9106's second recommendation (64 MiB,
#: three passes, four lanes; the default) or OWASP's minimum (19 MiB, two passes,
#: one lane), a tenth of the work, for machines that must sign many people in
PASSWORD_COSTS = {
    "rfc9106": profiles.RFC_9106_LOW_MEMORY,
    "owasp-minimum": replace(profiles.RFC_9106_LOW_MEMORY, memory_cost=19456, time_cost=2, parallelism=1),
}


@cache
def hasher() -> PasswordHasher:
    """The hasher at the cost ``KEQUN_PASSWORD_COST`` names (read once a process)."""
    name = os.environ.get("KEQUN_PASSWORD_COST") or "rfc9106"
    if name not in PASSWORD_COSTS:
        raise KequnError(
            f"KEQUN_PASSWORD_COST={name!r} is not a known cost; one of {', '.join(PASSWORD_COSTS)}"
        )
    return PasswordHasher.from_parameters(PASSWORD_COSTS[name])


def hash_password(password: str) -> str:
    return hasher().hash(password)


def password_matches(stored: str, password: str) -> bool:
    try:
        return hasher().verify(stored, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Viewer:
    """The signed-in user and the reach of their role."""

    user_id: int
    login: str
    display_name: str
    role: str
    manager_id: str | None
    branch_id: str | None
    branch_path: str | None
    csrf_token: str
    session_id: str

    @property
    def is_manager(self) -> bool:
        return self.role in RM_ROLES

    @property
    def sees_all(self) -> bool:
        return self.role in ("hq", "compliance")

    @property
    def read_only(self) -> bool:
        return self.role == "compliance"


class SignInError(Exception):
    pass


REFUSED = "wrong login or password (an account is locked for a while after repeated failures)"


def sign_in(s: Session, login: str, password: str, settings: Settings) -> tuple[User, str, str]:
    """Checks the password (with lock-out); returns the user, session id and CSRF token."""
    user = s.scalar(select(User).where(User.login == login))
    moment = now()
    # one answer, after the same work, whatever went wrong: an unknown login, a
    # locked account and a wrong password cannot be told apart, in words or in time
    if user is None or not user.active:
        hash_password(password)
        raise SignInError(REFUSED)
    right = password_matches(user.password_hash, password)
    if user.locked_until is not None and user.locked_until > moment:
        raise SignInError(REFUSED)
    if not right:
        user.failed_attempts += 1
        if user.failed_attempts >= settings.lockout_attempts:
            user.locked_until = moment + timedelta(minutes=settings.lockout_minutes)
            user.failed_attempts = 0
        raise SignInError(REFUSED)
    user.failed_attempts = 0
    user.locked_until = None
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    s.add(
        WebSession(
            session_id=session_id,
            user_id=user.user_id,
            csrf_token=csrf,
            created_at=moment,
            expires_at=moment + timedelta(hours=settings.session_hours),
        )
    )
    return user, session_id, csrf


def sign_out(s: Session, session_id: str) -> None:
    s.execute(delete(WebSession).where(WebSession.session_id == session_id))


#: the session, its user and the user's branch in one round trip: every request
#: asks, so the statement is built once
_SIGNED_IN = (
    select(WebSession, User, Branch.path)
    .join(User, User.user_id == WebSession.user_id)
    .outerjoin(Branch, Branch.branch_id == User.branch_id)
    .where(WebSession.session_id == bindparam("session_id"))
)


def viewer_for(s: Session, session_id: str | None, moment: datetime) -> Viewer | None:
    if not session_id:
        return None
    row = s.execute(_SIGNED_IN, {"session_id": session_id}).first()
    if row is None:
        return None
    ws, user, path = row
    if ws.expires_at <= moment or not user.active:
        return None
    return Viewer(
        user.user_id,
        user.login,
        user.display_name,
        user.role,
        user.manager_id,
        user.branch_id,
        path,
        ws.csrf_token,
        ws.session_id,
    )


def check_csrf(request: Request, viewer: Viewer, form_token: str | None) -> None:
    """Every state-changing request carries the session's token (form field or
    the X-CSRF-Token header that HTMX sends); anything else is refused."""
    token = form_token or request.headers.get("x-csrf-token") or ""
    if not hmac.compare_digest(token, viewer.csrf_token):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")


def require(viewer: Viewer | None, *roles: str) -> Viewer:
    if viewer is None:
        raise HTTPException(status_code=401, detail="sign in first")
    if roles and viewer.role not in roles:
        raise HTTPException(status_code=403, detail="not for your role")
    return viewer
