"""Loading a playbook: TOML in, a checked and immutable playbook out, or every
problem at once with its file, line and reason."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from kequn.contract.tables import CONSENT_PURPOSES, PRODUCT_TYPES
from kequn.core.errors import ConfigError
from kequn.core.tomlfile import KeyLines, load_toml
from kequn.playbook.columns import SCOPES
from kequn.playbook.expr import Expression, ExpressionError, parse
from kequn.playbook.model import (
    ASSET_CLASSES,
    BANDS,
    CHANNELS,
    HEALTH_COMPONENTS,
    MAY_BE_UNKNOWN,
    RECOMMENDATION_FACTORS,
    RISK_LEVELS,
    UNKNOWN_BAND,
    Playbook,
)

TEXT_VALUES = {
    "score",
    "stage",
    "risk_level",
    "gap_class",
    "gap_pct",
    "growth_pct",
    "reserve_months",
    "above_risk_pct",
    "n_products",
    "protection_wan",
    "maturity_peak_pct",
}
TOLERANCE = 1e-6
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedPlaybook:
    """A checked playbook with the parsed form of each of its expressions."""

    playbook: Playbook
    source: str
    digest: str
    #: ("segments", name), ("life_stages", name), ("lifecycle", name),
    #: ("carbon", name) -> parsed expression
    expressions: dict[tuple[str, str], Expression] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.playbook.playbook.version

    def expression(self, section: str, name: str) -> Expression:
        return self.expressions[(section, name)]


def default_playbook_path() -> Path:
    return Path(str(resources.files("kequn.playbook").joinpath("default.toml")))


def load_playbook(path: Path | None = None) -> LoadedPlaybook:
    path = Path(path) if path else default_playbook_path()
    data, lines = load_toml(path)
    text = path.read_bytes()
    return check_playbook(data, lines, str(path), hashlib.sha256(text).hexdigest())


def _reason(err: dict[str, object]) -> str:
    loc = ".".join(str(p) for p in err["loc"])  # type: ignore[attr-defined]
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    if err["type"] == "missing":
        return f"missing key {loc!r}"
    return f"{loc}: {str(err['msg']).removeprefix('Value error, ')}"


def check_playbook(data: dict[str, object], lines: KeyLines, source: str, digest: str) -> LoadedPlaybook:
    try:
        pb = Playbook.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [
                (source, lines.line(tuple(e["loc"])), _reason(e))  # type: ignore[arg-type]
                for e in exc.errors()
            ]
        ) from None
    problems: list[tuple[Path_, str]] = []
    expressions: dict[tuple[str, str], Expression] = {}

    def expr(section: str, name: str, text: str, scope: str, where: Path_) -> None:
        try:
            expressions[(section, name)] = parse(text, SCOPES[scope])
        except ExpressionError as exc:
            problems.append((where, f"{section} {name!r}: {exc}"))

    def unique(names: list[str], where: Path_, what: str) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                problems.append(((*where, i), f"{what} {name!r} is defined twice"))
            seen.add(name)

    def sums_to_one(weights: dict[str, float], where: Path_, what: str) -> None:
        total = sum(weights.values())
        if abs(total - 1) > TOLERANCE:
            problems.append((where, f"{what} sum to {total:g}, not 1"))
        for key, w in weights.items():
            if not 0 <= w <= 1:
                problems.append(((*where, key), f"{what}: {key} = {w:g} is outside 0..1"))

    if pb.fx.get("CNY") != 1.0:
        problems.append((("fx",), "fx must give CNY = 1.0"))
    for cur, rate in pb.fx.items():
        if rate <= 0 or not re.fullmatch(r"[A-Z]{3}", cur):
            problems.append(
                (("fx", cur), f"fx {cur} = {rate:g}: a positive rate for an ISO currency code is needed")
            )

    ladder = pb.tiers.ladder
    unique([t.name for t in ladder], ("tiers", "ladder"), "tier")
    for i in range(1, len(ladder)):
        if ladder[i].min_aum >= ladder[i - 1].min_aum:
            problems.append(
                (
                    ("tiers", "ladder", i, "min_aum"),
                    f"tier {ladder[i].name!r}: lines must fall from the top tier down "
                    f"({ladder[i].min_aum:,.0f} is not below {ladder[i - 1].min_aum:,.0f})",
                )
            )
    if ladder[-1].min_aum != 0:
        problems.append(
            (
                ("tiers", "ladder", len(ladder) - 1, "min_aum"),
                "the lowest tier must start at 0 so that every customer has a tier",
            )
        )

    stage_names: dict[str, list[str]] = {}
    for section in ("life_stages", "lifecycle"):
        stages = getattr(pb, section)
        names = [r.name for r in stages.rules]
        unique([*names, stages.default], (section, "rules"), section.replace("_", " "))
        stage_names[section] = [*names, stages.default]
        for i, rule in enumerate(stages.rules):
            expr(section, rule.name, rule.when, "features", (section, "rules", i, "when"))

    unique([s.name for s in pb.segments], ("segments",), "segment")
    for i, seg in enumerate(pb.segments):
        expr("segments", seg.name, seg.when, "classified", ("segments", i, "when"))

    life = stage_names["life_stages"]
    targets = pb.portfolios.targets
    for risk in RISK_LEVELS:
        if risk not in targets:
            problems.append((("portfolios", "targets"), f"no model portfolios for risk level {risk}"))
    for risk, by_stage in targets.items():
        if risk not in RISK_LEVELS:
            problems.append((("portfolios", "targets", risk), f"unknown risk level {risk!r}"))
            continue
        for stage in life:
            if stage not in by_stage:
                problems.append(
                    (
                        ("portfolios", "targets", risk),
                        f"{risk} has no model portfolio for life stage {stage!r}",
                    )
                )
        for stage, weights in by_stage.items():
            where: Path_ = ("portfolios", "targets", risk, stage)
            if stage not in life:
                problems.append((where, f"{risk}.{stage}: unknown life stage"))
            missing = set(ASSET_CLASSES) - set(weights)
            extra = set(weights) - set(ASSET_CLASSES)
            if missing or extra:
                problems.append(
                    (where, f"{risk}.{stage}: asset classes must be exactly {', '.join(ASSET_CLASSES)}")
                )
            sums_to_one(weights, where, f"model portfolio {risk}.{stage} weights")
            for cls, w in weights.items():
                if abs(w * 10_000 - round(w * 10_000)) > 1e-6:
                    problems.append(
                        ((*where, cls), f"{risk}.{stage}.{cls} = {w}: weights have at most 4 decimals")
                    )

    health = pb.health
    if set(health.weights) != set(HEALTH_COMPONENTS):
        problems.append(
            (("health", "weights"), f"health weights must name exactly {', '.join(HEALTH_COMPONENTS)}")
        )
    sums_to_one(health.weights, ("health", "weights"), "health weights")
    if health.poor_below >= health.good_from:
        problems.append((("health", "poor_below"), "poor_below must be below good_from"))
    always = [c for c in HEALTH_COMPONENTS if c not in MAY_BE_UNKNOWN]
    if set(health.weights) == set(HEALTH_COMPONENTS) and not sum(health.weights[c] for c in always):
        # a component that cannot be judged does not count: one of these is
        # judged for every customer, or a customer could be left with no score
        problems.append(
            (("health", "weights"), f"health weights: {' or '.join(always)} must weigh something")
        )
    if set(health.quarter_targets) != {1, 2, 3, 4}:
        problems.append(
            (("health", "quarter_targets"), "quarter_targets: one target for each quarter, 1 to 4")
        )
    for quarter, target in health.quarter_targets.items():
        if not 0 <= target <= 100:
            problems.append(
                (("health", "quarter_targets"), f"quarter_targets.{quarter} = {target}: a score is 0-100")
            )
    for comp in HEALTH_COMPONENTS:
        bands = (*BANDS, UNKNOWN_BAND) if comp in MAY_BE_UNKNOWN else BANDS
        for band in sorted(set(health.texts.get(comp, {})) - set(bands)):
            problems.append(
                (
                    ("health", "texts", comp, band),
                    f"{comp}.{band}: unknown band; {comp} has {', '.join(bands)}",
                )
            )
        for band in bands:
            texts = health.texts.get(comp, {}).get(band)
            where = ("health", "texts", comp, band)
            if texts is None:
                # the unknown band is the playbook's to give (see MAY_BE_UNKNOWN)
                if band != UNKNOWN_BAND:
                    problems.append((("health", "texts", comp), f"no {band} texts for {comp}"))
                continue
            for part in (texts.finding, texts.action):
                for name in re.findall(r"\{([^}]*)\}", part):
                    if name not in TEXT_VALUES:
                        problems.append(
                            (
                                where,
                                f"{comp}.{band}: unknown placeholder {{{name}}}"
                                f"; known: {', '.join(sorted(TEXT_VALUES))}",
                            )
                        )

    for i, kind in enumerate(pb.suitability.risk_product_types):
        if kind not in PRODUCT_TYPES:
            problems.append(
                (
                    ("suitability", "risk_product_types"),
                    f"risk_product_types[{i}]: unknown product type {kind!r}",
                )
            )
    if set(pb.recommendations.weights) != set(RECOMMENDATION_FACTORS):
        problems.append(
            (
                ("recommendations", "weights"),
                f"recommendation weights must name exactly {', '.join(RECOMMENDATION_FACTORS)}",
            )
        )
    sums_to_one(pb.recommendations.weights, ("recommendations", "weights"), "recommendation weights")

    unique([b.name for b in pb.carbon.behaviours], ("carbon", "behaviours"), "behaviour")
    for i, b in enumerate(pb.carbon.behaviours):
        expr("carbon", b.name, b.when, "transaction", ("carbon", "behaviours", i, "when"))

    _check_decisions(pb, expr, unique, problems)
    if problems:
        raise ConfigError([(source, lines.line(where), reason) for where, reason in problems])
    return LoadedPlaybook(pb, source, digest, expressions)


TALK_VALUES = {
    "name",
    "manager",
    "tier_zh",
    "next_tier_zh",
    "next_tier_gap_wan",
    "aum_wan",
    "maturing_wan",
    "maturity_days",
    "outflow_wan",
    "product_name",
    "product_return",
    "product_term",
    "gap_class",
    "days_to_payday",
    "fund_return_pct",
    "expires_in",
    "health_drop",
    "health_score",
    "maturing_amount",
    "aum_amount",
    "next_tier_gap_amount",
    "outflow_amount",
    "payday_when",
}
NEVER_CALL = ((8 * 60 + 30, 10 * 60), (11 * 60 + 30, 14 * 60))  # seed 000
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def parse_window(text: str) -> tuple[int, int]:
    """ "10:00-11:00" -> minutes (600, 660); raises ValueError."""
    m = _WINDOW.match(text)
    if not m:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    start, end = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


def _check_decisions(
    pb: Playbook,
    expr: Callable[..., None],
    unique: Callable[[list[str], Path_, str], None],
    problems: list[tuple[Path_, str]],
) -> None:
    actions = {a.name for a in pb.actions}
    unique([a.name for a in pb.actions], ("actions",), "action")
    unique([t.name for t in pb.triggers], ("triggers",), "trigger")
    for i, t in enumerate(pb.triggers):
        expr("triggers", t.name, t.when, "trigger", ("triggers", i, "when"))
        for name in t.actions:
            if name not in actions:
                problems.append((("triggers", i, "actions"), f"trigger {t.name!r}: unknown action {name!r}"))
    for i, a in enumerate(pb.actions):
        expr("actions", a.name, a.value, "trigger", ("actions", i, "value"))
        for part in (a.talk_track, a.visit_material):
            for name in re.findall(r"\{([^}]*)\}", part):
                if name not in TALK_VALUES:
                    problems.append(
                        (
                            ("actions", i, "talk_track"),
                            f"action {a.name!r}: unknown placeholder {{{name}}}; "
                            f"known: {', '.join(sorted(TALK_VALUES))}",
                        )
                    )
    c = pb.contact
    for channel, purpose in c.channel_consent.items():
        if channel not in CHANNELS:
            problems.append((("contact", "channel_consent"), f"unknown channel {channel!r}"))
        if purpose not in CONSENT_PURPOSES:
            problems.append(
                (("contact", "channel_consent"), f"{channel}: unknown consent purpose {purpose!r}")
            )
    for channel in CHANNELS:
        if channel not in c.windows:
            problems.append((("contact", "windows"), f"no contact windows for {channel}"))
        if channel not in c.minutes:
            problems.append((("contact", "minutes"), f"no minutes per contact for {channel}"))
        if channel not in c.channel_weight:
            problems.append((("contact", "channel_weight"), f"no weight for {channel}"))
    for channel, windows in [*c.windows.items(), *c.visit_windows.items()]:
        for w in windows:
            if w == "weekend":
                continue
            try:
                start, end = parse_window(w)
            except ValueError as exc:
                problems.append((("contact", "windows"), f"{channel}: {exc}"))
                continue
            if channel == "phone" and any(start < hi and end > lo for lo, hi in NEVER_CALL):
                problems.append(
                    (
                        ("contact", "windows"),
                        f"phone window {w} overlaps 08:30-10:00 or 11:30-14:00, when "
                        "customers are not to be called",
                    )
                )
