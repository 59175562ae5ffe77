"""``kequn synth``, ``kequn ingest``, ``kequn snapshots``: getting a bank's data in."""

from __future__ import annotations

import json
import shutil
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kequn.cli.console import console, friendly_errors, progress_bars
from kequn.contract.schema import REASONS
from kequn.core.clock import today
from kequn.ingest import IngestReport, ingest, snapshots
from kequn.ingest.guards import Limits
from kequn.ingest.run import STAGE_MEMORY
from kequn.store.db import default_url


class FileFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


class TextEncoding(StrEnum):
    utf8 = "utf-8"
    gbk = "gbk"


class ExportStyle(StrEnum):
    contract = "contract"
    core = "core"


def synth_command(
    customers: Annotated[int, typer.Option(help="Number of customers.", min=1)] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bank.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder to write the extract into.")] = Path("bank"),
    fmt: Annotated[FileFormat, typer.Option("--format", help="File format.")] = FileFormat.csv,
    encoding: Annotated[TextEncoding, typer.Option(help="Text encoding of CSV files.")] = TextEncoding.utf8,
    months: Annotated[int, typer.Option(help="Months of transactions.", min=1, max=24)] = 3,
    dirty: Annotated[
        float,
        typer.Option(
            help="Share of rows given a defect, with a manifest of each (0 for a clean extract).",
            min=0,
            max=0.5,
        ),
    ] = 0,
    as_of: Annotated[
        str | None, typer.Option(help="Extract date YYYY-MM-DD (default: today in Beijing).")
    ] = None,
    style: Annotated[
        ExportStyle,
        typer.Option(
            help="contract: the contract's own names; core: "
            "as a core banking system exports it (Chinese "
            "names, codes, YYYYMMDD, fen, GBK), with the "
            "mapping.toml that reads it."
        ),
    ] = ExportStyle.contract,
    history: Annotated[
        int,
        typer.Option(
            help="Months of past campaign contacts (contacts.csv) with the bank's own customer "
            "attributes and the mapping.toml that declares them (0: none).",
            min=0,
            max=60,
        ),
    ] = 0,
) -> None:
    """Generate a synthetic bank modelled on a Shanxi city commercial bank."""
    if style is ExportStyle.core and (fmt is not FileFormat.csv or dirty or history):
        raise typer.BadParameter("--style core writes clean CSV only, without a contact history")
    # imported here: `kequn ingest`, run every night, need not load the generator
    from kequn.synth import SynthOptions, synthesize
    from kequn.synth.core_style import export_core_style

    opts = SynthOptions(
        customers=customers,
        seed=seed,
        out=out.with_name(out.name + ".contract") if style is ExportStyle.core else out,
        fmt=fmt.value,
        encoding=encoding.value,
        months=months,
        dirty=dirty,
        as_of=date.fromisoformat(as_of) if as_of else today(),
        history_months=history,
    )
    with progress_bars("synth") as bar:
        result = synthesize(opts, bar)
        if style is ExportStyle.core:
            bar("core-system export", 0, 1)
            export_core_style(opts.out, out)
            shutil.rmtree(opts.out)
            bar("core-system export", 1, 1)
    table = Table(title=f"{out} (as of {opts.as_of})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in result.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    if dirty:
        console.print(f"{result.defects:,} defects injected; see {out / 'dirty_manifest.csv'}")


def print_report(report: IngestReport) -> None:
    table = Table(title=f"snapshot {report.snapshot_id} in {report.store}")
    for col in ("table", "file", "read", "accepted", "quarantined"):
        table.add_column(col, justify="right" if col in ("read", "accepted", "quarantined") else "left")
    for t in report.tables:
        for i, f in enumerate(t.files or []):
            table.add_row(
                t.table if i == 0 else "",
                f"{f.file} ({f.encoding})",
                f"{f.read:,}",
                f"{f.accepted:,}",
                f"{f.quarantined:,}",
            )
        if not t.files:
            table.add_row(t.table, "(absent: optional)", "0", "0", "0")
    console.print(table)
    reasons = Table(title="quarantined rows by reason")
    for col in ("table", "reason", "code", "rows"):
        reasons.add_column(col, justify="right" if col == "rows" else "left")
    for t in report.tables:
        for reason, count in t.reasons.items():
            reasons.add_row(t.table, REASONS.get(reason, reason), reason, f"{count:,}")
    if reasons.row_count:
        console.print(reasons)
    for name, cols in report.ignored_columns.items():
        console.print(f"[yellow]ignored columns[/] in {name}: {', '.join(cols)}")
    for name in report.ignored_files:
        console.print(f"[yellow]ignored file[/] {name}")
    console.print(f"{report.quarantined:,} rows quarantined; {report.seconds} s")


@friendly_errors
def ingest_command(
    folder: Annotated[Path, typer.Argument(help="Folder holding the extract's files.")],
    into: Annotated[Path, typer.Option(help="The DuckDB store to publish the snapshot into.")] = Path(
        "bank.duckdb"
    ),
    as_of: Annotated[
        str | None, typer.Option(help="Snapshot date YYYY-MM-DD (default: the extract's own, else today).")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Mapping of the bank's own file names, headers, codes and formats.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write the data-quality report as JSON here.")
    ] = None,
    memory_limit: Annotated[
        str, typer.Option(help="Memory the stage may use before it spills to disk.")
    ] = STAGE_MEMORY,
    playbook: Annotated[Path | None, typer.Option(help="Playbook whose [ingest] limits apply.")] = None,
    accept: Annotated[
        str | None,
        typer.Option(
            help="Publish although the extract moved beyond the playbook's limits; the reason goes "
            "on the audit trail."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Operational store whose audit trail records an --accept (default: beside the snapshot).",
            envvar="KEQUN_STORE_URL",
        ),
    ] = None,
) -> None:
    """Validate an extract and publish it as a dated snapshot; bad rows go to quarantine.

    Exits 2 without publishing when a required file has no rows, a table was
    wholly quarantined, or the extract moved beyond the playbook's [ingest]
    limits from the snapshot before it (unless --accept gives the reason)."""
    from kequn.cli.identity import operator
    from kequn.playbook import load_playbook
    from kequn.release.versions import in_force

    # the released version's limits, if one is in force
    pb = load_playbook(playbook or in_force(store or default_url(into), into))
    g = pb.playbook.ingest
    limits = Limits(g.customers, g.holdings, g.aum, g.quarantined, tuple(pb.playbook.aum_product_types))
    actor, role = operator()
    with progress_bars("ingest") as bar:
        result = ingest(
            folder,
            into,
            date.fromisoformat(as_of) if as_of else None,
            mapping,
            bar,
            memory_limit,
            limits,
            accept,
            actor,
        )
    print_report(result)
    if result.accepted_reason:
        _record_acceptance(store or default_url(into), result, actor, role)
    if report:
        report.write_text(result.to_json() + "\n", encoding="utf-8")


def _record_acceptance(url: str, result: IngestReport, actor: str, role: str) -> None:
    """An extract published beyond the limits is on the trail with the reason given."""
    from kequn.core.clock import now
    from kequn.privacy.audit import Event, record
    from kequn.store import open_store

    found: Any = result.guards.get("moved") or []
    moved = [str(m.get("measure")) for m in found]
    with open_store(url) as ops, ops.session() as s:
        detail = {"snapshot": result.snapshot_id, "reason": result.accepted_reason, "moved": moved}
        record(s, [Event(actor, role, "ingest_accepted", None, detail, now())])
    console.print(f"[yellow]published beyond the limits ({', '.join(moved)}): {result.accepted_reason}[/]")


@friendly_errors
def snapshots_command(
    store: Annotated[Path, typer.Argument(help="The DuckDB store.")] = Path("bank.duckdb"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the snapshots in a store, oldest first."""
    found = snapshots(store)
    if as_json:
        console.print_json(
            json.dumps(
                [
                    {
                        "snapshot_id": s.snapshot_id,
                        "schema": s.schema,
                        "ingested_at": s.ingested_at.isoformat(),
                        "source": s.source,
                        "digest": s.digest,
                    }
                    for s in found
                ]
            )
        )
        return
    table = Table(title=str(store))
    for col in ("snapshot", "schema", "ingested at", "rows", "quarantined", "source"):
        table.add_column(col)
    for s in found:
        tables: list[dict[str, Any]] = s.report.get("tables", [])  # type: ignore[assignment]
        rows = sum(t["accepted"] for t in tables)
        quarantined = sum(t["quarantined"] for t in tables)
        table.add_row(
            s.snapshot_id,
            s.schema,
            f"{s.ingested_at:%Y-%m-%d %H:%M}",
            f"{rows:,}",
            f"{quarantined:,}",
            s.source,
        )
    console.print(table)


@friendly_errors
def adapt_berka_command(
    src: Annotated[Path, typer.Argument(help="Folder with the Berka files (account.asc, client.asc, ...).")],
    out: Annotated[Path, typer.Option(help="Folder to write the contract-shaped extract into.")] = Path(
        "berka"
    ),
    into: Annotated[Path | None, typer.Option(help="Also ingest it into this DuckDB store.")] = None,
) -> None:
    """Map the PKDD'99 Czech bank data set (Berka) onto the contract."""
    from kequn.adapters.berka import BERKA_ACCEPTED, MAPPING_FILE, adapt_berka

    report = adapt_berka(src, out)
    table = Table(title=f"Berka -> {out}")
    for col in ("source file", "rows", "becomes", "how"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for s in report.sources:
        table.add_row(s.file, f"{s.rows:,}", s.becomes, s.note)
    console.print(table)
    if into:
        with progress_bars("ingest") as bar:
            result = ingest(out, into, None, out / MAPPING_FILE, bar, accept=BERKA_ACCEPTED)
        print_report(result)


adapt_app = typer.Typer(help="Map a real public bank dataset onto the contract.", no_args_is_help=True)
adapt_app.command("berka")(adapt_berka_command)
