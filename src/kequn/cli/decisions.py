"""``kequn decide``, ``kequn why``, ``kequn event``, ``kequn train``."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kequn.cli.console import console, err_console, friendly_errors, progress_bars
from kequn.cli.identity import operator
from kequn.cli.names import Names
from kequn.core.clock import now
from kequn.decide.batch import DECIDE_MEMORY, DecisionReport, decide
from kequn.decide.exports import call_list, wechat_groups
from kequn.decide.propensity import active_model
from kequn.decide.realtime import handle_event
from kequn.decide.simulate import simulate_history, work_day
from kequn.decide.why import explain
from kequn.ingest.store import connect
from kequn.playbook import load_playbook
from kequn.release.versions import in_force
from kequn.store import default_url, open_store
from kequn.store.cards import Cards

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Operational store URL (SQLAlchemy; default: SQLite beside the snapshot)."),
]
SnapshotOpt = Annotated[Path, typer.Option("--snapshot", help="The DuckDB analytical store.")]


class Engine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


def print_decision(r: DecisionReport, names: Names) -> None:
    """The decision's figures, each stage, reason and trigger by its name and its code."""
    console.print(
        f"decision {r.run_id} for {r.day} on snapshot {r.snapshot_id} (run "
        f"{r.pipeline_run}); propensity: {r.model_version or 'playbook priors'}"
    )
    # each stage's row counts the pairs that reach it (its drops are listed
    # below); the last row, the tasks made of the pairs that passed them all
    funnel = Table(title="funnel: customer-action pairs entering each stage")
    funnel.add_column("stage")
    funnel.add_column("pairs", justify="right")
    for stage, n in r.funnel.items():
        funnel.add_row(names.reason(stage), f"{n:,}")
    funnel.add_row("tasks made", f"{sum(r.tasks_by_trigger.values()):,}")
    console.print(funnel)
    dropped = Table(title="dropped, by stage and reason")
    for col in ("stage: reason", "code", "pairs"):
        dropped.add_column(col, justify="right" if col == "pairs" else "left")
    for reason, n in r.dropped.items():
        dropped.add_row(names.reason(reason), reason.partition(":")[2], f"{n:,}")
    console.print(dropped)
    for title, counts in (("tasks by trigger", r.tasks_by_trigger), ("tasks by channel", r.tasks_by_channel)):
        t = Table(title=title)
        t.add_column(title.split()[-1])
        t.add_column("tasks", justify="right")
        for k, n in counts.items():
            t.add_row(names(k), f"{n:,}")
        console.print(t)
    per = Table(title=f"tasks per manager ({len(r.tasks_by_manager)} managers)")
    for col in ("manager", "phone", "visit", "wechat", "sms", "app", "total"):
        per.add_column(col, justify="left" if col == "manager" else "right")
    for m, counts in sorted(r.tasks_by_manager.items()):
        per.add_row(
            m,
            *(str(counts.get(c, 0)) for c in ("phone", "visit", "wechat", "sms", "app")),
            str(sum(counts.values())),
        )
    console.print(per)
    console.print(
        "ownership changes: "
        + (", ".join(f"{k} {v:,}" for k, v in r.ownership.items()) or "none")
        + f"; unowned after assignment: {r.unowned}"
    )
    console.print(f"open tasks withdrawn (consent or opt-out changed): {r.withdrawn}")
    console.print(
        f"cards written (new or changed): {r.synced.get('cards', 0):,} of {r.counts.get('cards', 0):,}"
    )
    console.print("seconds: " + ", ".join(f"{k} {v}" for k, v in r.seconds.items()))
    for w in r.warnings:
        err_console.print(f"[bold yellow]warning:[/] {w}", highlight=False)


@friendly_errors
def decide_command(
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    as_of: Annotated[str | None, typer.Option(help="Snapshot date (default: the latest).")] = None,
    day: Annotated[
        str | None, typer.Option(help="The day the tasks are for (default: the day after the snapshot).")
    ] = None,
    playbook: Annotated[
        Path | None,
        typer.Option(help="Playbook file (default: the released version in force, else Kequn's own)."),
    ] = None,
    engine: Annotated[
        Engine, typer.Option(help="Where the funnel's stages run: duckdb (default) or spark.")
    ] = Engine.duckdb,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Decide a day already decided again (its worked tasks are kept)."),
    ] = False,
    memory_limit: Annotated[
        str, typer.Option(help="DuckDB memory limit of the decision's stages (they spill beyond it).")
    ] = DECIDE_MEMORY,
) -> None:
    """Turn the latest run's triggers into the day's tasks for every manager.

    A day already decided is refused (exit 2) unless --replace; a second decide
    started meanwhile waits for the first, then refuses."""
    if playbook is None:
        playbook = in_force(store or default_url(snapshot), snapshot)  # the released version, if any
    with progress_bars("decide") as bar:
        report = decide(
            snapshot,
            store,
            playbook,
            date.fromisoformat(as_of) if as_of else None,
            date.fromisoformat(day) if day else None,
            bar,
            engine.value,
            replace,
            memory_limit,
        )
    print_decision(report, Names(load_playbook(playbook)))


@friendly_errors
def why_command(
    customer: Annotated[str, typer.Argument(help="Customer number.")],
    action: Annotated[str, typer.Argument(help="Action name (see the playbook).")],
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook file.")] = None,
) -> None:
    """Explain why a customer did or did not get an action in the latest decision."""
    pb = load_playbook(playbook or in_force(store or default_url(snapshot), snapshot))
    ops = open_store(store or default_url(snapshot))
    duck = connect(snapshot, read_only=True)
    cards = Cards(snapshot)
    try:
        e = explain(duck, ops, cards, pb, customer, action)
    finally:
        cards.close()
        duck.close()
        ops.dispose()
    console.print(f"{customer} / {action} ({e.decision or 'no decision yet'}): [bold]{e.verdict_zh}")
    console.print(f"  {e.verdict}")
    for line in e.lines:
        console.print(f"  {line}")


@friendly_errors
def event_command(
    customer: Annotated[str, typer.Option("--customer", help="Customer number.")],
    kind: Annotated[str, typer.Option("--type", help="product_view, visit_booked, complaint, check_in, …")],
    product: Annotated[str | None, typer.Option(help="Product the event is about.")] = None,
    views: Annotated[int | None, typer.Option(help="Views of the product in 7 days.")] = None,
    amount: Annotated[float | None, typer.Option(help="Amount, CNY.")] = None,
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook file.")] = None,
) -> None:
    """Feed one real-time event: the same rules as the batch, a task at once."""
    pb = load_playbook(playbook or in_force(store or default_url(snapshot), snapshot))
    ops = open_store(store or default_url(snapshot))
    cards = Cards(snapshot)
    try:
        result = handle_event(
            ops,
            cards,
            {
                "customer_id": customer,
                "event_type": kind,
                "event_product_id": product,
                "event_views_7d": views,
                "event_amount": amount,
            },
            pb,
            active_model(ops),
            now(),
        )
    finally:
        cards.close()
        ops.dispose()
    console.print(f"triggers: {', '.join(result.triggers) or 'none'}")
    for p in result.pairs:
        console.print(f"  {p.trigger} -> {p.action}: {p.stage} {p.reason}".rstrip())
    if result.task:
        t = result.task
        console.print(
            f"task {t.task_id} for {t.manager_id} by {t.channel} at {t.scheduled_at:%H:%M}: {t.talk_track}"
        )


@friendly_errors
def simulate_command(
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    history_days: Annotated[int, typer.Option(help="Log this many days of past contacts (0: none).")] = 0,
    per_day: Annotated[int, typer.Option(help="Past contacts a day.")] = 200,
    work: Annotated[str | None, typer.Option(help="Work the open tasks of this day (YYYY-MM-DD).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    playbook: Annotated[Path | None, typer.Option(help="Playbook file.")] = None,
) -> None:
    """Simulate managers working and customers answering (demo and training data)."""
    pb = load_playbook(playbook or in_force(store or default_url(snapshot), snapshot))
    ops = open_store(store or default_url(snapshot))
    cards = Cards(snapshot)
    try:
        if history_days:
            from kequn.ingest.store import latest as latest_snapshot

            end = latest_snapshot(snapshot).as_of
            n = simulate_history(ops, cards, pb, end, history_days, per_day, seed)
            console.print(f"{n:,} past contacts logged over {history_days} days before {end}")
        if work:
            n = work_day(ops, cards, pb, date.fromisoformat(work), seed=seed)
            console.print(f"{n:,} tasks of {work} worked and their outcomes logged")
    finally:
        cards.close()
        ops.dispose()


@friendly_errors
def export_calls_command(
    day: Annotated[str, typer.Option(help="The tasks' day YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Output file, .csv or .xlsx.")] = Path("calls.csv"),
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook file.")] = None,
    numbers_reason: Annotated[
        str | None,
        typer.Option(
            help="Why the dialler needs the numbers in clear (recorded); without it they are masked."
        ),
    ] = None,
) -> None:
    """Outbound-call list of the day's phone tasks, for a smart-call or RPA system."""
    pb = load_playbook(playbook or in_force(store or default_url(snapshot), snapshot))
    ops = open_store(store or default_url(snapshot))
    actor, role = operator()
    try:
        e = call_list(ops, pb, date.fromisoformat(day), out, actor, role, numbers_reason)
    finally:
        ops.dispose()
    console.print(
        f"{e.rows:,} calls written to {e.path}; {e.held_back:,} held back (consent "
        "withdrawn, do-not-contact or no phone)"
    )


@friendly_errors
def export_wechat_command(
    groups: Annotated[
        str, typer.Option(help="Comma-separated segment names.")
    ] = "asset_upgrade,silver,payroll,new_citizen,low_carbon",
    out: Annotated[Path, typer.Option(help="Output CSV.")] = Path("wechat_groups.csv"),
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook file.")] = None,
) -> None:
    """Enterprise-WeChat tag groups (资产升级客户群, 老年客户群 …), consent honoured."""
    pb = load_playbook(playbook or in_force(store or default_url(snapshot), snapshot))
    ops = open_store(store or default_url(snapshot))
    try:
        actor, role = operator()
        e = wechat_groups(ops, pb, [g.strip() for g in groups.split(",") if g.strip()], out, actor, role)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        ops.dispose()
    console.print(f"{e.rows:,} tag memberships written to {e.path}; {e.held_back:,} held back for consent")


export_app = typer.Typer(help="Exports for the bank's other systems.", no_args_is_help=True)
export_app.command("calls")(export_calls_command)
export_app.command("wechat-groups")(export_wechat_command)
