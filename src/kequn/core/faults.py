"""Named places where a test may stop the process dead, to prove that every
step leaves the stores as they were before it or as they are after it, never
in between.

``KEQUN_FAULT=ingest.publish`` kills the process with SIGKILL the moment it
reaches ``point("ingest.publish")``; ``KEQUN_FAULT=decide.publish:drop`` asks
the step to drop its database connection there instead (the step decides
what dropping means). Nothing happens when the variable is unset, which is
always the case outside tests.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

#: every point, in the order a night reaches them
POINTS = (
    "ingest.stage",
    "ingest.validate",
    "ingest.publish",
    "run.compute",
    "run.publish",
    "decide.sync",
    "decide.funnel",
    "decide.publish",
    "web.outcome",
)
VARIABLE = "KEQUN_FAULT"


def point(name: str, drop: Callable[[], None] | None = None) -> None:
    """Kills the process here if ``KEQUN_FAULT`` names this point (or calls
    ``drop`` if it names ``<point>:drop``)."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}")
    if wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif wanted == f"{name}:drop" and drop is not None:
        drop()
