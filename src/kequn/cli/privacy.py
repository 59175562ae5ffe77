"""``kequn audit …``, ``kequn privacy …`` and ``kequn consent``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kequn.cli.console import console, err_console, friendly_errors
from kequn.cli.identity import operator
from kequn.core.clock import SHANGHAI, now
from kequn.core.errors import KequnError
from kequn.playbook import load_playbook
from kequn.privacy.audit import verify
from kequn.privacy.consent import change_consent, refuse_personalisation
from kequn.privacy.report import privacy_report
from kequn.privacy.requests import KINDS, RequestError, fulfil, open_request, requests
from kequn.privacy.retention import apply_retention
from kequn.store import open_store
from kequn.store.models import AuditEntry, Customer

audit_app = typer.Typer(help="The tamper-evident access trail.", no_args_is_help=True)
privacy_app = typer.Typer(help="Personal information protection (PIPL).", no_args_is_help=True)
request_app = typer.Typer(help="Data-subject requests: access, correction, deletion.", no_args_is_help=True)
privacy_app.add_typer(request_app, name="request")

StoreOpt = Annotated[str, typer.Option("--store", help="Operational store URL.", envvar="KEQUN_STORE_URL")]
SnapshotOpt = Annotated[
    Path | None,
    typer.Option("--snapshot", help="The DuckDB analytical store (its snapshots are covered too)."),
]


@audit_app.command("verify")
@friendly_errors
def audit_verify(
    store: StoreOpt,
    expect_head: Annotated[
        str | None, typer.Option(help="The head hash written down earlier: the chain must end there.")
    ] = None,
) -> None:
    """Check every entry of the trail; exit 1 and say where if any was edited, removed or reordered."""
    ops = open_store(store)
    try:
        with ops.session() as s:
            result = verify(s, expect_head)
    finally:
        ops.dispose()
    for problem in result.problems:
        err_console.print(f"[bold red]tampered:[/] {problem}", highlight=False)
    console.print(f"{result.checked:,} entries checked; head {result.head}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("search")
@friendly_errors
def audit_search(
    store: StoreOpt,
    actor: Annotated[str | None, typer.Option(help="Who (a login).")] = None,
    customer: Annotated[str | None, typer.Option(help="About which customer.")] = None,
    action: Annotated[str | None, typer.Option(help="What (view_customer, export, unmask, …).")] = None,
    since: Annotated[str | None, typer.Option(help="From this day (YYYY-MM-DD).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """Search the trail."""
    from sqlalchemy import select

    ops = open_store(store)
    try:
        with ops.session() as s:
            stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
            if actor:
                stmt = stmt.where(AuditEntry.actor == actor)
            if customer:
                stmt = stmt.where(AuditEntry.customer_id == customer)
            if action:
                stmt = stmt.where(AuditEntry.action == action)
            if since:
                start = datetime.combine(date.fromisoformat(since), time(0), SHANGHAI)
                stmt = stmt.where(AuditEntry.at >= start)
            table = Table(title="audit trail")
            for col in ("seq", "at", "actor", "role", "action", "customer", "detail"):
                table.add_column(col)
            for e in s.scalars(stmt):
                table.add_row(
                    str(e.seq),
                    f"{e.at.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}",
                    e.actor,
                    e.role,
                    e.action,
                    e.customer_id or "",
                    e.detail[:80],
                )
    finally:
        ops.dispose()
    console.print(table)


@privacy_app.command("report")
@friendly_errors
def privacy_report_command(
    store: StoreOpt,
    days: Annotated[int, typer.Option(help="Days of access and decisions to count.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Data map, consent coverage, automated decisions, access statistics and anomalies (for the PIA)."""
    pb = load_playbook()
    ops = open_store(store)
    try:
        with ops.session() as s:
            r = privacy_report(s, pb, now(), days)
    finally:
        ops.dispose()
    if as_json:
        console.print_json(json.dumps(asdict(r), ensure_ascii=False, default=str))
        return
    t = Table(title="personal data processed (data map)")
    for col in ("table", "personal fields", "purpose", "in clear for", "unmask with reason"):
        t.add_column(col)
    for d in r.data_map:
        t.add_row(
            f"{d['table']} {d['zh']}",
            ", ".join(d["personal_fields"]),
            d["purpose"],
            str(d["in_clear_for"]),
            ", ".join(d["unmask_with_reason"]),
        )
    console.print(t)
    t = Table(title="consent coverage")
    for col in ("purpose", "granted", "refused or withdrawn", "share granted"):
        t.add_column(col, justify="left" if col == "purpose" else "right")
    for purpose, c in r.consent_coverage.items():
        t.add_row(purpose, f"{c['granted']:,}", f"{c['refused_or_withdrawn']:,}", f"{c['share_granted']:.1%}")
    console.print(t)
    console.print(f"refused personalised targeting: {r.opted_out:,}; do not contact: {r.do_not_contact:,}")
    console.print(f"automated decisions ({days} days): {r.decisions}")
    console.print(f"access ({days} days): {r.access}")
    console.print(f"data-subject requests: {r.requests}; customers erased: {r.erased:,}")
    t = Table(title=f"unusual access ({len(r.alerts)})")
    for col in ("day", "user", "role", "customers viewed", "role median", "why"):
        t.add_column(col)
    for a in r.alerts:
        t.add_row(str(a.day), a.login, a.role, str(a.customers_viewed), f"{a.usual:.0f}", a.why)
    console.print(t)


@privacy_app.command("retention")
@friendly_errors
def retention_command(store: StoreOpt, snapshot: SnapshotOpt = None) -> None:
    """Erase or pseudonymise personal data past its retention period (AML records kept)."""
    pb = load_playbook()
    actor, role = operator()
    ops = open_store(store)
    try:
        with ops.session() as s:
            done = apply_retention(s, pb, now(), actor, role, snapshot)
    finally:
        ops.dispose()
    for k, v in done.items():
        console.print(f"{k}: {v:,}")


@request_app.command("open")
@friendly_errors
def request_open(
    customer: Annotated[str, typer.Argument(help="Customer number.")],
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(KINDS)}.")],
    store: StoreOpt,
    field: Annotated[str | None, typer.Option(help="For a correction: name or phone.")] = None,
    value: Annotated[str | None, typer.Option(help="For a correction: the new value.")] = None,
) -> None:
    """Record a request received from a customer; its deadline comes from the playbook."""
    pb = load_playbook()
    actor, role = operator()
    ops = open_store(store)
    try:
        with ops.session() as s:
            payload = {"field": field, "value": value} if kind == "correction" else {}
            req = open_request(s, pb, customer, kind, actor, role, now(), payload)
            console.print(f"request {req.request_id} ({kind}) for {customer}, due {req.due_on}")
    except RequestError as exc:
        raise KequnError(str(exc)) from None
    finally:
        ops.dispose()


@request_app.command("list")
@friendly_errors
def request_list(
    store: StoreOpt, all_: Annotated[bool, typer.Option("--all", help="Closed ones too.")] = False
) -> None:
    """Requests with their deadlines; overdue ones first."""
    ops = open_store(store)
    try:
        with ops.session() as s:
            rows = requests(s, now().date(), None if all_ else "open")
            t = Table(title="data-subject requests")
            for col in ("id", "customer", "kind", "received", "due", "status", "result"):
                t.add_column(col)
            for v in rows:
                r = v.request
                due = f"[red]{r.due_on} (overdue)[/]" if v.overdue else str(r.due_on)
                t.add_row(
                    str(r.request_id),
                    r.customer_id,
                    r.kind,
                    f"{r.received_at:%Y-%m-%d}",
                    due,
                    r.status,
                    r.result or "",
                )
    finally:
        ops.dispose()
    console.print(t)


@request_app.command("fulfil")
@friendly_errors
def request_fulfil(
    request_id: Annotated[int, typer.Argument(help="The request's number.")],
    store: StoreOpt,
    snapshot: SnapshotOpt = None,
    out: Annotated[Path, typer.Option(help="Folder for an access request's copy.")] = Path("."),
) -> None:
    """Answer a request: write the copy, apply the correction, or erase the customer."""
    pb = load_playbook()
    actor, role = operator()
    ops = open_store(store)
    try:
        with ops.session() as s:
            console.print(fulfil(s, pb, request_id, actor, role, now(), snapshot, out))
    except RequestError as exc:
        raise KequnError(str(exc)) from None
    finally:
        ops.dispose()


@friendly_errors
def consent_command(
    customer: Annotated[str, typer.Argument(help="Customer number.")],
    purpose: Annotated[
        str, typer.Argument(help="marketing_phone, marketing_sms, personalised_recommendation, …")
    ],
    decision: Annotated[str, typer.Argument(help="grant or withdraw")],
    store: StoreOpt,
    source: Annotated[str, typer.Option(help="Where the customer said so.")] = "counter",
) -> None:
    """Record a consent given or withdrawn; open tasks it no longer allows are withdrawn at once."""
    if decision not in ("grant", "withdraw"):
        raise KequnError("say grant or withdraw")
    pb = load_playbook()
    actor, role = operator()
    ops = open_store(store)
    try:
        with ops.session() as s:
            card = s.get(Customer, customer)
            if card is None:
                raise KequnError(f"unknown customer {customer!r}")
            if purpose == "personalised_recommendation" and decision == "withdraw":
                change = refuse_personalisation(s, pb, card, source, actor, role, now())
            else:
                change = change_consent(s, pb, card, purpose, decision == "grant", source, actor, role, now())
    except ValueError as exc:
        raise KequnError(str(exc)) from None
    finally:
        ops.dispose()
    console.print(
        f"{customer}: {purpose} {'granted' if change.granted else 'withdrawn'}; "
        f"open tasks withdrawn: {len(change.withdrawn_tasks)}"
    )
