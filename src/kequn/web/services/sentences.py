"""Kequn's own sentences read in the page's language.

The findings and advice of the wealth diagnosis are worded on the page
(``health_texts.Sentence``: a template and its figures): read in English, the
template's English comes from the catalogue and is filled with the same
figures, translated where they are names (an asset class, a life stage).

The reasons of a recommendation are written in Chinese by the run, each clause
from a template (``reasons.REASON_CLAUSES``), as were the findings of runs
made before they were worded on the page. Read in English, such a sentence is
matched back to its template and its values carried over alike. A sentence
that matches no template, or whose template has no English, is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from kequn.pipeline.health_texts import Sentence
from kequn.pipeline.reasons import REASON_CLAUSES
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
    text: str | Sentence | None, language: str, translate: Callable[[str], str], templates: Iterable[str]
) -> str:
    """``text`` (a sentence to word, or Chinese as the run wrote it) in ``language``."""
    if isinstance(text, Sentence):
        english = translate(text.template) if language != "zh_CN" else text.template
        if english == text.template:
            return text.filled()
        return text.filled(english, lambda slot, value: _value(slot, value, translate))
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
