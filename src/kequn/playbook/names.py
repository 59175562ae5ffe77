"""The playbook's codes by their names: what the workbench's pages and the
CLI's reports show in place of a code."""

from __future__ import annotations

from kequn.playbook.load import LoadedPlaybook
from kequn.playbook.model import Action, Behaviour, Rule, Tier, Trigger


def playbook_names(pb: LoadedPlaybook, language: str = "zh_CN") -> dict[str, str]:
    """The playbook's codes by their names in ``language`` (English: where the
    playbook gives one)."""
    p = pb.playbook
    english = language == "en"
    entries: tuple[Action | Trigger | Rule | Tier | Behaviour, ...] = (
        *p.actions,
        *p.triggers,
        *p.segments,
        *p.tiers.ladder,
        *p.life_stages.rules,
        *p.lifecycle.rules,
        *p.carbon.behaviours,
    )
    names = {x.name: (x.en if english else x.zh) for x in entries if (x.en if english else x.zh)}
    for stages in (p.life_stages, p.lifecycle):
        name = stages.default_en if english else stages.default_zh
        if name:
            names[stages.default] = name
    if not english:
        names.update({"up": "升级", "down": "降级", "same": "持平", "new": "首次"})
    return names
