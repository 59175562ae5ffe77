"""``kequn playbook``: check a playbook, and rehearse a change on the latest bank."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from kequn.cli.console import console, friendly_errors
from kequn.cli.pipeline import playbook_check_command
from kequn.core.errors import KequnError
from kequn.playbook import load_playbook
from kequn.playbook.diff import diff
from kequn.release import versions
from kequn.release.sheets import reason_zh
from kequn.release.simulate import Simulation, as_dict, simulate
from kequn.store import Store, default_url, open_store
from kequn.store.models import PlaybookVersion, User

_reason = reason_zh


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


def _signed(s: Session, login: str) -> str:
    """The HQ user's password, asked for (or ``KEQUN_PASSWORD``) and checked."""
    from kequn.web.security import password_matches

    password = os.environ.get("KEQUN_PASSWORD") or typer.prompt(f"password for {login}", hide_input=True)
    user = s.scalar(select(User).where(User.login == login))
    if user is None or not user.active or not password_matches(user.password_hash, password):
        raise KequnError("wrong login or password")
    return login


def _ops(snapshot: Path, store: str | None) -> Store:
    return open_store(store or default_url(snapshot))


StoreOpt = Annotated[
    str | None, typer.Option("--store", help="Operational store URL (default: SQLite beside the snapshot).")
]
SnapshotOpt = Annotated[Path, typer.Option("--snapshot", help="Analytical store.")]
AsOpt = Annotated[str, typer.Option("--as", help="Your HQ login (the password is asked for).")]


@friendly_errors
def playbook_submit_command(
    path: Annotated[Path, typer.Argument(help="The changed playbook file.")],
    login: AsOpt,
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
) -> None:
    """Submit a playbook change as a draft (to be rehearsed, then approved by another HQ user)."""
    with _ops(snapshot, store) as ops, ops.session() as s:
        version = versions.submit(s, path, _signed(s, login))
        number, before = version.version_id, versions.active(s)
        old = versions.checked(before.text) if before else load_playbook()
    console.print(f"version {number} submitted as a draft; what it changes:")
    for change in diff(old.playbook, load_playbook(path).playbook):
        console.print(f"  {change.zh}")


@friendly_errors
def playbook_approve_command(
    version: Annotated[int, typer.Argument(help="The draft's number.")],
    login: AsOpt,
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
) -> None:
    """Approve a rehearsed draft written by another HQ user: it is used from the next run on."""
    with _ops(snapshot, store) as ops, ops.session() as s:
        done = versions.approve(s, version, _signed(s, login))
        console.print(f"version {done.version_id} ({done.name} {done.version}) is in force from the next run")


@friendly_errors
def playbook_rollback_command(
    login: AsOpt,
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
) -> None:
    """Retire the playbook in force and put back the one it replaced."""
    with _ops(snapshot, store) as ops, ops.session() as s:
        back = versions.rollback(s, _signed(s, login))
        console.print(
            f"version {back.version_id} is in force again"
            if back
            else "Kequn's own playbook is in force again"
        )


@friendly_errors
def playbook_versions_command(snapshot: SnapshotOpt = Path("bank.duckdb"), store: StoreOpt = None) -> None:
    """List the released and drafted playbook versions."""
    table = Table(title="playbook versions")
    for col in ("version", "playbook", "status", "author", "rehearsed", "approved by", "replaces"):
        table.add_column(col)
    with _ops(snapshot, store) as ops, ops.session() as s:
        for v in s.scalars(select(PlaybookVersion).order_by(PlaybookVersion.version_id)):
            table.add_row(
                str(v.version_id),
                f"{v.name} {v.version}",
                v.status,
                v.author,
                f"{v.simulated_at:%Y-%m-%d %H:%M} {v.simulated_by}" if v.simulated_at else "-",
                v.approved_by or "-",
                str(v.previous_id or "-"),
            )
    console.print(table)


@friendly_errors
def playbook_simulate_command(
    candidate: Annotated[
        Path | None, typer.Argument(help="The candidate playbook file (or --version N, a submitted draft).")
    ] = None,
    snapshot: Annotated[Path, typer.Option("--snapshot", help="Analytical store.")] = Path("bank.duckdb"),
    store: StoreOpt = None,
    active: Annotated[
        Path | None,
        typer.Option(
            "--active", help="The playbook in force (default: the released version, else Kequn's own)."
        ),
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
    excel: Annotated[
        Path | None, typer.Option("--excel", help="Also write the figures to this .xlsx file.")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="Rehearse this submitted draft and record that it was.")
    ] = None,
    login: Annotated[
        str | None, typer.Option("--as", help="Your HQ login, to record a draft's rehearsal.")
    ] = None,
) -> None:
    """Rehearse a playbook change on the latest snapshot beside the one in force.

    Nothing is published and neither store is written (but for the note that a
    draft was rehearsed)."""
    url = store or default_url(snapshot)
    # the drafts' files are written here for the rehearsal and gone after it
    with tempfile.TemporaryDirectory(prefix="kequn-versions-") as scratch:
        if active is None:
            active = versions.in_force(url, snapshot)
        if version is not None:
            if not login:
                raise KequnError("--as LOGIN: the rehearsal of a draft is recorded under an HQ user's name")
            with _ops(snapshot, store) as ops, ops.session() as s:
                candidate = versions.file_of(versions.get(s, version), Path(scratch))
        if candidate is None:
            raise KequnError("name the candidate: a playbook file, or --version N")
        sim = simulate(snapshot, url, candidate, active, threshold)
        if version is not None and login:
            with _ops(snapshot, store) as ops, ops.session() as s:
                versions.mark_simulated(s, version, _signed(s, login), sim)
        if excel is not None:
            from kequn.release.sheets import workbook_of

            excel.write_bytes(workbook_of(sim, load_playbook(candidate)))
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
    """Say what changed between two playbooks, as a strategist reads it.

    Exits 1 when they differ (as diff does), 0 when they are the same."""
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
playbook_app.command("submit")(playbook_submit_command)
playbook_app.command("approve")(playbook_approve_command)
playbook_app.command("rollback")(playbook_rollback_command)
playbook_app.command("versions")(playbook_versions_command)
playbook_app.command("simulate")(playbook_simulate_command)
