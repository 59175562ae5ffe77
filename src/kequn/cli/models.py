"""``kequn train``, ``kequn model``: propensity learnt from the bank's own history;
``kequn history import``: that history brought in."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kequn.cli.console import console, friendly_errors
from kequn.core.clock import now
from kequn.store import default_url, open_store

SnapshotOpt = Annotated[Path, typer.Option("--snapshot", help="The analytical store.")]
StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Operational store URL (SQLAlchemy; default: SQLite beside the snapshot)."),
]
ByOpt = Annotated[
    str | None,
    typer.Option("--by", help="Who does it, for the trail (default: KEQUN_OPERATOR or your login)."),
]


def _who(by: str | None) -> str:
    return by or os.environ.get("KEQUN_OPERATOR") or f"cli:{getpass.getuser()}"


def _auc(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


@friendly_errors
def train_command(
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook file.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    by: ByOpt = None,
) -> None:
    """Train the propensity model; put it in force only if it beats what is in force.

    Every past contact is taken as it was known the day before; the model is
    judged on the latest quarter of them and put in force only if it beats the
    priors and the model in force there."""
    from kequn.learn.train import train
    from kequn.playbook import load_playbook
    from kequn.privacy.audit import Event, record
    from kequn.release.versions import in_force

    url = store or default_url(snapshot)
    pb = load_playbook(playbook or in_force(url, snapshot))
    ops = open_store(url)
    try:
        moment = now()
        r = train(snapshot, ops, pb, moment, seed, _who(by))
        with ops.session() as s:
            record(
                s,
                [
                    Event(
                        _who(by),
                        "system",
                        "model_trained",
                        None,
                        {"version": r.version, "activated": r.activated, "auc_later": r.auc_model},
                        moment,
                    )
                ],
            )
    finally:
        ops.dispose()
    console.print(
        f"model {r.version}: {r.rows:,} past contacts ({r.positives:,} successes, "
        f"base rate {r.base_rate:.1%}); "
        f"earlier {r.periods['earlier'][0]}..{r.periods['earlier'][1]}, later {r.periods['later'][0]}.."
        f"{r.periods['later'][1]}"
    )
    t = Table(title="judged on the later period (and a stratified split)")
    for col in ("", "ROC AUC", "PR AUC", "Brier", "lift top 10%"):
        t.add_column(col, justify="left" if not col else "right")
    rows = [("model", r.later["model"]), ("playbook priors", r.later["priors"])]
    if "in_force" in r.later:
        rows.append((f"in force ({r.later['in_force']['version']})", r.later["in_force"]))
    rows.append(("model, stratified split", r.stratified))
    for name, m in rows:
        t.add_row(
            name, _auc(m["roc_auc"]), _auc(m["pr_auc"]), _auc(m["brier"]), f"{m['lift_top_decile']:.2f}x"
        )
    console.print(t)
    per = r.later["model"].get("per_action") or {}
    if per:
        pa = Table(title="by action, on the later period")
        for col in ("action", "rows", "successes", "ROC AUC"):
            pa.add_column(col, justify="left" if col == "action" else "right")
        for action, m in sorted(per.items(), key=lambda kv: -kv[1]["rows"]):
            pa.add_row(action, f"{m['rows']:,}", f"{m['positives']:,}", _auc(m["roc_auc"]))
        console.print(pa)
    console.print(f"inputs: {', '.join(r.features)}")
    if r.activated:
        console.print(f"[bold]in force[/] ({r.reason}); replaced: {r.replaced or 'the playbook priors'}")
    else:
        console.print(f"[bold]kept, not in force[/]: {r.reason}")


model_app = typer.Typer(
    help="The propensity models trained: list, activate, roll back.", no_args_is_help=True
)


@model_app.command("list")
@friendly_errors
def model_list(snapshot: SnapshotOpt = Path("bank.duckdb"), store: StoreOpt = None) -> None:
    """Every model trained, newest first, with its figures on its later period."""
    from kequn.learn.registry import versions

    ops = open_store(store or default_url(snapshot))
    try:
        with ops.session() as s:
            rows = versions(s)
            t = Table(title="propensity models")
            for col in ("version", "status", "trained", "contacts", "AUC later", "priors", "replaced"):
                t.add_column(col)
            for m in rows:
                later = (m.metrics or {}).get("later") or {}
                t.add_row(
                    m.version,
                    m.status,
                    f"{m.trained_at:%Y-%m-%d %H:%M}",
                    f"{m.outcomes_used:,}",
                    _auc((later.get("model") or {}).get("roc_auc")),
                    _auc((later.get("priors") or {}).get("roc_auc")),
                    m.replaced or "",
                )
    finally:
        ops.dispose()
    console.print(t if rows else "no model trained yet: decisions use the playbook's priors")


def _change(snapshot: Path, store: str | None, by: str | None, what: str, version: str | None = None) -> None:
    from kequn.learn import registry
    from kequn.privacy.audit import Event, record

    ops = open_store(store or default_url(snapshot))
    moment = now()
    try:
        with ops.session() as s:
            if what == "model_activated":
                assert version is not None
                replaced = registry.activate(s, version, _who(by), moment)
                detail = {"version": version, "replaced": replaced}
                said = f"model {version} in force (it replaced {replaced or 'the playbook priors'})"
            else:
                retired, restored = registry.rollback(s, _who(by), moment)
                detail = {"retired": retired, "restored": restored}
                said = f"model {retired} retired; in force now: {restored or 'the playbook priors'}"
            record(s, [Event(_who(by), "system", what, None, detail, moment)])
    finally:
        ops.dispose()
    console.print(said)


@model_app.command("activate")
@friendly_errors
def model_activate(
    version: Annotated[str, typer.Argument(help="The model's version (see `kequn model list`).")],
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    by: ByOpt = None,
) -> None:
    """Put a trained model in force (a person's choice, on the trail)."""
    _change(snapshot, store, by, "model_activated", version)


@model_app.command("rollback")
@friendly_errors
def model_rollback(
    snapshot: SnapshotOpt = Path("bank.duckdb"), store: StoreOpt = None, by: ByOpt = None
) -> None:
    """Retire the model in force and put back the one it replaced."""
    _change(snapshot, store, by, "model_rolled_back")


@friendly_errors
def uplift_command(
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (default: every action campaigns have carried).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Learn who is persuadable for each action campaigns have carried.

    Learnt from the campaigns' treated and control arms, and judged on members
    held out (Qini and AUUC)."""
    from sqlalchemy import select

    from kequn.learn.persuasion import learn_action
    from kequn.store.campaign_models import Campaign

    ops = open_store(store or default_url(snapshot))
    try:
        with ops.session() as s:
            actions = [action] if action else sorted(set(s.scalars(select(Campaign.action))))
        if not actions:
            console.print("no campaign yet: uplift is learnt from campaigns' control arms")
            return
        t = Table(title="uplift on members held out (Qini; AUUC)")
        for col in ("action", "members", "learner", "learnt", "two-model", "class transformation", "random"):
            t.add_column(col)
        moment = now()
        for a in actions:
            r = learn_action(snapshot, ops, a, moment, seed)
            m = r.metrics

            def fig(k: str, m: dict[str, Any] = m) -> str:
                return f"{m[k]['qini']:.3f}; {m[k]['auuc']:.3f}" if k in m else "—"

            t.add_row(
                a,
                f"{r.members:,}",
                m.get("learner", r.reason),
                r.version or "—",
                fig("two_model"),
                fig("class_transformation"),
                fig("random"),
            )
    finally:
        ops.dispose()
    console.print(t)


history_app = typer.Typer(help="The bank's past contacts.", no_args_is_help=True)


@history_app.command("import")
@friendly_errors
def history_import(
    folder: Annotated[
        Path, typer.Argument(help="Folder holding contacts.csv (or .parquet, or a folder of parts).")
    ],
    into: Annotated[Path, typer.Option("--into", help="The analytical store.")] = Path("bank.duckdb"),
    mapping: Annotated[
        Path | None, typer.Option(help="Mapping of the bank's headers, outcome codes and own attributes.")
    ] = None,
) -> None:
    """Import a history of past contacts (call centre, campaigns), each row checked.

    Bad rows are quarantined with their reason."""
    from kequn.ingest.history import import_history

    name, counts = import_history(folder, into, mapping)
    console.print(
        f"{name}: {counts.read:,} contacts read, {counts.accepted:,} kept, {counts.quarantined:,} quarantined"
    )
    for reason, n in counts.reasons.items():
        console.print(f"  {reason}: {n:,}")
