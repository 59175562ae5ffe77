"""A simulation as an Excel workbook HQ can pass around: one sheet per figure,
active and candidate side by side, headed in Chinese."""

from __future__ import annotations

from kequn.core import sheets
from kequn.playbook import LoadedPlaybook
from kequn.release.simulate import Simulation
from kequn.rules import RULES, STAGES

STAGE_ZH = {s.name: s.zh for s in STAGES}


def reason_zh(key: str) -> str:
    stage, _, rule = key.partition(":")
    found = RULES.get(rule)
    return f"{STAGE_ZH.get(stage, stage)}：{found.zh if found else rule}"


def workbook_of(sim: Simulation, pb: LoadedPlaybook) -> bytes:
    tier_zh = {t.name: t.zh for t in pb.playbook.tiers.ladder}
    action_zh = {a.name: a.zh for a in pb.playbook.actions}
    wb, ws = sheets.workbook()
    ws.title = "分层迁移"
    sheets.append(ws, ["原层级", "新层级", "客户数", "AUM(元)"], header=True)
    for m in sim.migration:
        sheets.append(
            ws,
            [
                tier_zh.get(m.from_tier, m.from_tier),
                tier_zh.get(m.to_tier, m.to_tier),
                m.customers,
                float(m.aum),
            ],
        )
    sheets.append(ws, [])
    sheets.append(ws, ["换管户客户经理的客户", sim.owner_changes])
    sheets.append(ws, ["其中换了客户经理角色", sim.role_changes])
    sheets.finish(ws)

    def side_by_side(title: str, label: str, a: dict[str, int], b: dict[str, int], name=str) -> None:  # type: ignore[no-untyped-def]
        sheet = wb.create_sheet(title)
        sheets.append(sheet, [label, "现行方案", "候选方案", "变化"], header=True)
        for key in sorted(set(a) | set(b), key=lambda k: -max(a.get(k, 0), b.get(k, 0))):
            sheets.append(sheet, [name(key), a.get(key, 0), b.get(key, 0), b.get(key, 0) - a.get(key, 0)])
        sheets.finish(sheet)

    x, y = sim.active, sim.candidate
    side_by_side("客群", "客群", x.segments, y.segments)
    side_by_side("任务-动作", "动作", x.tasks_by_action, y.tasks_by_action, lambda k: action_zh.get(k, k))
    side_by_side("任务-渠道", "渠道", x.tasks_by_channel, y.tasks_by_channel)
    side_by_side("任务-网点", "网点", x.tasks_by_branch, y.tasks_by_branch)
    side_by_side("漏斗", "环节", x.funnel, y.funnel, lambda k: STAGE_ZH.get(k, "生成任务"))
    side_by_side("剔除原因", "原因", x.dropped, y.dropped, reason_zh)
    side_by_side("有触发无任务", "最接近生成任务的剔除原因", x.nothing, y.nothing, reason_zh)
    fair = wb.create_sheet("公平性")
    sheets.append(
        fair,
        [
            "维度",
            "分组",
            "客户数",
            "现行任务覆盖率",
            "候选任务覆盖率",
            "现行R4-R5推荐占比",
            "候选R4-R5推荐占比",
        ],
        header=True,
    )
    for g, rates in y.groups.items():
        for k, now in rates.items():
            was = x.groups.get(g, {}).get(k)
            sheets.append(
                fair,
                [
                    g,
                    k,
                    now.customers,
                    was.task_rate if was else None,
                    now.task_rate,
                    was.high_risk_share if was else None,
                    now.high_risk_share,
                ],
                percent=(3, 4, 5, 6),
            )
    sheets.finish(fair)
    value = wb.create_sheet("预期价值")
    sheets.append(value, ["", "现行方案", "候选方案"], header=True)
    sheets.append(value, ["任务数", x.tasks, y.tasks])
    sheets.append(value, ["预期价值(价值×响应率)", round(x.expected_value, 2), round(y.expected_value, 2)])
    for flag in sim.flags:
        sheets.append(value, ["提示", flag])
    sheets.finish(value)
    return sheets.to_bytes(wb)
