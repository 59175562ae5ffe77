"""Resident ID numbers (居民身份证号码, GB 11643-1999).

18 characters: a 6-digit administrative region code, the birth date as
YYYYMMDD, a 3-digit sequence (odd for men, even for women) and a check digit
computed with ISO 7064 MOD 11-2 (``X`` stands for 10).
"""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

#: First two digits of the region code: the provinces, autonomous regions and
#: municipalities of GB/T 2260, plus Taiwan, Hong Kong and Macao.
PROVINCE_CODES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    }
)

_SHAPE = re.compile(r"[0-9]{17}[0-9X]")  # ASCII digits only, unlike \d


def check_digit(first17: str) -> str:
    """The check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def problem(id_number: str) -> str | None:
    """``None`` for a valid number, else the quarantine reason code."""
    if not _SHAPE.fullmatch(id_number) or id_number[:2] not in PROVINCE_CODES:
        return "bad_id_format"
    try:
        date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return "bad_id_format"
    if check_digit(id_number[:17]) != id_number[17]:
        return "bad_id_check_digit"
    return None


def birth_date(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def gender(id_number: str) -> str:
    return "M" if int(id_number[16]) % 2 == 1 else "F"
