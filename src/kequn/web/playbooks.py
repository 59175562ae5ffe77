"""The playbook the workbench reads: the version released in force (see
``kequn.release.versions``), followed as HQ approves or rolls back, unless the
server was started on a fixed file (``KEQUN_PLAYBOOK``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from kequn.playbook import LoadedPlaybook, load_playbook
from kequn.release.versions import checked
from kequn.store.models import PlaybookVersion

#: how often the version in force is looked up: an approval reaches the
#: workbench within this, and requests in between cost no query
CHECK_SECONDS = 10.0


class Follower:
    def __init__(self, fixed: str | None) -> None:
        self.fixed = fixed is not None
        self.playbook: LoadedPlaybook = load_playbook(Path(fixed) if fixed else None)
        self.version: int | None = None
        self.checked_at = float("-inf")
        self.lock = threading.Lock()
        self.has_table: bool | None = None

    def current(self, s: Session) -> LoadedPlaybook:
        if self.fixed or time.monotonic() - self.checked_at < CHECK_SECONDS:
            return self.playbook
        with self.lock:
            if time.monotonic() - self.checked_at < CHECK_SECONDS:
                return self.playbook
            if self.has_table is None:
                self.has_table = inspect(s.connection()).has_table("playbook_versions")
            found = (
                s.execute(
                    select(PlaybookVersion.version_id, PlaybookVersion.digest).where(
                        PlaybookVersion.status == "active"
                    )
                ).first()
                if self.has_table
                else None
            )
            version = found[0] if found else None
            if version != self.version:
                if found is None:
                    self.playbook = load_playbook(None)
                else:
                    text = s.scalar(select(PlaybookVersion.text).where(PlaybookVersion.version_id == version))
                    self.playbook = checked(text or "")
                self.version = version
            self.checked_at = time.monotonic()
            return self.playbook
