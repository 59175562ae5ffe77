"""Chinese first, English on request: the templates say what they say in Chinese,
and ``translations/en.po`` (Babel's PO format) gives the English."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from fastapi import Request

LANGUAGES = ("zh_CN", "en")
HERE = Path(__file__).parent / "translations"


@cache
def catalog(language: str) -> dict[str, str]:
    path = HERE / f"{language}.po"
    if not path.exists():
        return {}
    with open(path, "rb") as fh:
        po = read_po(fh, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def language_of(request: Request, default: str = "zh_CN") -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("kequn_lang")
    if chosen in LANGUAGES:
        return chosen  # type: ignore[return-value]
    # the bank's language, not the browser's: a branch PC set to English still gets Chinese
    return default


def gettext_for(language: str) -> Callable[[str], str]:
    table = catalog(language)
    return lambda text: table.get(text, text)


#: the grouping and rounding both languages' number patterns ask for: ``#,##0.00``
#: (万元) and ``#,##0`` (yuan), "," between thousands and "." before the decimals in
#: zh_Hans_CN and en_US alike, half to even (tests/test_web.py holds them to Babel's)
WAN_PLACES, YUAN_PLACES = Decimal("0.01"), Decimal(1)


def wan(amount: object, language: str = "zh_CN") -> str:
    """An amount as a banker reads it: in 万元 in Chinese; in English, whole yuan
    with thousands separators (the unit after it, 万元, reads "CNY"). Exact: the
    amount's own decimal digits, never a float's (and a page shows forty)."""
    try:
        # a Decimal or a whole number as it is; a float as its shortest decimal
        exact = isinstance(amount, Decimal) or (isinstance(amount, int) and not isinstance(amount, bool))
        value = Decimal(amount) if exact else Decimal(str(float(amount)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if not value.is_finite():
        return "—"
    if language == "en":
        return f"{value.quantize(YUAN_PLACES, ROUND_HALF_EVEN):,f}"
    return f"{(value / 10_000).quantize(WAN_PLACES, ROUND_HALF_EVEN):,f}"


def amount_words(amount: float, language: str, translate: Callable[[str], str]) -> str:
    """An amount inside a sentence: "5万元", "0.3万元" (no trailing zeros) in
    Chinese; "50,000 CNY" in English."""
    if language == "en":
        return f"{wan(amount, language)} {translate('万元')}"
    value = (Decimal(str(amount)) / 10_000).quantize(Decimal("0.0001")).normalize()
    return f"{value:f}{translate('万元')}"
