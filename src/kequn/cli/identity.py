"""Who runs a command, as the audit trail names them."""

from __future__ import annotations

import getpass


def operator() -> tuple[str, str]:
    """The system user, on the trail as ``cli:<user>`` with the role ``operator``."""
    return f"cli:{getpass.getuser()}", "operator"
