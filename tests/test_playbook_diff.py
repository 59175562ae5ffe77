"""Two playbooks compared in a strategist's words (``kequn playbook diff``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kequn.playbook import default_playbook_path, load_playbook
from kequn.playbook.diff import diff
from kequn.playbook.model import Playbook

BASE = load_playbook().playbook


def changed(edit: Any) -> Playbook:
    data = BASE.model_dump()
    edit(data)
    return Playbook.model_validate(data)


def test_the_same_playbook_has_no_change() -> None:
    assert diff(BASE, BASE) == []


def test_a_tier_line_is_said_in_wan_yuan() -> None:
    def lower(d: dict) -> None:
        next(t for t in d["tiers"]["ladder"] if t["name"] == "wealth")["min_aum"] = 800_000

    (change,) = diff(BASE, changed(lower))
    assert change.zh == "客户分层「财富」门槛：100万元 → 80万元"
    assert change.en == 'tiers "Wealth" threshold: CNY 1,000,000 → CNY 800,000'
    assert change.path == ("tiers", "ladder", "wealth", "min_aum")


def test_a_reordered_list_is_no_change_and_entries_are_matched_by_name() -> None:
    def shuffle(d: dict) -> None:
        d["segments"] = list(reversed(d["segments"]))
        d["triggers"][0]["actions"] = list(reversed(d["triggers"][0]["actions"]))

    assert diff(BASE, changed(shuffle)) == []


def test_added_removed_and_edited_entries_each_said_once() -> None:
    first = BASE.segments[0]
    trigger = BASE.triggers[0]

    def edit(d: dict) -> None:
        d["segments"] = d["segments"][1:]  # the first segment removed
        d["segments"].append({"name": "night_owl", "zh": "夜猫客群", "en": "Night owls", "when": "age < 30"})
        d["triggers"][0]["when"] = "age >= 70"
        d["contact"]["marketing_cap"] = 2
        channels = d["actions"][0]["channels"]
        missing = [c for c in ("phone", "sms", "wechat", "visit", "app") if c not in channels]
        d["actions"][0]["channels"] = [*channels, missing[0]] if missing else channels[:-1]

    found = diff(BASE, changed(edit))
    said = [c.zh for c in found]
    assert f"删除客群「{first.zh}」" in said
    assert "新增客群「夜猫客群」" in said
    assert f"触发事件「{trigger.zh}」条件：{trigger.when} → age >= 70" in said
    assert f"触达规则营销频次上限：{BASE.contact.marketing_cap} → 2" in said
    assert any(s.startswith(f"营销服务动作「{BASE.actions[0].zh}」渠道：") for s in said)
    assert len(found) == 5, said
    # every change is said in English too: no Chinese outside the bank's own quoted names
    for c in found:
        outside = re.sub(r'"[^"]*"', "", c.en)
        assert c.en and not re.search(r"[\u4e00-\u9fff]", outside), c.en


def test_the_command_says_the_change_and_exits_1_only_when_there_is_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kequn.cli.main import app

    source = default_playbook_path()
    lowered = tmp_path / "lowered.toml"
    lowered.write_text(
        source.read_text(encoding="utf-8").replace("min_aum = 1_000_000\n", "min_aum = 800_000\n"),
        encoding="utf-8",
    )
    runner = CliRunner()
    said = runner.invoke(app, ["playbook", "diff", str(source), str(lowered)])
    assert said.exit_code == 1 and said.output.strip() == "客户分层「财富」门槛：100万元 → 80万元"
    same = runner.invoke(app, ["playbook", "diff", str(source), str(source)])
    assert same.exit_code == 0 and same.output.strip() == "没有改动"
