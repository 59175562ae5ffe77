"""``kequn group …`` and ``kequn campaign …``."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kequn.campaign.campaigns import MEASURES, CampaignSpec, launch, pause
from kequn.campaign.groups import groups_in_reach, preview, read_group_file, save_group, unit_branches
from kequn.campaign.results import results, to_excel
from kequn.cli.console import console, friendly_errors
from kequn.cli.identity import operator
from kequn.cli.names import Names
from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.playbook import load_playbook
from kequn.release.versions import in_force
from kequn.store import default_url, open_store

group_app = typer.Typer(
    help="Customer groups (客群): conditions over the latest run's profiles.", no_args_is_help=True
)
campaign_app = typer.Typer(
    help="Campaigns on customer groups, with control groups and uplift.", no_args_is_help=True
)

SnapshotOpt = Annotated[Path, typer.Option("--snapshot", help="The DuckDB analytical store.")]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Operational store URL (default: SQLite beside the snapshot).",
        envvar="KEQUN_STORE_URL",
    ),
]
UnitOpt = Annotated[str | None, typer.Option("--unit", help="Bound the group to this unit's subtree.")]


def _url(store: str | None, snapshot: Path) -> str:
    return store or default_url(snapshot)


@group_app.command("count")
@friendly_errors
def group_count_command(
    expression: Annotated[str, typer.Argument(help='The condition, e.g. "age >= 60 AND aum > 50000".')],
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    unit: UnitOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Count the customers matching a condition on the latest run (with AUM and tier mix)."""
    branches = None
    if unit:
        with open_store(_url(store, snapshot)) as ops, ops.session() as s:
            branches = unit_branches(s, unit)
    shown = preview(snapshot, expression, branches)
    if shown.error:
        raise KequnError(shown.error)
    st = shown.stats
    assert st is not None
    if as_json:
        print(
            json.dumps(
                {
                    "size": st.size,
                    "aum": st.aum,
                    "tier_mix": st.tier_mix,
                    "previous": shown.previous,
                    "run": shown.run_id,
                    "seconds": shown.seconds,
                },
                ensure_ascii=False,
            )
        )
        return
    print(st.size)
    # the tiers by their names in the playbook in force, highest first (not their codes)
    pb = load_playbook(in_force(_url(store, snapshot), snapshot))
    rank = {t.name: i for i, t in enumerate(pb.playbook.tiers.ladder)}
    names = Names(pb)
    mix = " · ".join(
        f"{names(t)} {n:,}" for t, n in sorted(st.tier_mix.items(), key=lambda tn: rank.get(tn[0], len(rank)))
    )
    change = f", {shown.change:+d} since the run before" if shown.change is not None else ""
    console.print(
        f"AUM {st.aum:,.2f} CNY; {mix}{change}; run {shown.run_id}, {shown.seconds * 1000:.0f} ms",
        highlight=False,
    )


@group_app.command("save")
@friendly_errors
def group_save_command(
    name: Annotated[str, typer.Argument(help="The group's name.")],
    expression: Annotated[str, typer.Argument(help="The condition.")],
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    unit: UnitOpt = None,
) -> None:
    """Save a group (a new version when its condition changed)."""
    actor, _ = operator()
    with open_store(_url(store, snapshot)) as ops, ops.session() as s:
        shown = preview(snapshot, expression, unit_branches(s, unit))
        if shown.error:
            raise KequnError(shown.error)
        group = save_group(s, name, expression, unit, actor, now(), shown)
        console.print(
            f"group {group.group_id}: {group.name} v{group.version}, {group.stats.get('size')} customers"
        )


@group_app.command("load")
@friendly_errors
def group_load_command(
    file: Annotated[Path, typer.Argument(help="A TOML file of [[groups]] (name, when, description, unit).")],
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
) -> None:
    """Save every group a file defines (all or none: a bad file is refused with its lines)."""
    actor, _ = operator()
    defs = read_group_file(file)
    with open_store(_url(store, snapshot)) as ops, ops.session() as s:
        for d in defs:
            shown = preview(snapshot, d.when, unit_branches(s, d.unit))
            if shown.error:
                raise KequnError(f"{file}: group {d.name!r}: {shown.error}")
            group = save_group(s, d.name, d.when, d.unit, actor, now(), shown, d.description)
            console.print(
                f"group {group.group_id}: {group.name} v{group.version}, {group.stats.get('size')} customers"
            )


@group_app.command("list")
@friendly_errors
def group_list_command(snapshot: SnapshotOpt = Path("bank.duckdb"), store: StoreOpt = None) -> None:
    """List the latest version of every saved group."""
    with open_store(_url(store, snapshot)) as ops:
        with ops.session() as s:
            table = Table("id", "name", "version", "unit", "size", "condition")
            for g in groups_in_reach(s, None):
                table.add_row(
                    str(g.group_id),
                    g.name,
                    str(g.version),
                    g.branch_id or "bank",
                    str(g.stats.get("size")),
                    g.expression,
                )
        console.print(table)


@campaign_app.command("launch")
@friendly_errors
def campaign_launch_command(
    name: Annotated[str, typer.Option(help="Campaign name.")],
    group: Annotated[int, typer.Option(help="Saved group id.")],
    ends: Annotated[str, typer.Option(help="Last day YYYY-MM-DD.")],
    target: Annotated[str, typer.Option(help="Target value of the measure.")],
    action: Annotated[str, typer.Option(help="Playbook action.")] = "campaign_offer",
    channels: Annotated[str, typer.Option(help="Comma-separated channels.")] = "phone,wechat",
    measure: Annotated[str, typer.Option(help=f"One of {', '.join(MEASURES)}.")] = "sold",
    starts: Annotated[str | None, typer.Option(help="First day (default: today).")] = None,
    priority: Annotated[float, typer.Option(help="Weight against triggered work, (0, 1].")] = 0.5,
    control: Annotated[float, typer.Option(help="Share held out as the control group.")] = 0.1,
    persuadable: Annotated[
        float | None,
        typer.Option(
            help="Take only this share of the group: its most persuadable members (an uplift model's)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the control draw (default: random, recorded).")
    ] = None,
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
) -> None:
    """Launch a campaign on a saved group: draw the control group and make today's tasks."""
    actor, role = operator()
    moment = now()
    spec = CampaignSpec(
        name,
        group,
        action,
        tuple(c.strip() for c in channels.split(",") if c.strip()),
        date.fromisoformat(starts) if starts else moment.date(),
        date.fromisoformat(ends),
        measure,
        Decimal(target),
        priority,
        control,
        seed,
        None,
        persuadable,
    )
    url = _url(store, snapshot)
    pb = load_playbook(in_force(url, snapshot))  # the released version, if any
    with open_store(url) as ops:
        done = launch(snapshot, ops, spec, actor, role, pb, moment)
    t = done.tasking
    console.print(
        f"campaign {done.campaign.campaign_id}: {done.treated} treated, {done.control} control; "
        f"{t.tasks if t else 0} tasks today"
    )


@campaign_app.command("pause")
@friendly_errors
def campaign_pause_command(
    campaign: Annotated[str, typer.Argument(help="Campaign id.")],
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
) -> None:
    """Pause a campaign: no new tasks, open ones withdrawn."""
    actor, role = operator()
    with open_store(_url(store, snapshot)) as ops:
        n = pause(ops, campaign, actor, role, now())
    console.print(f"paused {campaign}; {n} open tasks withdrawn")


@campaign_app.command("results")
@friendly_errors
def campaign_results_command(
    campaign: Annotated[str, typer.Argument(help="Campaign id.")],
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    excel: Annotated[Path | None, typer.Option(help="Also write the results as Excel here.")] = None,
) -> None:
    """The campaign's funnel, progress against target and uplift with 95% intervals."""
    with open_store(_url(store, snapshot)) as ops, ops.session() as s:
        r = results(s, campaign, now().date())
        if r is None:
            raise KequnError(f"unknown campaign {campaign!r}")
        console.print(" → ".join(f"{k} {v}" for k, v in r.funnel.items()), highlight=False)
        console.print(f"target {r.campaign.target_measure} {r.achieved}/{r.campaign.target_value}")
        for label, e in (
            ("conversion uplift", r.conversion_uplift),
            ("AUM uplift per member", r.aum_uplift),
            ("incremental AUM", r.incremental_aum),
        ):
            if e is not None:
                console.print(f"{label}: {e.value:,.4f} [{e.low:,.4f}, {e.high:,.4f}]", highlight=False)
        if excel:
            pb = load_playbook()
            excel.write_bytes(to_excel(r, {a.name: a.zh for a in pb.playbook.actions}))
