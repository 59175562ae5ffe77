"""Generates a whole synthetic bank, table by table, a chunk of customers at a time."""

from __future__ import annotations

import csv
import json
import shutil
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kequn.contract import CONTRACT_VERSION, TABLES
from kequn.contract.tables import DEPOSIT_TYPES
from kequn.core.tomlfile import KeyLines
from kequn.ingest.mapping import parse_mapping
from kequn.synth import history
from kequn.synth.catalog import BANK_NAME
from kequn.synth.dirty import Defect, inject
from kequn.synth.flows import make_consents, make_transactions
from kequn.synth.money import make_holdings
from kequn.synth.org import build_employers, build_org
from kequn.synth.people import make_customers
from kequn.synth.shelf import build_shelf
from kequn.synth.writer import Format, TableWriter, as_text, to_arrow

Progress = Callable[[str, int, int], None]
EXTRACT_FILE = "extract.json"
MANIFEST_FILE = "dirty_manifest.csv"


@dataclass(frozen=True)
class SynthOptions:
    customers: int
    seed: int
    out: Path
    as_of: date
    fmt: Format = "csv"
    encoding: str = "utf-8"
    months: int = 3
    dirty: float = 0.0
    chunk_size: int = 50_000
    #: months of past campaign contacts (``contacts.csv``), with the bank's own
    #: attributes declared in a ``mapping.toml``; 0: neither
    history_months: int = 0


@dataclass
class SynthResult:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    defects: int = 0


def window_start(as_of: date, months: int) -> date:
    """The first day of ``months`` months ending on ``as_of``."""
    y, m = as_of.year, as_of.month - months
    while m <= 0:
        y, m = y - 1, m + 12
    day = min(as_of.day, 28)
    return date(y, m, day).replace(day=day) if as_of.day <= 28 else date(y, m, 28)


def synthesize(opts: SynthOptions, progress: Progress | None = None) -> SynthResult:
    if opts.customers < 1:
        raise ValueError("need at least one customer")
    if not 0 <= opts.dirty < 0.5:
        raise ValueError("--dirty is a share of rows between 0 and 0.5")
    if opts.months < 1 or opts.months > 24:
        raise ValueError("--months must be between 1 and 24")
    out = Path(opts.out)
    if out.exists() and any(out.iterdir()) and not (out / EXTRACT_FILE).exists():
        raise FileExistsError(f"{out} exists and is not a Kequn extract; refusing to overwrite")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)

    start = window_start(opts.as_of, opts.months)
    org = build_org(opts.customers, opts.seed)
    employers = build_employers(opts.customers, opts.seed, org)
    shelf = build_shelf(opts.seed)
    text = opts.dirty > 0
    # the bank's own attributes come with a history: the mapping declares them
    text_of_mapping = history.mapping_toml()
    mapping = parse_mapping(tomllib.loads(text_of_mapping), KeyLines(text_of_mapping), "mapping.toml")
    tables = {
        name: mapping.table(name) if opts.history_months else t
        for name, t in TABLES.items()
        if name != "contacts" or opts.history_months
    }
    writers = {name: TableWriter(partial, t, opts.fmt, opts.encoding, text) for name, t in tables.items()}
    campaign_products = {
        code: next((p.product_id for p in shelf if p.type == kind), None)
        for code, kind in (("KMH", "wealth_product"), ("RENEW", "time_deposit"), ("PENSION", "pension"))
    } | {"FUND": next((p.product_id for p in shelf if p.type == "fund"), None)}
    truth: list[tuple[object, float]] = []
    defects: list[Defect] = []
    report = progress or (lambda stage, done, total: None)

    def emit(
        name: str,
        columns: Mapping[str, Any],
        rng_key: int,
        chunk: int,
        deposit_rows: np.ndarray | None = None,
    ) -> None:
        table = tables[name]
        writer = writers[name]
        batch = to_arrow(table, columns, for_csv=opts.fmt == "csv")
        if text:
            batch = as_text(batch)
            batch, found = inject(
                np.random.default_rng([opts.seed, 900 + rng_key, chunk]),
                table,
                batch,
                opts.dirty,
                opts.as_of,
                writer.path.name,
                writer.first_line,
                deposit_rows,
            )
            defects.extend(found)
        writer.write(batch)

    def rows_of(records: list[dict[str, object]], name: str) -> dict[str, object]:
        return {c: [r.get(c) for r in records] for c in tables[name].column_names}

    report("organisation", 0, 1)
    emit("branches", rows_of(org.branches, "branches"), 1, 0)
    emit("managers", rows_of(org.managers, "managers"), 2, 0)
    emit("employers", rows_of(employers.rows, "employers"), 3, 0)
    emit("products", rows_of([asdict(p) for p in shelf], "products"), 4, 0)
    report("organisation", 1, 1)

    deposit_types = np.array([p.type in DEPOSIT_TYPES for p in shelf])
    chunks = range(0, opts.customers, opts.chunk_size)
    txn_counter = 0
    for ci, first in enumerate(chunks):
        size = min(opts.chunk_size, opts.customers - first)
        cust = make_customers(
            np.random.default_rng([opts.seed, 1, ci]), first, size, opts.as_of, org, employers
        )
        hold = make_holdings(np.random.default_rng([opts.seed, 2, ci]), cust, shelf, opts.as_of, start)
        txns = make_transactions(
            np.random.default_rng([opts.seed, 3, ci]), cust, hold, shelf, employers, start, opts.as_of
        )
        count = len(txns["customer_id"])
        ids = np.arange(txn_counter + 1, txn_counter + count + 1)
        txns["txn_id"] = np.char.add("T", np.char.zfill(ids.astype(str), 12))
        txn_counter += count
        consents = make_consents(np.random.default_rng([opts.seed, 4, ci]), cust, opts.as_of)
        if opts.history_months:
            attrs = history.customer_attributes(np.random.default_rng([opts.seed, 10, ci]), cust.age)
            cust.columns.update(attrs)
            past = history.make_history(
                np.random.default_rng([opts.seed, 11, ci]),
                cust.columns["customer_id"],
                cust.age,
                attrs,
                np.asarray(cust.columns["owner_manager_id"], dtype=object),
                opts.as_of,
                opts.history_months,
                {k: v for k, v in campaign_products.items() if v},
            )
            emit("contacts", past.columns, 12, ci)
            truth += list(zip(past.columns["contact_id"], past.truth.tolist(), strict=True))  # type: ignore[call-overload]
        emit("customers", cust.columns, 5, ci)
        emit("holdings", hold.columns, 6, ci, deposit_types[hold.product])
        emit("transactions", txns, 7, ci)
        emit("consents", consents, 8, ci)
        report("customers", first + size, opts.customers)

    for w in writers.values():
        w.close()
    meta = {
        "bank": BANK_NAME,
        "as_of": opts.as_of.isoformat(),
        "window_start": start.isoformat(),
        "generator": "kequn synth",
        "seed": opts.seed,
        "customers": opts.customers,
        "months": opts.months,
        "format": opts.fmt,
        "encoding": opts.encoding if opts.fmt == "csv" else None,
        "dirty": opts.dirty,
        "contract_version": CONTRACT_VERSION,
        "currency": "CNY",
        "rows": {name: w.rows for name, w in writers.items()},
    }
    (partial / EXTRACT_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if opts.history_months:
        (partial / "mapping.toml").write_text(history.mapping_toml(), encoding="utf-8")
        # what a model could know at best: each past contact's true chance (for tests)
        with open(partial / history.TRUTH_FILE, "w", newline="", encoding="utf-8") as fh:
            out_csv = csv.writer(fh)
            out_csv.writerow(["contact_id", "p"])
            out_csv.writerows(truth)
    if text:
        with open(partial / MANIFEST_FILE, "w", newline="", encoding="utf-8") as fh:
            out_csv = csv.writer(fh)
            out_csv.writerow(["table", "file", "line", "field", "value", "reason"])
            for d in defects:
                out_csv.writerow([d.table, d.file, d.line, d.field, d.value, d.reason])
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return SynthResult(out=out, rows=meta["rows"], defects=len(defects))  # type: ignore[arg-type]


__all__ = ["EXTRACT_FILE", "MANIFEST_FILE", "SynthOptions", "SynthResult", "pa", "synthesize"]
