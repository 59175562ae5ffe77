"""Masking personal data by role (DOMAIN.md §11): name 张*, ID 1101**********1234,
phone 138****5678, account ****6789. Every page, API answer, export and log line
goes through these; a role sees a field in clear only where the playbook says so."""

from __future__ import annotations

import re
from collections.abc import Mapping

FIELDS = ("name", "id_number", "phone", "account")


def reason_is_stated(reason: str) -> bool:
    """A reason for seeing a field in clear says something: four characters or
    more, and some of them letters or Chinese characters ("1234" or "...." is not
    a reason). The one test for the workbench's unmask and the dialler's export."""
    return len(reason) >= 4 and sum(ch.isalpha() for ch in reason) >= 2


def mask_name(value: str | None) -> str | None:
    if not value:
        return value
    return value[0] + "*" * max(1, len(value) - 1)


def mask_id(value: str | None) -> str | None:
    if not value:
        return value
    return value[:4] + "*" * max(0, len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)


def mask_phone(value: str | None) -> str | None:
    if not value:
        return value
    return value[:3] + "****" + value[-4:] if len(value) >= 8 else "*" * len(value)


def mask_account(value: str | None) -> str | None:
    if not value:
        return value
    return "****" + value[-4:] if len(value) > 4 else "*" * len(value)


MASKERS = {"name": mask_name, "id_number": mask_id, "phone": mask_phone, "account": mask_account}


def mask(field: str, value: str | None, clear: frozenset[str] = frozenset()) -> str | None:
    """``value`` as the viewer may see it: in clear only if ``field`` is in ``clear``."""
    return value if field in clear else MASKERS[field](value)


def masked_record(
    record: Mapping[str, object],
    clear: frozenset[str] = frozenset(),
    columns: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """A copy of ``record`` with its personal fields masked; ``columns`` maps the
    record's keys to FIELDS where they differ (e.g. account_id -> account)."""
    mapping = {
        "name": "name",
        "id_number": "id_number",
        "phone": "phone",
        "account_id": "account",
        **(columns or {}),
    }
    out = dict(record)
    for key, field in mapping.items():
        if key in out and isinstance(out[key], str):
            out[key] = mask(field, out[key], clear)  # type: ignore[arg-type]
    return out


_ID = re.compile(
    r"(?<![0-9])([1-9][0-9]{5})((?:19|20)[0-9]{2}[01][0-9][0-3][0-9])([0-9]{3}[0-9Xx])"
    r"(?![0-9])"
)
_PHONE = re.compile(r"(?<![0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")


def scrub(text: str) -> str:
    """Masks any resident ID or mobile number in free text (log lines, errors)."""
    text = _ID.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(3)[-4:], text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
