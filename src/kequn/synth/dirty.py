"""Defects a real extract has, injected on purpose, with a manifest of each one.

Every dirty row carries exactly one defect, so the manifest names the one
reason the validator must give for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from kequn.contract import Table
from kequn.contract.idcard import CHECK_CHARS

DEFECTS: dict[str, tuple[str, ...]] = {
    "customers": (
        "bad_id_check_digit",
        "missing_required",
        "future_date",
        "orphan_foreign_key",
        "duplicate_key",
    ),
    "products": ("missing_required", "duplicate_key"),
    "holdings": (
        "negative_deposit_balance",
        "unknown_product_code",
        "unparseable_amount",
        "missing_required",
        "future_date",
        "orphan_foreign_key",
        "duplicate_key",
    ),
    "transactions": (
        "future_date",
        "unparseable_amount",
        "orphan_foreign_key",
        "missing_required",
        "duplicate_key",
    ),
    "consents": ("orphan_foreign_key", "future_date", "missing_required", "duplicate_key"),
}
GARBLED_AMOUNTS = ("12O.50", "N/A", "1.2.3", "#VALUE!", "--", "3,4oo.00", "壹佰元")


@dataclass(frozen=True, slots=True)
class Defect:
    table: str
    file: str
    line: int
    field: str
    value: str
    reason: str


def inject(
    rng: np.random.Generator,
    table: Table,
    batch: pa.Table,
    rate: float,
    as_of: date,
    file: str,
    first_line: int,
    deposit_rows: np.ndarray | None = None,
) -> tuple[pa.Table, list[Defect]]:
    """Returns the batch (all text) with defects, and what was injected where."""
    kinds = DEFECTS.get(table.name, ())
    n = batch.num_rows
    cols = {name: batch.column(name).to_pylist() for name in batch.column_names}
    k = int(rng.binomial(n, rate)) if kinds and n else 0
    picked = rng.choice(n, size=min(k, n), replace=False) if k else np.array([], dtype=int)
    assigned = rng.choice(kinds, size=len(picked)) if k else np.array([])
    taken = set(int(i) for i in picked)
    duplicate_after: set[int] = set()
    found: list[tuple[int, str, str, str]] = []  # row, field, value, reason

    for row, reason in zip(picked.tolist(), assigned.tolist(), strict=True):
        if reason == "negative_deposit_balance":
            if deposit_rows is None:
                continue
            free = [
                int(i)
                for i in np.flatnonzero(deposit_rows)
                if int(i) not in taken and cols["balance"][int(i)] not in (None, "0.00")
            ]
            if not free:
                continue
            taken.discard(row)
            row = free[int(rng.integers(0, len(free)))]
            taken.add(row)
            value = "-" + cols["balance"][row]
            cols["balance"][row] = value
            found.append((row, "balance", value, reason))
        elif reason == "bad_id_check_digit":
            old = cols["id_number"][row]
            if old is None:
                continue
            wrong = [ch for ch in CHECK_CHARS if ch != old[-1]]
            value = old[:-1] + wrong[int(rng.integers(0, len(wrong)))]
            cols["id_number"][row] = value
            found.append((row, "id_number", value, reason))
        elif reason == "missing_required":
            options = [c for c in table.required_columns if c not in table.primary_key]
            field = options[int(rng.integers(0, len(options)))]
            cols[field][row] = None
            found.append((row, field, "", reason))
        elif reason == "future_date":
            options = [c.name for c in table.columns if c.not_future and cols[c.name][row]]
            if not options:
                continue
            field = options[int(rng.integers(0, len(options)))]
            when = as_of + timedelta(days=int(rng.integers(30, 400)))
            value = (
                when.isoformat()
                if table.column(field).kind == "date"
                else (f"{when.isoformat()} {int(rng.integers(8, 20)):02d}:15:00")
            )
            cols[field][row] = value
            found.append((row, field, value, reason))
        elif reason == "orphan_foreign_key":
            fk = next(
                f
                for f in table.foreign_keys
                if f.reason == "orphan_foreign_key" and not f.optional_target and f.ref_table != table.name
            )
            field = fk.columns[0]
            old = cols[field][row]
            if old is None:
                continue
            value = f"{old}9"
            cols[field][row] = value
            found.append((row, field, value, reason))
        elif reason == "unknown_product_code":
            value = f"ZZ{int(rng.integers(0, 10_000)):04d}"
            cols["product_id"][row] = value
            found.append((row, "product_id", value, reason))
        elif reason == "unparseable_amount":
            field = next(c.name for c in table.columns if c.kind == "money" and c.required)
            value = GARBLED_AMOUNTS[int(rng.integers(0, len(GARBLED_AMOUNTS)))]
            cols[field][row] = value
            found.append((row, field, value, reason))
        elif reason == "duplicate_key":
            duplicate_after.add(row)

    order: list[int] = []
    copies: set[int] = set()
    for i in range(n):
        order.append(i)
        if i in duplicate_after:
            copies.add(len(order))
            order.append(i)
    line_of: dict[int, int] = {}
    for pos, src in enumerate(order):
        if pos not in copies:
            line_of.setdefault(src, first_line + pos)
    defects = [
        Defect(table.name, file, line_of[row], field, value, reason) for row, field, value, reason in found
    ]
    for pos in sorted(copies):
        src = order[pos]
        key = ",".join(str(cols[c][src]) for c in table.primary_key)
        defects.append(
            Defect(table.name, file, first_line + pos, ",".join(table.primary_key), key, "duplicate_key")
        )
    out = pa.table({name: pa.array([vals[i] for i in order], pa.string()) for name, vals in cols.items()})
    return out, sorted(defects, key=lambda d: d.line)
