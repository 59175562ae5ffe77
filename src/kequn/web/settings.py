"""Settings from the environment; the app refuses to start when one is wrong."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from kequn.core.errors import KequnError


@dataclass(frozen=True)
class Settings:
    store_url: str
    secret_key: str
    playbook: str | None = None
    #: cookies only over HTTPS (browsers treat localhost as secure, so tests pass)
    secure_cookies: bool = True
    session_hours: int = 12
    lockout_attempts: int = 5
    lockout_minutes: int = 15
    default_language: str = "zh_CN"
    #: the business day pages show; None: today in Beijing
    day: str | None = None
    #: the DuckDB analytical store, for customer groups and campaigns (None: not offered)
    analytics: str | None = None

    @classmethod
    def from_env(cls, store_url: str | None = None, **overrides: object) -> Settings:
        url = store_url or os.environ.get("KEQUN_STORE_URL")
        if not url:
            raise KequnError("KEQUN_STORE_URL (or --store) is required: the operational store")
        secret = os.environ.get("KEQUN_SECRET_KEY") or secrets.token_urlsafe(32)
        if len(secret) < 16:
            raise KequnError("KEQUN_SECRET_KEY must be at least 16 characters")
        values: dict[str, object] = {
            "store_url": url,
            "secret_key": secret,
            "playbook": os.environ.get("KEQUN_PLAYBOOK"),
            "secure_cookies": os.environ.get("KEQUN_INSECURE_COOKIES", "") != "1",
            "day": os.environ.get("KEQUN_DAY"),
            "analytics": os.environ.get("KEQUN_ANALYTICS"),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
