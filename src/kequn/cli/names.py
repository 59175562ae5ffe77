"""What the CLI's reports call a code: the playbook's English name for a tier,
segment, stage of life, trigger or action (``playbook.names``, as the
workbench's English pages), and the rule registry's for a funnel stage or a
reason. A code with no name is shown as it is."""

from __future__ import annotations

from kequn.playbook import LoadedPlaybook
from kequn.playbook.names import playbook_names
from kequn.rules import RULES, STAGES

STAGE_NAMES = {s.name: s.en for s in STAGES}
RULE_NAMES = {code: r.en for code, r in RULES.items()}


class Names:
    def __init__(self, pb: LoadedPlaybook) -> None:
        self.codes = playbook_names(pb, "en")

    def __call__(self, code: str) -> str:
        return self.codes.get(code) or code

    def reason(self, stage_and_rule: str) -> str:
        """``suitable:no_suitable_product`` as "suitable: no suitable product fills the gap…"."""
        stage, _, rule = stage_and_rule.partition(":")
        named = STAGE_NAMES.get(stage, stage)
        return f"{named}: {RULE_NAMES.get(rule, rule)}" if rule else named
