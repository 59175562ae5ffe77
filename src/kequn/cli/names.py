"""What the CLI's reports call a code: the playbook's English name for a tier,
segment, stage of life, trigger or action, and the rule registry's for a
funnel stage or a reason. A code with no name is shown as it is."""

from __future__ import annotations

from kequn.playbook import LoadedPlaybook
from kequn.rules import RULES, STAGES


class Names:
    def __init__(self, pb: LoadedPlaybook) -> None:
        p = pb.playbook
        self.kinds: dict[str, dict[str, str]] = {
            "tier": {t.name: t.en for t in p.tiers.ladder},
            "segment": {s.name: s.en for s in p.segments},
            "life_stage": {r.name: r.en for r in p.life_stages.rules}
            | {p.life_stages.default: p.life_stages.default_en},
            "lifecycle": {r.name: r.en for r in p.lifecycle.rules}
            | {p.lifecycle.default: p.lifecycle.default_en},
            "trigger": {t.name: t.en for t in p.triggers},
            "action": {a.name: a.en for a in p.actions},
            "stage": {s.name: s.en for s in STAGES},
            "rule": {code: r.en for code, r in RULES.items()},
        }

    def __call__(self, kind: str, code: str) -> str:
        return self.kinds.get(kind, {}).get(code) or code

    def reason(self, stage_and_rule: str) -> str:
        """``suitable:no_suitable_product`` as "suitable: no suitable product fills the gap…"."""
        stage, _, rule = stage_and_rule.partition(":")
        return f"{self('stage', stage)}: {self('rule', rule)}" if rule else self("stage", stage)
