"""``kequn playbook``: check a playbook, and rehearse a change on the latest bank."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kequn.cli.console import console, friendly_errors
from kequn.cli.pipeline import playbook_check_command
from kequn.playbook import load_playbook
from kequn.playbook.diff import diff
from kequn.release.simulate import Simulation, as_dict, simulate
from kequn.rules import RULES, STAGES


def _reason(key: str) -> str:
    stage, _, rule = key.partition(":")
    found = RULES.get(rule)
    named = {s.name: s.zh for s in STAGES}
    return f"{named.get(stage, stage)}：{found.zh if found else rule}"


def _delta(a: int | float, b: int | float) -> str:
    d = b - a
    return f"{d:+,}" if isinstance(d, int) else f"{d:+,.0f}"


def _side_by_side(title: str, label: str, before: dict[str, int], after: dict[str, int], name=str) -> Table:  # type: ignore[no-untyped-def]
    table = Table(title=title)
    for col in (label, "active", "candidate", "change"):
        table.add_column(col, justify="left" if col == label else "right")
    for key in sorted(set(before) | set(after), key=lambda k: -max(before.get(k, 0), after.get(k, 0))):
        a, b = before.get(key, 0), after.get(key, 0)
        table.add_row(name(key), f"{a:,}", f"{b:,}", _delta(a, b))
    return table


def print_simulation(sim: Simulation, candidate: Path) -> None:
    pb = load_playbook(candidate)
    tier_zh = {t.name: t.zh for t in pb.playbook.tiers.ladder}
    action_zh = {a.name: a.zh for a in pb.playbook.actions}
    a, b = sim.active, sim.candidate
    console.print(
        f"snapshot {sim.snapshot_id}, day {sim.day}: {a.playbook} (active) beside {b.playbook} "
        f"(candidate); {a.customers:,} customers; nothing published"
    )
    moves = Table(title="tiers: from (active) -> to (candidate)")
    for col in ("from", "to", "customers", "AUM"):
        moves.add_column(col, justify="left" if col in ("from", "to") else "right")
    for m in sim.migration:
        if m.from_tier != m.to_tier:
            moves.add_row(
                tier_zh.get(m.from_tier, m.from_tier),
                tier_zh.get(m.to_tier, m.to_tier),
                f"{m.customers:,}",
                f"{m.aum:,.2f}",
            )
    stayed = sum(m.customers for m in sim.migration if m.from_tier == m.to_tier)
    console.print(moves)
    console.print(
        f"{stayed:,} customers keep their tier; {sim.owner_changes:,} would change manager, "
        f"{sim.role_changes:,} of them to a manager of another role"
    )
    console.print(_side_by_side("tiers", "tier", a.tiers, b.tiers, lambda k: tier_zh.get(k, k)))
    console.print(_side_by_side("segments (overlapping)", "segment", a.segments, b.segments))
    console.print(
        _side_by_side(
            "the day's tasks by action",
            "action",
            a.tasks_by_action,
            b.tasks_by_action,
            lambda k: action_zh.get(k, k),
        )
    )
    console.print(_side_by_side("by channel", "channel", a.tasks_by_channel, b.tasks_by_channel))
    console.print(_side_by_side("by branch", "branch", a.tasks_by_branch, b.tasks_by_branch))
    console.print(_side_by_side("the funnel: pairs entering each stage", "stage", a.funnel, b.funnel))
    console.print(_side_by_side("drops by stage and rule", "reason", a.dropped, b.dropped, _reason))
    console.print(
        _side_by_side(
            "customers with a trigger and no task, by the drop nearest a task",
            "reason",
            a.nothing,
            b.nothing,
            _reason,
        )
    )
    if b.waiting:
        loads: dict[str, list[str]] = {}
        for load in b.managers:
            loads.setdefault(load.manager_id, []).append(f"{load.channel} {load.tasks}/{load.capacity}")
        console.print("managers whose day is full under the candidate (pairs left waiting):")
        for manager, n in sorted(b.waiting.items(), key=lambda kv: -kv[1]):
            was = a.waiting.get(manager, 0)
            console.print(f"  {manager}: {was:,} -> {n:,} waiting; {', '.join(loads.get(manager, []))}")
    console.print(
        f"tasks {a.tasks:,} -> {b.tasks:,}; expected value (value x propensity) "
        f"{a.expected_value:,.0f} -> {b.expected_value:,.0f}"
    )
    if sim.flags:
        console.print("[bold]groups whose rates move past the threshold:[/bold]")
        for f in sim.flags:
            console.print(f"  {f}")
    else:
        console.print("no group's task rate or high-risk share moves past the threshold")


@friendly_errors
def playbook_simulate_command(
    candidate: Annotated[Path, typer.Argument(help="The candidate playbook file.")],
    snapshot: Annotated[Path, typer.Option("--snapshot", help="Analytical store.")] = Path("bank.duckdb"),
    store: Annotated[
        str | None,
        typer.Option("--store", help="Operational store URL (default: SQLite beside the snapshot)."),
    ] = None,
    active: Annotated[
        Path | None, typer.Option("--active", help="The playbook in force (default: Kequn's own).")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Flag a group whose task rate or high-risk share moves more "
            "(default: the candidate's release.fairness_threshold).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Rehearse a playbook change on the latest snapshot beside the active one;
    nothing is published and neither store is written."""
    sim = simulate(snapshot, store or None, candidate, active, threshold)
    if as_json:
        typer.echo(json.dumps(as_dict(sim), ensure_ascii=False, indent=1))
        return
    print_simulation(sim, candidate)


@friendly_errors
def playbook_diff_command(
    old: Annotated[Path, typer.Argument(help="The playbook in force.")],
    new: Annotated[Path, typer.Argument(help="The changed playbook.")],
    english: Annotated[bool, typer.Option("--en", help="Say the changes in English.")] = False,
) -> None:
    """Say what changed between two playbooks, as a strategist reads it; exits 1
    when they differ (as diff does), 0 when they are the same."""
    changes = diff(load_playbook(old).playbook, load_playbook(new).playbook)
    for change in changes:
        typer.echo(change.en if english else change.zh)
    if not changes:
        typer.echo("no change" if english else "没有改动")
        return
    raise typer.Exit(1)


playbook_app = typer.Typer(
    help="Check playbooks and rehearse a change before it goes live.", no_args_is_help=True
)
playbook_app.command("check")(playbook_check_command)
playbook_app.command("diff")(playbook_diff_command)
playbook_app.command("simulate")(playbook_simulate_command)
