"""``kequn serve``, ``kequn users``, ``kequn demo``."""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from kequn.cli.console import console, friendly_errors, progress_bars
from kequn.cli.decisions import print_decision
from kequn.cli.names import Names
from kequn.cli.pipeline import print_summary
from kequn.core.clock import now, today
from kequn.core.errors import KequnError
from kequn.decide.batch import decide
from kequn.decide.simulate import simulate_history
from kequn.ingest import ingest
from kequn.learn.train import train
from kequn.pipeline import run_pipeline
from kequn.playbook import load_playbook
from kequn.store import default_url, open_store
from kequn.store.cards import Cards
from kequn.store.models import Branch, Customer, Staff, Task, User
from kequn.synth import SynthOptions, synthesize
from kequn.web.security import RM_ROLES
from kequn.web.services.users import create_user

users_app = typer.Typer(help="Users of the workbench.", no_args_is_help=True)


@friendly_errors
def serve_command(
    store: Annotated[
        str | None, typer.Option("--store", help="Operational store URL (or KEQUN_STORE_URL).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(help="Worker processes (each connection handed to the worker holding the fewest)."),
    ] = 1,
    day: Annotated[str | None, typer.Option(help="Business day the pages show (default: today).")] = None,
    analytics: Annotated[
        Path | None,
        typer.Option(
            help="The DuckDB analytical store: each customer's profile on their page, customer groups "
            "and campaigns (or KEQUN_ANALYTICS)."
        ),
    ] = None,
) -> None:
    """Serve the workbench (pages and JSON API)."""
    from kequn.web.workers import serve

    if store:
        os.environ["KEQUN_STORE_URL"] = store
    if day:
        os.environ["KEQUN_DAY"] = day
    if analytics:
        if not analytics.exists():
            raise KequnError(f"{analytics}: no analytical store there")
        os.environ["KEQUN_ANALYTICS"] = str(analytics.resolve())
    if not os.environ.get("KEQUN_STORE_URL"):
        raise KequnError("--store (or KEQUN_STORE_URL) is required")
    os.environ.setdefault("KEQUN_SECRET_KEY", secrets.token_urlsafe(32))
    if host in ("127.0.0.1", "localhost", "::1"):
        # plain HTTP that never leaves this machine: Secure cookies would not come back
        os.environ.setdefault("KEQUN_INSECURE_COOKIES", "1")
    else:
        console.print("[yellow]serving beyond this machine: put it behind HTTPS[/]")
    serve(
        {
            "app": "kequn.web.main:app_from_env",
            "factory": True,
            "host": host,
            "port": port,
            "log_level": "warning",
            "access_log": False,
        },
        workers,
    )


@users_app.command("create")
@friendly_errors
def users_create(
    login: Annotated[str, typer.Option(help="Sign-in name.")],
    role: Annotated[
        str, typer.Option(help="Role: a manager role, branch_head, hq, compliance, lobby_manager or teller.")
    ],
    store: Annotated[str, typer.Option("--store", help="Operational store URL.")],
    manager: Annotated[str | None, typer.Option(help="Staff number the user is.")] = None,
    branch: Annotated[str | None, typer.Option(help="Unit, for branch heads and floor staff.")] = None,
    password: Annotated[str | None, typer.Option(help="Password (default: generated).")] = None,
) -> None:
    """Create a user; prints a generated password if none is given."""
    ops = open_store(store)
    secret = password or secrets.token_urlsafe(12)
    try:
        with ops.session() as s:
            create_user(s, login, secret, role, now(), manager, branch)
    except ValueError as exc:
        raise KequnError(str(exc)) from None
    finally:
        ops.dispose()
    console.print(f"user {login} ({role}) created" + ("" if password else f"; password {secret}"))


def demo_users(url: str, day: object) -> list[tuple[str, str, str, str]]:
    """One user of every role around the busiest manager of the day; (login, role,
    password, who)."""
    ops = open_store(url)
    made = []
    try:
        with ops.session() as s:
            busiest = s.execute(
                select(Task.manager_id, func.count())
                .join(Staff, Staff.manager_id == Task.manager_id)
                .where(Task.as_of == day, Staff.role.in_(RM_ROLES))
                .group_by(Task.manager_id)
                .order_by(func.count().desc())
            ).first()
            if busiest is None:
                raise KequnError("no tasks for the demo day: nothing to show")
            manager = s.get(Staff, busiest[0])
            assert manager is not None
            # another branch's busiest book: what the first manager must not reach
            other_id = s.scalar(
                select(Customer.owner_manager_id)
                .join(Staff, Staff.manager_id == Customer.owner_manager_id)
                .where(Staff.role.in_(RM_ROLES), Staff.active, Staff.branch_id != manager.branch_id)
                .group_by(Customer.owner_manager_id)
                .order_by(func.count().desc())
                .limit(1)
            )
            other = s.get(Staff, other_id) if other_id else None
            parents = {b: p for b, p in s.execute(select(Branch.branch_id, Branch.parent_id))}
            chain: list[str] = []
            unit: str | None = manager.branch_id
            while unit:
                chain.append(unit)
                unit = parents.get(unit)

            def staff_in(role: str, units: list[str]) -> Staff | None:
                for u in units:  # nearest unit first
                    found = s.scalar(select(Staff).where(Staff.role == role, Staff.branch_id == u).limit(1))
                    if found is not None:
                        return found
                return None

            head = staff_in("branch_head", chain)
            lobby = staff_in("lobby_manager", chain)
            teller = staff_in("teller", chain)
            hq = staff_in("hq", chain[-1:])
            compliance = staff_in("compliance", chain[-1:])

            def sid(who: Staff | None) -> str | None:
                return who.manager_id if who else None

            plan = [
                ("manager", manager.role, manager.manager_id, None),
                ("head", "branch_head", sid(head), head.branch_id if head else manager.branch_id),
                ("hq", "hq", sid(hq), None),
                ("compliance", "compliance", sid(compliance), None),
                ("lobby", "lobby_manager", sid(lobby), manager.branch_id),
                ("teller", "teller", sid(teller), manager.branch_id),
            ]
            if other is not None:
                plan.append(("manager2", other.role, other.manager_id, None))
            root = s.scalar(select(Staff.branch_id).where(Staff.role == "hq"))
            for login, role, mid, branch in plan:
                existing = s.scalar(select(User).where(User.login == login))
                if existing is not None:
                    s.delete(existing)
                    s.flush()
                password = secrets.token_urlsafe(9)
                user = create_user(
                    s,
                    login,
                    password,
                    role,
                    now(),
                    mid,
                    branch or (root if role in ("hq", "compliance") else None),
                )
                made.append((login, role, password, user.display_name))
    finally:
        ops.dispose()
    return made


@friendly_errors
def demo_command(
    customers: Annotated[int, typer.Option(help="Customers in the demo bank.", min=200)] = 20_000,
    port: Annotated[int, typer.Option(help="Port of the workbench.")] = 8000,
    workdir: Annotated[Path, typer.Option(help="Folder for the demo bank and its stores.")] = Path("demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the demo bank.")] = 7,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Prepare, then stop.")] = False,
) -> None:
    """Generate a demo bank, ingest, run, decide, create users of every role, and serve."""
    workdir.mkdir(parents=True, exist_ok=True)
    extract, store = workdir / "bank", workdir / "bank.duckdb"
    url = default_url(store)
    day = today()
    as_of = day - timedelta(days=1)  # last night's extract; today's tasks
    pb = load_playbook()
    with progress_bars("demo") as bar:
        synthesize(SynthOptions(customers=customers, seed=seed, out=extract, as_of=as_of), bar)
        ingest(extract, store, as_of, None, bar)
        run = run_pipeline(store, None, "duckdb", as_of, bar)
        # the day is decided twice, and again when the demo is made anew in the same
        # folder: first to give the simulated managers their cards, then with the
        # model trained on what they did (each replaces the one before)
        decide(store, url, None, as_of, day, bar, replace=True)
        ops = open_store(url)
        cards = Cards(store)
        simulate_history(
            ops, cards, pb, as_of, days=40, contacts_per_day=max(50, customers // 100), seed=seed
        )
        with contextlib.suppress(KequnError):  # too few outcomes in a tiny demo: priors it is
            train(store, ops, pb, now())
        cards.close()
        ops.dispose()
        report = decide(store, url, None, as_of, day, bar, replace=True)
    print_summary(run, Names(pb))
    print_decision(report, Names(pb))
    people = demo_users(url, day)
    console.print(f"\n[bold]Demo bank ready[/] ({workdir}); sign in at http://127.0.0.1:{port}/")
    for login, role, password, who in people:
        console.print(f"  {login:<11} {password:<14} {role} ({who})")
    if not no_serve:
        serve_command(url, "127.0.0.1", port, 1, day.isoformat(), store)
