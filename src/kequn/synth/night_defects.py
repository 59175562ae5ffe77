"""What goes wrong with a night's extract: a handful of rows broken as a real
core system breaks them (each a copy of a real row with exactly one defect,
named in the manifest), and a whole file spoilt as a transfer fails
(``damage``: truncated, late, or its header only)."""

from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np

from kequn.contract import TABLES
from kequn.synth.bank import MANIFEST_FILE
from kequn.synth.writer import as_text

Damage = Literal["truncated", "late", "header_only"]
#: tables that broken rows are appended to, with the weight of each
DIRTY_TABLES = {"customers": 0.3, "holdings": 0.3, "transactions": 0.3, "consents": 0.1}


#: the broken rows a night may bring, by table: (reason, how the copy is broken)
NIGHT_DEFECTS: dict[str, tuple[str, ...]] = {
    "customers": (
        "bad_id_check_digit",
        "missing_required",
        "future_date",
        "control_characters",
        "duplicate_key",
    ),
    "holdings": (
        "negative_deposit_balance",
        "unknown_product_code",
        "unparseable_amount",
        "orphan_foreign_key",
        "duplicate_key",
    ),
    "transactions": (
        "future_date",
        "unparseable_amount",
        "orphan_foreign_key",
        "sign_mismatch",
        "duplicate_key",
    ),
    "consents": ("orphan_foreign_key", "missing_required", "duplicate_key"),
}


def _broken(
    name: str, reason: str, row: dict[str, str | None], i: int, as_of: date, rng: np.random.Generator
) -> tuple[str, str]:
    """Breaks ``row`` (text) in place by ``reason``; returns (field, value)."""
    fresh = f"D{as_of:%m%d}{i:02d}"
    key = {"customers": "customer_id", "holdings": "account_id", "transactions": "txn_id"}.get(name)
    if reason != "duplicate_key" and key:  # a row of its own, whose one problem is the defect
        row[key] = f"{row[key]}{fresh}"
    if name == "consents" and reason != "duplicate_key":
        row["ts"] = f"{as_of.isoformat()} 23:{i % 60:02d}:00"
    if reason == "duplicate_key":
        field = ",".join(TABLES[name].primary_key)
        return field, ",".join(str(row[k]) for k in TABLES[name].primary_key)
    if reason == "bad_id_check_digit":
        old = row["id_number"] or "140502196411130386"
        row["id_number"] = old[:-1] + ("0" if old[-1] != "0" else "1")
        return "id_number", row["id_number"] or ""
    if reason == "missing_required":
        field = "birth_date" if name == "customers" else "purpose"
        row[field] = None
        return field, ""
    if reason == "future_date":
        field = "open_date" if name == "customers" else "ts"
        when = as_of + timedelta(days=int(rng.integers(30, 400)))
        row[field] = when.isoformat() if field == "open_date" else f"{when.isoformat()} 10:15:00"
        return field, row[field] or ""
    if reason == "control_characters":
        row["name"] = "\x00\x00" + (row["name"] or "")
        return "name", row["name"] or ""
    if reason == "negative_deposit_balance":
        row["balance"] = "-" + str(row["balance"]).lstrip("-")
        return "balance", row["balance"] or ""
    if reason == "unknown_product_code":
        row["product_id"] = f"ZZ{int(rng.integers(0, 10_000)):04d}"
        return "product_id", row["product_id"] or ""
    if reason == "unparseable_amount":
        field = "balance" if name == "holdings" else "amount"
        row[field] = str(rng.choice(["12O.50", "N/A", "1.2.3", "#VALUE!", "壹佰元"]))
        return field, row[field] or ""
    if reason == "orphan_foreign_key":
        row["customer_id"] = f"{row['customer_id']}9"
        return "customer_id", row["customer_id"] or ""
    if reason == "sign_mismatch":
        amount = str(row["amount"])
        row["amount"] = amount[1:] if amount.startswith("-") else f"-{amount}"
        return "amount", row["amount"] or ""
    raise ValueError(reason)


def append_broken_rows(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    clean: dict[str, int],
    rng: np.random.Generator,
    n: int,
    as_of: date,
) -> list[tuple[str, str, int, str, str, str]]:
    """Appends ``n`` broken rows after the clean ones (each a copy of a real row
    with exactly one defect); returns the manifest's rows."""
    found: list[tuple[str, str, int, str, str, str]] = []
    names = list(DIRTY_TABLES)
    weights = np.array(list(DIRTY_TABLES.values()))
    counts = rng.multinomial(n, weights / weights.sum()) if n else np.zeros(len(names), dtype=int)
    line = {name: clean.get(name, 0) + 2 for name in names}
    for name, k in zip(names, counts, strict=True):
        if not k or not clean.get(name):
            continue
        table = TABLES[name]
        key = ", ".join(f'"{c}"' for c in table.primary_key)
        path = folder / f"{name}.csv"
        with open(path, "a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            for i in range(int(k)):
                reason = str(rng.choice(NIGHT_DEFECTS[name]))
                where = ""
                if reason == "negative_deposit_balance":
                    where = (
                        "WHERE product_id IN (SELECT product_id FROM products "
                        "WHERE type = 'demand_deposit') AND balance > 0"
                    )
                elif reason == "sign_mismatch":
                    where = "WHERE type IN ('salary', 'card_spend', 'transfer_out', 'pension')"
                picked = con.execute(
                    # a row picked by its key's hash: the same row whatever the table's order,
                    # and no row of half a million rendered as text to pick one
                    f"SELECT * FROM {name} {where} ORDER BY hash(concat_ws('|', {key}) || ?) LIMIT 1",
                    [f"{as_of}{i}"],
                ).to_arrow_table()
                if not picked.num_rows:
                    continue
                text = as_text(picked)
                row = {c: text.column(c)[0].as_py() for c in text.column_names}
                field, value = _broken(name, reason, row, i, as_of, rng)
                w.writerow(["" if row[c] is None else row[c] for c in table.column_names])
                found.append((name, path.name, line[name], field, value, reason))
                line[name] += 1
    return found


def damage(extract: Path, out: Path, kind: Damage, table: str = "holdings", seed: int = 7) -> Path:
    """A spoilt copy of ``extract`` in ``out``: ``truncated`` cuts ``table``'s file
    mid-line at a random point past its middle, ``late`` leaves it out,
    ``header_only`` keeps only its header line."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(extract, out)
    path = out / f"{table}.csv"
    if kind == "late":
        path.unlink()
    elif kind == "header_only":
        with open(path, encoding="utf-8") as fh:
            header = fh.readline()
        path.write_text(header, encoding="utf-8")
    else:
        data = path.read_bytes()
        cut = int(len(data) * np.random.default_rng(seed).uniform(0.4, 0.7))
        while cut < len(data) and data[cut - 1 : cut] == b"\n":
            cut += 1  # mid-line, as a broken transfer stops
        path.write_bytes(data[:cut])
    (out / MANIFEST_FILE).unlink(missing_ok=True)
    return out
