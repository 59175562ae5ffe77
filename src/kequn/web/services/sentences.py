"""Kequn's own sentences read in the page's language.

Findings and advice of the wealth diagnosis, and the reasons of a
recommendation, are written in Chinese when the run computes them, each from a
template (the playbook's health texts, ``recommend.REASON_CLAUSES``). Read in
English, a sentence is matched back to its template, the template's English
comes from the catalogue, and the values found in the Chinese are carried over
(translated too where they are names, such as an asset class). A sentence that
matches no template, or whose template has no English, is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from kequn.pipeline.recommend import REASON_CLAUSES
from kequn.playbook.load import LoadedPlaybook

_SLOT = re.compile(r"\{([a-z_]+)\}")
#: the clauses of one sentence (a recommendation's reasons are several)
_CLAUSES = re.compile(r"[；;]")


def templates_of(pb: LoadedPlaybook) -> tuple[str, ...]:
    found: list[str] = []
    for bands in pb.playbook.health.texts.values():
        for texts in bands.values():
            found += [texts.finding, texts.action]
    return (*dict.fromkeys(found), *REASON_CLAUSES)


@lru_cache(maxsize=8)
def _patterns(templates: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each template as a pattern that finds its values again; the longest
    literal first, so that a template with more fixed words wins."""
    compiled = []
    for template in templates:
        pieces = _SLOT.split(template)
        pattern = "".join(
            re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>.+?)" for i, piece in enumerate(pieces)
        )
        compiled.append((template, re.compile(pattern)))
    literal = lambda t: len(_SLOT.sub("", t))  # noqa: E731
    return tuple(sorted(compiled, key=lambda p: -literal(p[0])))


def in_language(
    text: str | None, language: str, translate: Callable[[str], str], templates: Iterable[str]
) -> str:
    """``text`` (Chinese, as the run wrote it) in ``language``."""
    if not text or language == "zh_CN":
        return text or ""
    patterns = _patterns(tuple(templates))
    return "; ".join(_clause(c.strip(), patterns, translate) for c in _CLAUSES.split(text) if c.strip())


def _value(slot: str, value: str, translate: Callable[[str], str]) -> str:
    """A value carried into English: an amount in 万 (a ``*_wan`` slot) in yuan
    with thousands separators, as English pages give money; a name translated."""
    if slot.endswith("_wan"):
        try:
            yuan = Decimal(value.replace(",", "")) * 10_000
        except InvalidOperation:
            return value
        return f"{yuan.quantize(Decimal(1)):,f}"
    name = translate(value)
    # an asset class inside a sentence is a common noun ("a fixed income gap")
    return name[:1].lower() + name[1:] if slot in ("asset_class", "gap_class") else name


def _clause(
    clause: str, patterns: tuple[tuple[str, re.Pattern[str]], ...], translate: Callable[[str], str]
) -> str:
    for template, pattern in patterns:
        found = pattern.fullmatch(clause)
        if found is None:
            continue
        english = translate(template)
        if english == template:
            return clause
        return english.format(**{k: _value(k, v, translate) for k, v in found.groupdict().items()})
    return clause
