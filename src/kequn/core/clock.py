"""Bank time: Asia/Shanghai (UTC+8, no daylight saving).

``KEQUN_CLOCK`` (an ISO 8601 moment) starts this process's clock at that moment
instead of now; it then runs at the normal pace. ``KEQUN_CLOCK_FILE`` names a
file holding such a moment: when the file is rewritten the clock jumps to the
new moment, so a long-running workbench can follow a simulated calendar. A
simulated month (or a demo of another day) runs every command and the
workbench on the bank's calendar this way, so that contact caps, snoozes and
deadlines see the days they would see in production.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
VARIABLE = "KEQUN_CLOCK"
FILE_VARIABLE = "KEQUN_CLOCK_FILE"


def _parse(stated: str) -> datetime:
    moment = datetime.fromisoformat(stated.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


class _Clock:
    def __init__(self) -> None:
        stated = os.environ.get(VARIABLE)
        self.origin = _parse(stated) if stated else None
        self.started = time.monotonic()
        path = os.environ.get(FILE_VARIABLE)
        self.file = Path(path) if path else None
        self.seen: float | None = None

    def now(self) -> datetime:
        if self.file is not None:
            try:
                mtime = self.file.stat().st_mtime_ns
            except OSError:
                mtime = None
            if mtime is not None and mtime != self.seen:
                self.seen = mtime
                self.origin = _parse(self.file.read_text(encoding="utf-8"))
                self.started = time.monotonic()
        if self.origin is None:
            return datetime.now(SHANGHAI)
        return (self.origin + timedelta(seconds=time.monotonic() - self.started)).astimezone(SHANGHAI)


_clock = _Clock()


def restart() -> None:
    """Reads ``KEQUN_CLOCK`` and ``KEQUN_CLOCK_FILE`` again, as a new process would:
    for a process forked from one whose clock was already set."""
    global _clock
    _clock = _Clock()


def now() -> datetime:
    return _clock.now()


def today() -> date:
    return now().date()
