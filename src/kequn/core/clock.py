"""Bank time: Asia/Shanghai (UTC+8, no daylight saving).

``KEQUN_CLOCK`` (an ISO 8601 moment) starts this process's clock at that moment
instead of now; it then runs at the normal pace. A simulated month (or a demo
of another day) runs every command and the workbench on the bank's calendar
this way, so that contact caps, snoozes and deadlines see the days they would
see in production.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
VARIABLE = "KEQUN_CLOCK"
_started = time.monotonic()


def _start() -> datetime | None:
    stated = os.environ.get(VARIABLE)
    if not stated:
        return None
    moment = datetime.fromisoformat(stated)
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


_origin = _start()


def now() -> datetime:
    if _origin is None:
        return datetime.now(SHANGHAI)
    return (_origin + timedelta(seconds=time.monotonic() - _started)).astimezone(SHANGHAI)


def today() -> date:
    return now().date()
