"""``kequn run``, ``kequn runs`` and ``kequn playbook check``."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kequn.cli.console import console, friendly_errors, progress_bars
from kequn.cli.names import Names
from kequn.pipeline import RunInfo, run_pipeline, runs
from kequn.pipeline.engines import RUN_MEMORY
from kequn.playbook import load_playbook


class EngineChoice(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.2f}%" if total else "-"


def print_summary(info: RunInfo, names: Names) -> None:
    """The run's figures, each tier, segment and stage by its name and its code."""
    s: dict[str, Any] = info.summary
    total = s["customers"]
    console.print(
        f"run {info.run_id} on snapshot {info.snapshot_id} ({info.engine}), playbook "
        f"{info.playbook_version}: {total:,} customers"
    )
    tiers = Table(title="tiers")
    for col in ("tier", "code", "customers", "share"):
        tiers.add_column(col, justify="left" if col in ("tier", "code") else "right")
    for name, n in s["tiers"].items():
        tiers.add_row(names(name), name, f"{n:,}", _share(n, total))
    console.print(tiers)
    moves = ", ".join(f"{k} {v:,}" for k, v in s["tier_moves"].items())
    console.print(f"tier moves: {moves}")
    segs = Table(title="segments (overlapping)")
    for col in ("segment", "code", "customers", "share"):
        segs.add_column(col, justify="left" if col in ("segment", "code") else "right")
    for name, n in sorted(s["segments"].items(), key=lambda kv: -kv[1]):
        segs.add_row(names(name), name, f"{n:,}", _share(n, total))
    console.print(segs)
    h = s["health"]
    console.print(f"health score: mean {h['mean']}, p10 {h['p10']}, median {h['median']}, p90 {h['p90']}")
    dist = Table(title="health-score distribution")
    dist.add_column("score")
    dist.add_column("customers", justify="right")
    dist.add_column("", justify="left")
    top = max(h["by_decile"].values()) if h["by_decile"] else 1
    for low, n in h["by_decile"].items():
        dist.add_row(
            f"{low}-{int(low) + 9 if int(low) < 100 else 100}", f"{n:,}", "█" * max(1, round(30 * n / top))
        )
    console.print(dist)
    comps = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in h["components"].items())
    console.print(f"component means: {comps}")
    cycle = ", ".join(f"{names(k)} {v:,}" for k, v in s["lifecycle"].items())
    console.print(f"lifecycle: {cycle}")
    console.print("life stages: " + ", ".join(f"{names(k)} {v:,}" for k, v in s["life_stages"].items()))
    console.print(
        f"recommendations: {s['recommendations']:,} for "
        f"{s['customers_with_recommendations']:,} customers; green points "
        f"{s['carbon_points']:,}"
    )


@friendly_errors
def run_command(
    snapshot: Annotated[Path, typer.Option(help="The DuckDB store holding the snapshots.")] = Path(
        "bank.duckdb"
    ),
    playbook: Annotated[
        Path | None,
        typer.Option(
            help="Playbook file (default: the version released in the operational store, else Kequn's "
            "own, implementing DOMAIN.md)."
        ),
    ] = None,
    engine: Annotated[EngineChoice, typer.Option(help="Where to compute.")] = EngineChoice.duckdb,
    as_of: Annotated[str | None, typer.Option(help="Snapshot date YYYY-MM-DD (default: the latest).")] = None,
    memory_limit: Annotated[
        str, typer.Option(help="DuckDB memory limit (the run spills beside the store beyond it).")
    ] = RUN_MEMORY,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Operational store URL, where released playbooks are kept (default: SQLite beside).",
            envvar="KEQUN_STORE_URL",
        ),
    ] = None,
) -> None:
    """Profile every customer of a snapshot: tiers, segments, health, recommendations."""
    if playbook is None:
        from kequn.release.versions import in_force
        from kequn.store import default_url

        playbook = in_force(store or default_url(snapshot), snapshot)
    with progress_bars("run") as bar:
        info = run_pipeline(
            snapshot, playbook, engine.value, date.fromisoformat(as_of) if as_of else None, bar, memory_limit
        )
    print_summary(info, Names(load_playbook(playbook)))


@friendly_errors
def runs_command(
    store: Annotated[Path, typer.Argument(help="The DuckDB store.")] = Path("bank.duckdb"),
) -> None:
    """List the runs in a store with their snapshot, engine and playbook version."""
    table = Table(title=str(store))
    for col in ("run", "snapshot", "engine", "playbook", "customers", "finished"):
        table.add_column(col)
    for r in runs(store):
        table.add_row(
            r.run_id,
            r.snapshot_id,
            r.engine,
            r.playbook_version,
            f"{r.summary.get('customers', 0):,}",
            f"{r.finished_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@friendly_errors
def playbook_check_command(
    path: Annotated[Path | None, typer.Argument(help="Playbook file (default: Kequn's own).")] = None,
) -> None:
    """Check a playbook without touching any data; print what it defines."""
    pb = load_playbook(path)
    p = pb.playbook
    console.print(f"{pb.source}: {p.playbook.name} {pb.version} (sha256 {pb.digest[:12]}) is valid")
    console.print(
        f"{len(p.tiers.ladder)} tiers, {len(p.segments)} segments, "
        f"{len(p.life_stages.rules) + 1} life stages, {len(p.lifecycle.rules) + 1} "
        f"lifecycle stages, {sum(len(v) for v in p.portfolios.targets.values())} model "
        f"portfolios, {len(p.carbon.behaviours)} carbon behaviours"
    )
