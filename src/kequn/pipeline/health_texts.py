"""The wealth diagnosis in words: each component's finding and the advice that
would raise it, the playbook's templates filled with the customer's own figures.

Written when a page shows them, not by the run: fourteen sentences a customer,
nearly every one different (they carry the customer's figures), were over half
of the profile table's bytes, and rendering and writing them a sixth of the
nightly run at 1,000,000 customers. A page reads one customer's, and reads them
in its own language: the template's translation filled with the same figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from kequn.pipeline.texts import CLASS_ZH
from kequn.playbook import LoadedPlaybook
from kequn.playbook.load import TEXT_VALUES
from kequn.playbook.model import HEALTH_COMPONENTS

#: what a template reads where a figure is unknown
UNKNOWN = "—"
#: a reserve of this many months of spending or more reads "99+" (a few yuan of
#: spending against a deposit would otherwise read as thousands of months)
RESERVE_CAP = 99.0
NOT_ASSESSED = "未测评"
UNKNOWN_SHARE = float("nan")
_SLOT = re.compile(r"\{([^}]*)\}")


def _rounded(x: Any, places: int) -> Decimal | None:
    """``x`` rounded half away from zero (as the run rounds), None if unknown."""
    if x is None:
        return None
    try:
        d = Decimal(str(x))
    except ArithmeticError:
        return None
    if not d.is_finite():
        return None
    return d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def whole(x: Any) -> str:
    """A whole number ("—" if unknown)."""
    d = _rounded(x, 0)
    return UNKNOWN if d is None else str(int(d))


def one_place(x: Any) -> str:
    """One decimal place ("—" if unknown)."""
    d = _rounded(x, 1)
    if d is None:
        return UNKNOWN
    return f"{d + 0:.1f}"  # + 0: no "-0.0"


def _times(x: Any, factor: float) -> float | None:
    return None if x is None else float(x) * factor


def _reserve(months: Any) -> str:
    if months is None:
        return UNKNOWN
    return "99+" if float(months) >= RESERVE_CAP else one_place(months)


#: each placeholder a template may hold (``TEXT_VALUES``), as read from a
#: profile's facts: the figure as a banker reads it in the sentence
SLOTS: dict[str, Callable[[Mapping[str, Any], Mapping[str, str]], str]] = {
    "stage": lambda f, stages: stages.get(f.get("life_stage") or "", f.get("life_stage") or UNKNOWN),
    "risk_level": lambda f, _: f.get("risk_level") or NOT_ASSESSED,
    "gap_class": lambda f, _: CLASS_ZH.get(f.get("gap_class") or "", UNKNOWN),
    "gap_pct": lambda f, _: whole(_times(f.get("allocation_distance"), 100)),
    "growth_pct": lambda f, _: one_place(_times(f.get("aum_growth"), 100)),
    "reserve_months": lambda f, _: _reserve(f.get("liquid_reserve_months")),
    "above_risk_pct": lambda f, _: whole(_times(f.get("above_risk_share"), 100)),
    "n_products": lambda f, _: whole(f.get("n_products")),
    "protection_wan": lambda f, _: one_place(_times(f.get("protection_amount"), 1 / 10_000)),
    # no fixed-term money (NULL) is no peak; a run made before the share was
    # published (no key) does not know it
    "maturity_peak_pct": lambda f, _: whole(_times(f.get("maturity_peak_share", UNKNOWN_SHARE) or 0.0, 100)),
}
assert set(SLOTS) | {"score"} == TEXT_VALUES, "every placeholder the playbook allows has its figure"

#: the profile's columns the sentences read
FACTS = frozenset(
    {
        "life_stage",
        "risk_level",
        "gap_class",
        "allocation_distance",
        "aum_growth",
        "liquid_reserve_months",
        "above_risk_share",
        "n_products",
        "protection_amount",
        "maturity_peak_share",
        *(f"{kind}_{c}" for kind in ("health", "band") for c in HEALTH_COMPONENTS),
    }
)


@dataclass(frozen=True)
class Sentence:
    """A template and the figures it is filled with (in Chinese)."""

    template: str
    values: Mapping[str, str]

    def filled(self, template: str | None = None, value: Callable[[str, str], str] | None = None) -> str:
        """The sentence; ``template``: another language's, ``value``: each figure
        as that language reads it (slot, Chinese value -> text)."""
        read = value or (lambda _slot, v: v)
        return _SLOT.sub(
            lambda m: read(m.group(1), self.values.get(m.group(1), UNKNOWN)), template or self.template
        )

    def __str__(self) -> str:
        return self.filled()


def stage_names(pb: LoadedPlaybook) -> dict[str, str]:
    stages = {r.name: r.zh for r in pb.playbook.life_stages.rules}
    stages[pb.playbook.life_stages.default] = pb.playbook.life_stages.default_zh
    return stages


def diagnoses(facts: Mapping[str, Any], pb: LoadedPlaybook) -> dict[str, tuple[Sentence, Sentence] | None]:
    """Each component's finding and advice for the customer of ``facts``, from
    the band the run judged (None where the playbook has no texts for it); the
    customer's figures are read once for all of them."""
    stages = stage_names(pb)
    figures = {name: figure(facts, stages) for name, figure in SLOTS.items()}
    said: dict[str, tuple[Sentence, Sentence] | None] = {}
    for component in HEALTH_COMPONENTS:
        band = facts.get(f"band_{component}")
        texts = pb.playbook.health.texts.get(component, {}).get(band or "")
        if texts is None:
            said[component] = None
            continue
        values = {**figures, "score": whole(facts.get(f"health_{component}"))}
        said[component] = (Sentence(texts.finding, values), Sentence(texts.action, values))
    return said


def diagnosis(
    facts: Mapping[str, Any], pb: LoadedPlaybook, component: str
) -> tuple[Sentence, Sentence] | None:
    """One component's finding and advice (``diagnoses``)."""
    return diagnoses(facts, pb)[component]
