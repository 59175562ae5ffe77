"""Personal data never reaches a log unmasked: every log record's message is
scrubbed of resident ID and mobile numbers when it is made, whichever logger
or handler it goes to (SQLAlchemy's parameter logging included)."""

from __future__ import annotations

import logging
from typing import Any

from kequn.privacy.masking import scrub

_installed = False


def install() -> None:
    """Wraps the log record factory once per process; idempotent."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return record
        clean = scrub(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(scrubbed)
    _installed = True
