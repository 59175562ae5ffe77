"""The next night's extract of the synthetic bank, derived from the previous one.

A bank's extract moves a little every night: a few customers join and a few
leave, balances move with the market and with the day's transactions, deposits
mature, employers pay salaries on their paydays, customers change their
consents, assessments are renewed, a manager leaves, and a handful of rows
arrive broken. ``next_night`` makes that night from the previous extract, the
way ``synthesize`` makes the first: deterministic for the bank's seed and the
night's number. ``night_defects.damage`` spoils a copy the way a real
transfer fails (a truncated file, a file that is late, a file with only its
header), so that a month of nights can test what ingest does with each.

The previous extract's own broken rows are appended after its clean rows
(``extract.json`` counts the clean ones), so the next night starts from the
clean state and never inherits them.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from kequn.contract import TABLES, Table
from kequn.contract.tables import CONSENT_PURPOSES
from kequn.synth.bank import EXTRACT_FILE, MANIFEST_FILE, window_start
from kequn.synth.flows import make_consents
from kequn.synth.money import make_holdings
from kequn.synth.night_defects import append_broken_rows
from kequn.synth.org import build_employers, build_org
from kequn.synth.people import make_customers
from kequn.synth.shelf import build_shelf
from kequn.synth.writer import to_arrow

TERM_TYPES = ("time_deposit", "large_cd", "wealth_product")
MARKET_TYPES = ("fund", "wealth_product", "precious_metal", "trust")


@dataclass(frozen=True)
class NightRates:
    """How much a night moves, as shares of customers (or accounts)."""

    joiners: float = 0.001
    leavers: float = 0.0005
    spenders: float = 0.08
    outflows: float = 0.002
    consent_changes: float = 0.002
    reassessments: float = 0.02
    renewals: float = 0.5  # of maturing deposits, the share renewed rather than paid out
    manager_leaves: float = 0.05  # chance a night has one manager leaving
    dirty_rows: int = 6


@dataclass
class NightResult:
    out: Path
    as_of: date
    night: int
    rows: dict[str, int] = field(default_factory=dict)
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    matured: int = 0
    paid_salaries: int = 0
    consent_changes: int = 0
    manager_left: str | None = None
    defects: int = 0
    #: the night's clean tables, still in memory when asked to be kept (``keep``)
    tables: duckdb.DuckDBPyConnection | None = field(default=None, repr=False, compare=False)


def _typed(column_kind: str) -> str:
    return {
        "int": "INTEGER",
        "money": "DECIMAL(18,2)",
        "rate": "DECIMAL(12,6)",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
        "bool": "BOOLEAN",
    }.get(column_kind, "VARCHAR")


def _load(con: duckdb.DuckDBPyConnection, previous: Path, meta: dict, table: Table) -> None:  # type: ignore[type-arg]
    path = previous / f"{table.name}.csv"
    casts = ", ".join(f'CAST("{c.name}" AS {_typed(c.kind)}) AS "{c.name}"' for c in table.columns)
    if not path.exists():
        cols = ", ".join(f'"{c.name}" {_typed(c.kind)}' for c in table.columns)
        con.execute(f"CREATE TABLE {table.name} ({cols})")
        return
    clean = int(meta.get("clean_rows", meta["rows"]).get(table.name, meta["rows"][table.name]))
    con.execute(
        f"""CREATE TABLE {table.name} AS SELECT {casts} FROM (
              SELECT * FROM read_csv(?, header = true, all_varchar = true, parallel = false,
                                     encoding = 'utf-8') LIMIT {clean})""",
        [str(path)],
    )


def _pick(rng: np.random.Generator, ids: list[str], share: float) -> list[str]:
    k = int(rng.binomial(len(ids), share)) if ids else 0
    return sorted(rng.choice(ids, size=k, replace=False).tolist()) if k else []


def _stamp(day: date, rng: np.random.Generator, lo: int, hi: int, n: int) -> list[datetime]:
    seconds = rng.integers(lo * 3600, hi * 3600, n)
    start = datetime.combine(day, time(0))
    return [start + timedelta(seconds=int(s)) for s in seconds]


class _Ledger:
    """The night's new transactions, and what they do to demand balances."""

    def __init__(self, first_id: int) -> None:
        self.rows: list[tuple[object, ...]] = []
        self.next_id = first_id

    def add(
        self,
        customer_id: str,
        account_id: str | None,
        ts: datetime,
        amount: float,
        kind: str,
        channel: str,
        counterparty_bank: str | None = None,
        same_name: bool | None = None,
        employer_id: str | None = None,
        mcc: str | None = None,
    ) -> None:
        self.rows.append(
            (
                f"T{self.next_id:012d}",
                customer_id,
                account_id,
                ts,
                round(amount, 2),
                "CNY",
                channel,
                kind,
                counterparty_bank,
                same_name,
                mcc,
                employer_id,
            )
        )
        self.next_id += 1


def next_night(
    previous: Path,
    out: Path,
    rates: NightRates | None = None,
    after: NightResult | None = None,
    keep: bool = False,
) -> NightResult:
    """Writes the night after ``previous`` into ``out`` (replacing it).

    Nights made one after another in one process need not read back the CSV just
    written: ``keep`` leaves the night's clean tables in memory on the result, and
    ``after`` (that result, for ``previous``) starts the next night from them. The
    files are the same either way (``tests/test_nightly.py``)."""
    rates = rates or NightRates()
    meta = json.loads((previous / EXTRACT_FILE).read_text(encoding="utf-8"))
    if meta.get("format", "csv") != "csv" or meta.get("encoding") not in (None, "utf-8"):
        raise ValueError(f"{previous}: the next night is derived from a UTF-8 CSV extract")
    if meta.get("dirty") and "clean_rows" not in meta:
        raise ValueError(f"{previous}: its broken rows are mixed in; derive nights from a clean extract")
    seed = int(meta["seed"])
    night = int(meta.get("night", 0)) + 1
    as_of = date.fromisoformat(meta["as_of"]) + timedelta(days=1)
    rng = np.random.default_rng([seed, 7000, night])
    if after is not None and after.tables is not None and after.out == previous:
        con, after.tables = after.tables, None
    else:
        con = duckdb.connect()
        con.execute("SET threads = 2")
        for table in TABLES.values():
            _load(con, previous, meta, table)
    result = NightResult(out, as_of, night)

    # the transactions' window slides with the night
    start = window_start(as_of, int(meta.get("months", 3)))
    con.execute("DELETE FROM transactions WHERE ts < ?", [datetime.combine(start, time(0))])

    customers = [r[0] for r in con.execute("SELECT customer_id FROM customers ORDER BY 1").fetchall()]
    result.left = _pick(rng, customers, rates.leavers)
    if result.left:
        con.execute("CREATE TEMP TABLE leavers AS SELECT unnest(?::VARCHAR[]) AS customer_id", [result.left])
        for name in ("consents", "transactions", "holdings", "customers"):
            con.execute(f"DELETE FROM {name} WHERE customer_id IN (SELECT customer_id FROM leavers)")
        customers = sorted(set(customers) - set(result.left))

    first_txn = con.execute(
        "SELECT coalesce(max(CAST(substr(txn_id, 2) AS BIGINT)), 0) + 1 FROM transactions "
        "WHERE regexp_matches(txn_id, '^T[0-9]+$')"
    ).fetchone()
    ledger = _Ledger(int(first_txn[0]) if first_txn else 1)
    demand = dict(
        con.execute("""
            SELECT h.customer_id, min(h.account_id) FROM holdings h JOIN products p USING (product_id)
            WHERE p.type = 'demand_deposit' GROUP BY 1""").fetchall()
    )

    # maturities: renewed for another term, or paid into the demand account
    maturing = con.execute(
        """SELECT h.account_id, h.customer_id, h.balance, coalesce(p.term_days, 365)
           FROM holdings h JOIN products p USING (product_id)
           WHERE p.type IN (SELECT unnest(?::VARCHAR[])) AND h.maturity_date <= ?
           ORDER BY h.account_id""",
        [list(TERM_TYPES), as_of],
    ).fetchall()
    renew = rng.random(len(maturing)) < rates.renewals
    for (account, customer, balance, term), again in zip(maturing, renew, strict=True):
        if again or customer not in demand:
            con.execute(
                "UPDATE holdings SET open_date = ?, maturity_date = ? WHERE account_id = ?",
                [as_of, as_of + timedelta(days=int(term)), account],
            )
            continue
        con.execute("DELETE FROM holdings WHERE account_id = ?", [account])
        ledger.add(
            customer, demand[customer], _stamp(as_of, rng, 8, 9, 1)[0], float(balance), "redemption", "auto"
        )
    result.matured = len(maturing)

    # market moves on what is not a deposit
    drift = float(rng.normal(0, 0.006))
    con.execute(
        f"""UPDATE holdings SET balance = greatest(0, round(
                balance * (1 + {drift}
                           + 0.01 * (CAST(hash(account_id || ?) % 200 AS INTEGER) - 100) / 100.0), 2))
            WHERE product_id IN (
                SELECT product_id FROM products WHERE type IN (SELECT unnest(?::VARCHAR[])))""",
        [str(night), list(MARKET_TYPES)],
    )

    # salaries on the employers' paydays (the month's last day for paydays past it)
    last_day = (as_of.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    payroll = con.execute(
        """WITH pay AS (
               SELECT customer_id, median(amount) AS amount FROM transactions
               WHERE type = 'salary' GROUP BY 1)
           SELECT c.customer_id, c.employer_id, coalesce(pay.amount, 6000)
           FROM customers c JOIN employers e USING (employer_id) LEFT JOIN pay USING (customer_id)
           WHERE coalesce(e.payroll_agreement, FALSE)
             AND (e.payday = ? OR (e.payday > ? AND ? = ?))
           ORDER BY 1""",
        [as_of.day, last_day.day, as_of.day, last_day.day],
    ).fetchall()
    for customer, employer, amount in payroll:
        if customer in demand:
            ts = _stamp(as_of, rng, 9, 11, 1)[0]
            ledger.add(customer, demand[customer], ts, float(amount), "salary", "auto", employer_id=employer)
    result.paid_salaries = len(payroll)
    pensions = con.execute(
        """SELECT customer_id, median(amount) FROM transactions WHERE type = 'pension'
           GROUP BY 1 HAVING mode(day(ts)) = ? ORDER BY 1""",
        [as_of.day],
    ).fetchall()
    for customer, amount in pensions:
        if customer in demand:
            ledger.add(
                customer, demand[customer], _stamp(as_of, rng, 8, 10, 1)[0], float(amount), "pension", "auto"
            )

    # everyday spending, and some money leaving for another bank in the customer's own name
    balances = dict(
        con.execute(
            "SELECT account_id, balance FROM holdings WHERE account_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(demand.values())],
        ).fetchall()
    )
    for customer in _pick(rng, customers, rates.spenders):
        account = demand.get(customer)
        if account is None or balances.get(account, 0) <= 100:
            continue
        amount = -min(float(balances[account]) * 0.5, float(rng.lognormal(5, 1)))
        kind = "card_spend" if rng.random() < 0.7 else "bill_payment"
        mcc = str(rng.choice(["5411", "5812", "5541", "4900", "5311"]))
        ts = _stamp(as_of, rng, 8, 22, 1)[0]
        ledger.add(
            customer, account, ts, amount, kind, "pos" if kind == "card_spend" else "mobile_app", mcc=mcc
        )
    rich = [c for c in customers if balances.get(demand.get(c, ""), 0) >= 50_000]
    for customer in _pick(rng, rich, rates.outflows * len(customers) / max(len(rich), 1)):
        account = demand[customer]
        amount = -round(float(balances[account]) * float(rng.uniform(0.3, 0.8)), 2)
        bank = str(rng.choice(["中国工商银行", "中国建设银行", "招商银行", "中国银行"]))
        ledger.add(
            customer,
            account,
            _stamp(as_of, rng, 9, 17, 1)[0],
            amount,
            "transfer_out",
            "mobile_app",
            bank,
            True,
        )

    if ledger.rows:
        frame = pa.table(
            {
                c.name: pa.array([r[i] for r in ledger.rows])
                for i, c in enumerate(TABLES["transactions"].columns)
            }
        )
        con.register("night_txns", frame)
        con.execute("INSERT INTO transactions SELECT * FROM night_txns")
        con.execute("""
            UPDATE holdings h SET balance = greatest(0, h.balance + d.amount)
            FROM (SELECT account_id, sum(amount) AS amount FROM night_txns
                  GROUP BY 1) d
            WHERE h.account_id = d.account_id""")
        con.unregister("night_txns")

    # the month's average daily balance takes in the night's balance
    if as_of.day == 1:
        con.execute("UPDATE holdings SET avg_daily_balance_month = balance")
    else:
        con.execute(
            f"""UPDATE holdings SET avg_daily_balance_month = round(
                    coalesce(avg_daily_balance_month, balance)
                    + (balance - coalesce(avg_daily_balance_month, balance)) / {as_of.day}, 2)"""
        )

    # consents changed today: mostly withdrawals, some grants
    changed = _pick(rng, customers, rates.consent_changes)
    if changed:
        purposes = rng.choice(list(CONSENT_PURPOSES[:4]), size=len(changed))
        latest = dict(
            ((c, p), g)
            for c, p, g in con.execute(
                """SELECT customer_id, purpose, arg_max(granted, ts) FROM consents
                   WHERE customer_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2""",
                [changed],
            ).fetchall()
        )
        rows = [
            (
                c,
                str(p),
                not latest.get((c, str(p)), False),
                ts,
                str(rng.choice(["mobile_app", "counter", "phone"])),
            )
            for c, p, ts in zip(changed, purposes, _stamp(as_of, rng, 9, 18, len(changed)), strict=True)
        ]
        con.executemany("INSERT INTO consents VALUES (?, ?, ?, ?, ?)", rows)
        result.consent_changes = len(rows)

    # expired assessments renewed at the counter
    expired = [
        r[0]
        for r in con.execute(
            "SELECT customer_id FROM customers WHERE risk_assessed_on < ? ORDER BY 1",
            [as_of - timedelta(days=365)],
        ).fetchall()
    ]
    renewed = _pick(rng, expired, rates.reassessments)
    if renewed:
        con.execute(
            "UPDATE customers SET risk_assessed_on = ? WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))",
            [as_of, renewed],
        )

    # a manager leaves now and then; their book waits for a successor
    if rng.random() < rates.manager_leaves:
        staff = [
            r[0]
            for r in con.execute(
                "SELECT manager_id FROM managers WHERE coalesce(active, TRUE) AND role IN "
                "('wealth_manager', 'remote_manager', 'service_manager') ORDER BY 1"
            ).fetchall()
        ]
        if len(staff) > 1:
            result.manager_left = str(rng.choice(staff))
            con.execute("UPDATE managers SET active = FALSE WHERE manager_id = ?", [result.manager_left])

    result.joined = _join(con, rng, meta, seed, as_of, rates.joiners, len(customers))
    _write(con, previous, out, meta, result, rng, rates.dirty_rows)
    if keep:
        # only the contract's tables go on: the night's working tables are its own
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            if name not in TABLES:
                con.execute(f"DROP TABLE {name}")
        result.tables = con
    else:
        con.close()
    return result


def _join(
    con: duckdb.DuckDBPyConnection,
    rng: np.random.Generator,
    meta: dict,  # type: ignore[type-arg]
    seed: int,
    as_of: date,
    share: float,
    n_customers: int,
) -> list[str]:
    """New customers who opened today, with their first accounts and consents."""
    k = int(rng.binomial(n_customers, share))
    if not k:
        return []
    top = con.execute(
        "SELECT max(CAST(substr(customer_id, 2) AS BIGINT)) FROM customers "
        "WHERE regexp_matches(customer_id, '^C[0-9]+$')"
    ).fetchone()
    first = int(top[0] if top and top[0] is not None else 0) + 1
    org = build_org(int(meta["customers"]), seed)
    employers = build_employers(int(meta["customers"]), seed, org)
    shelf = build_shelf(seed)
    cust = make_customers(np.random.default_rng([seed, 7001, first]), first, k, as_of, org, employers)
    opened = np.full(k, np.datetime64(as_of, "D"))
    cust.columns["open_date"] = opened
    cust.open_date = opened
    cust.columns["risk_assessed_on"] = np.where(cust.risk > 0, opened, np.datetime64("NaT"))
    hold = make_holdings(np.random.default_rng([seed, 7002, first]), cust, shelf, as_of, as_of)
    hold.columns["open_date"] = np.full(len(hold.columns["account_id"]), np.datetime64(as_of, "D"))
    consents = make_consents(np.random.default_rng([seed, 7003, first]), cust, as_of)
    for name, columns in (("customers", cust.columns), ("holdings", hold.columns), ("consents", consents)):
        batch = to_arrow(TABLES[name], columns, for_csv=True)
        con.register("joining", batch)
        names = ", ".join(f'"{c.name}"' for c in TABLES[name].columns)
        con.execute(f"INSERT INTO {name} ({names}) SELECT {names} FROM joining")
        con.unregister("joining")
    # a holding may mature only after it opened
    con.execute("UPDATE holdings SET maturity_date = NULL WHERE maturity_date < open_date")
    return [str(x) for x in cust.columns["customer_id"]]


def _write(
    con: duckdb.DuckDBPyConnection,
    previous: Path,
    out: Path,
    meta: dict,  # type: ignore[type-arg]
    result: NightResult,
    rng: np.random.Generator,
    dirty_rows: int,
) -> None:
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    clean: dict[str, int] = {}
    for name, table in TABLES.items():
        if name == "employers" and not (previous / "employers.csv").exists():
            continue
        order = ", ".join(f'"{c}"' for c in table.primary_key)
        # through Arrow's writer, as ``synthesize`` writes: the same quoting every night
        rows = con.execute(f"SELECT * FROM {name} ORDER BY {order}").to_arrow_table()
        with open(partial / f"{name}.csv", "wb") as fh:
            pacsv.write_csv(rows, fh)
        clean[name] = rows.num_rows
    defects = append_broken_rows(con, partial, clean, rng, dirty_rows, result.as_of)
    result.defects = len(defects)
    rows = dict(clean)
    for d in defects:
        rows[d[0]] += 1
    result.rows = rows
    meta = {
        **meta,
        "as_of": result.as_of.isoformat(),
        "window_start": window_start(result.as_of, int(meta.get("months", 3))).isoformat(),
        "night": result.night,
        "generator": "kequn synth --after",
        "rows": rows,
        "clean_rows": clean,
        "dirty": bool(defects),
    }
    (partial / EXTRACT_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if defects:
        with open(partial / MANIFEST_FILE, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["table", "file", "line", "field", "value", "reason"])
            w.writerows(defects)
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
