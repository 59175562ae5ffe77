"""A customer's facts as a run holds them: the profile (with the counts of
their green ledger) and the recommendations, read one customer at a time (the
customer 360, a real-time event, a referral, a data-subject's copy).

The facts stay where the run wrote them. The operational store keeps a slim
card per customer (who, tier, AUM, owner, the bank's consents); what a night
computes about every customer is a few kilobytes each, and writing it all
again into the operational store every night cost more than the decisions
themselves. The run indexes its profiles and its recommendations' picks on
``customer_id`` (the picks in customer order), with the products they name and
the few product fields suitability reads beside them (``shelf``), so that one
customer is found in the run's file alone without reading the others.

``CardFacts`` attaches each run file it reads once per process, read-only, and
gives each thread a cursor of its own. Run files are written once and never changed after they are published
(an erasure rewrites snapshots, whose personal fields a run does not copy), so
holding them open blocks no writer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from kequn import warehouse
from kequn.core.errors import KequnError
from kequn.ingest.sql import literal
from kequn.pipeline.inputs import fround_value
from kequn.pipeline.reasons import PICKS, PRODUCTS, reasons_value, rules_value
from kequn.playbook import LoadedPlaybook

SHELF = "shelf"
#: the run's tables with several rows per customer, written in customer order
#: so that one customer's rows lie together
IN_CUSTOMER_ORDER = {PICKS: "customer_id, rank"}


def shelf_sql(snapshot_schema: str) -> str:
    """What suitability reads of each product beside a recommendation, kept in
    the run so that a card is read from the run's file alone."""
    return f"""
        SELECT product_id, liquidity = 'closed' AS closed, coalesce(on_sale, TRUE) AS on_sale,
               coalesce(term_days, lockup_days) AS term_days
        FROM {snapshot_schema}.products"""


#: what a card holds of each of the customer's recommendations (with the shelf's facts)
RECOMMENDATION_FIELDS = (
    "product_id",
    "product_name",
    "asset_class",
    "rank",
    "expected_return",
    "product_type",
    "product_risk",
    "is_pension",
    "dual_recording",
    "reasons",
    "rules_passed",
    "gap_amount",
)

#: what a card reads of each pick, and of each product a pick names (the
#: run's tables ``reasons.PICKS`` and ``reasons.PRODUCTS``)
PICK_FIELDS = (
    "product_id",
    "rank",
    "gap_amount",
    "popularity_share",
    "assessed_risk_level",
    "dual_recording",
)
PRODUCT_FIELDS = (
    "product_id",
    "product_name",
    "product_type",
    "asset_class",
    "product_risk",
    "expected_return",
    "is_pension",
    "closed",
)

CONTACT_HISTORY = "contact_history"
#: how far back a contact still counts in a customer's history
HISTORY_DAYS = 365


def attribute_columns(con: duckdb.DuckDBPyConnection, snapshot_schema: str, taken: set[str]) -> list[str]:
    """The bank's own customer attributes in the snapshot (columns beyond the
    contract), but for any whose name a profile column already has."""
    from kequn.contract import TABLES

    contract = set(TABLES["customers"].column_names)
    cols = [r[0] for r in con.execute(f"DESCRIBE {snapshot_schema}.customers").fetchall()]
    return [c for c in cols if c not in contract and c not in taken]


ATTRIBUTES = "attributes"


def attributes_sql(attributes: list[str], declared: dict[str, dict[str, str]]) -> str:
    """The run's table of the bank's own attributes beside its profiles: name,
    type and label (``declared``: the snapshot's report of them)."""
    rows = [
        (a, declared.get(a, {}).get("type", "str"), declared.get(a, {}).get("label") or a) for a in attributes
    ]
    if not rows:
        return "SELECT NULL::VARCHAR AS name, NULL::VARCHAR AS type, NULL::VARCHAR AS label LIMIT 0"
    values = ", ".join("(" + ", ".join(literal(v) for v in r) + ")" for r in rows)
    return f"SELECT * FROM (VALUES {values}) v(name, type, label)"


CARBON_BEHAVIOURS = "carbon_behaviours"
#: the table runs wrote their green ledger into, one line per customer and
#: behaviour, before the profile held the counts (still read in those runs)
OLD_CARBON_LEDGER = "carbon_ledger"


def carbon_behaviours_sql(pb: LoadedPlaybook) -> str:
    """The run's low-carbon behaviours as its playbook weighs them (a customer's
    ledger is their counts on the profile times these): in playbook order."""

    rows = [
        f"({i}, {literal(b.name)}, {literal(b.zh)}, {float(b.grams)!r}::DOUBLE, {int(b.points)}::BIGINT)"
        for i, b in enumerate(pb.playbook.carbon.behaviours)
    ]
    return f"SELECT * FROM (VALUES {', '.join(rows)}) v(ordinal, behaviour, behaviour_zh, grams, points)"


Behaviours = list[tuple[str, str, float, int]]


def green_ledger(profile: dict[str, Any], behaviours: Behaviours) -> list[dict[str, Any]]:
    """A customer's green ledger: a line for each behaviour seen, its grams and
    points by the run's weights, the most points first; the grams rounded to
    0.1 g as the run rounds them."""
    lines = []
    for name, zh, grams, points in behaviours:
        times = int(profile.get(f"carbon_{name}") or 0)
        if times > 0:
            lines.append(
                {
                    "behaviour": name,
                    "behaviour_zh": zh,
                    "times": times,
                    "grams": fround_value(times * grams, 1),
                    "points": times * points,
                }
            )
    return sorted(lines, key=lambda line: -line["points"])


def contact_history_sql(con: duckdb.DuckDBPyConnection, snapshot_schema: str, as_of: object) -> str:
    """The bank's own past contacts of the last year (the run's copy, in customer
    order: what a one-customer decision reads of a customer's history)."""
    if not warehouse.has_table(con, snapshot_schema, "contacts"):
        return (
            "SELECT NULL::VARCHAR AS customer_id, NULL::TIMESTAMPTZ AS ts, NULL::VARCHAR AS campaign, "
            "NULL::VARCHAR AS outcome LIMIT 0"
        )
    return f"""
        SELECT customer_id, ts, coalesce(campaign_id, action) AS campaign, outcome
        FROM {snapshot_schema}.contacts
        WHERE ts >= TIMESTAMPTZ '{as_of} 00:00:00+08' - INTERVAL {HISTORY_DAYS} DAY
        ORDER BY customer_id, ts"""


def index_run(con: duckdb.DuckDBPyConnection, run_schema: str) -> None:
    """Indexes what a card reads on ``customer_id`` (in the run file being
    written): one customer's profile and recommendations are then
    found without reading the others' (the customer's page and every event read
    them; at 250,000 customers the index halves each lookup)."""
    con.execute(f"CREATE INDEX ix_profiles_customer ON {run_schema}.profiles (customer_id)")
    # the recommendations view reads its picks through this index
    con.execute(f"CREATE INDEX ix_recommendations_customer ON {run_schema}.{PICKS} (customer_id)")


def _profile_columns(con: duckdb.DuckDBPyConnection, db: str) -> list[str]:
    """The profile's columns a card shows: every one but the segment flags,
    which the card holds as its list of segments."""
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = 'profiles' "
            "ORDER BY column_index",
            [db],
        ).fetchall()
    ]
    return [c for c in cols if not c.startswith("seg_")]


def _of_customers(customer_ids: Sequence[str]) -> tuple[str, list[Any]]:
    """The WHERE clause of a read of some customers' rows, and its arguments: one
    customer an equality, several a list of parameters. DuckDB answers either
    through the customer index at any length; a list passed as one parameter
    (``IN (SELECT unnest(?))``) became a scan of every profile from 64 customers
    on (100 customers of a 1,000,000-customer run: 50 ms by the list, 510 ms by
    the scan)."""
    if len(customer_ids) == 1:
        return "WHERE customer_id = ?", [customer_ids[0]]
    return f"WHERE customer_id IN ({', '.join('?' * len(customer_ids))})", list(customer_ids)


class _RunFile:
    """One run file, attached once to the process's DuckDB as ``alias``: the SQL
    a card reads from it, written once. Queries go through the caller's cursor."""

    def __init__(self, con: duckdb.DuckDBPyConnection, alias: str, run_path: Path) -> None:
        self.alias, self.path = alias, run_path
        self._attributes: dict[str, str] | None = None
        con.execute(f"ATTACH '{run_path}' AS {alias} (READ_ONLY)")
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [alias]
            ).fetchall()
        }
        self.tables = tables
        a = alias
        self.profile_columns = _profile_columns(con, a)
        self.profile_sql = self._profile_sql(self.profile_columns)
        self._narrow: dict[frozenset[str], str] = {}
        # what suitability reads of each product beside a recommendation, read
        # once per run file (a few hundred products) rather than joined on every
        # card; a run written before it kept its shelf leaves them unknown
        self.shelf: dict[str, tuple[Any, Any, Any]] = {}
        if SHELF in tables:
            self.shelf = {
                pid: (closed, on_sale, term_days)
                for pid, closed, on_sale, term_days in con.execute(
                    f"SELECT product_id, closed, on_sale, term_days FROM {a}.shelf"
                ).fetchall()
            }
        # a run keeps its picks and the products they name, which its view
        # ``recommendations`` words; a card reads its customer's picks by the
        # index and words them itself (through the view, planning its words:
        # 3.4 ms a customer rather than 0.4 ms at 1,000,000 customers). A run
        # written before kept the worded rows
        self.products: dict[str, tuple[Any, ...]] | None = None
        if PICKS in tables:
            read = f"SELECT {', '.join(PRODUCT_FIELDS)} FROM {a}.{PRODUCTS}"
            self.products = {pid: tuple(rest) for pid, *rest in con.execute(read).fetchall()}
            self.recs_sql = f"SELECT customer_id, {', '.join(PICK_FIELDS)} FROM {a}.{PICKS}"
        else:
            self.recs_sql = f"SELECT customer_id, {', '.join(RECOMMENDATION_FIELDS)} FROM {a}.recommendations"
        self.history_sql = (
            f"SELECT customer_id, ts, campaign, outcome FROM {a}.{CONTACT_HISTORY}"
            if CONTACT_HISTORY in tables
            else None
        )
        self.behaviours: Behaviours | None = None
        self.carbon_sql: str | None = None
        if CARBON_BEHAVIOURS in tables:
            self.behaviours = [
                (name, zh, float(grams), int(points))
                for name, zh, grams, points in con.execute(
                    "SELECT behaviour, behaviour_zh, grams, points "
                    f"FROM {a}.{CARBON_BEHAVIOURS} ORDER BY ordinal"
                ).fetchall()
            ]
        elif OLD_CARBON_LEDGER in tables:
            self.carbon_sql = f"""
                SELECT customer_id, to_json({{'behaviour': behaviour, 'behaviour_zh': behaviour_zh,
                    'times': times, 'grams': grams, 'points': points}})::VARCHAR
                FROM {a}.{OLD_CARBON_LEDGER}"""

    def _profile_sql(self, columns: Sequence[str]) -> str:
        cols = ", ".join(f'"{c}"' for c in columns)
        return f"SELECT customer_id, to_json(struct_pack({cols}))::VARCHAR FROM {self.alias}.profiles"

    def facts(
        self,
        cur: duckdb.DuckDBPyConnection,
        customer_ids: Sequence[str],
        columns: frozenset[str] | None = None,
        ledger: bool = False,
        recs: bool = True,
    ) -> dict[str, dict[str, Any]]:
        """Each customer's facts; ``columns``: only these of the profile, with the
        recommendations (``recs`` False: the profile's columns alone), and the
        green ledger only if ``ledger`` (a decision reads a few dozen of a
        profile's hundred and more columns, a page a few more, and each column
        of a row found through the index costs alike: 1.9 ms for all 146 at
        1,000,000 customers, 0.2 ms for one)."""
        if not customer_ids:
            return {}
        if columns is None:
            ledger = True
        elif ledger and self.behaviours is not None:
            # the ledger is counted from the behaviours' columns of this run
            columns = columns | {f"carbon_{name}" for name, *_ in self.behaviours}
        profile_sql = self.profile_sql
        if columns is not None:
            profile_sql = self._narrow.get(columns) or self._narrow.setdefault(
                columns, self._profile_sql([c for c in self.profile_columns if c in columns])
            )
        out: dict[str, dict[str, Any]] = {}
        where, arg = _of_customers(customer_ids)
        for cid, text in cur.execute(f"{profile_sql} {where}", arg).fetchall():
            out[cid] = json.loads(text)
        if not recs:
            return out
        for f in out.values():
            f |= {"recs": [], "carbon": []} if ledger else {"recs": []}
        for cid, *values in cur.execute(f"{self.recs_sql} {where}", arg).fetchall():
            rec = self._recommendation(values)
            if cid in out and rec is not None:
                out[cid]["recs"].append(rec)
        for f in out.values():
            f["recs"].sort(key=lambda r: r.get("rank") or 0)
        if not ledger:
            return out
        if self.carbon_sql:
            for cid, text in cur.execute(f"{self.carbon_sql} {where}", arg).fetchall():
                if cid in out:
                    out[cid]["carbon"].append(json.loads(text))
        for f in out.values():
            if self.behaviours is not None:
                f["carbon"] = green_ledger(f, self.behaviours)
            else:
                f["carbon"].sort(key=lambda c: -(c.get("points") or 0))
        return out

    def _recommendation(self, values: Sequence[Any]) -> dict[str, Any] | None:
        """One recommendation as a card holds it: numbers as JSON would give them
        (an amount a float), the product's risk a number, its shelf facts beside
        (None for a pick of a product the run did not keep, which its view
        leaves out too)."""
        if self.products is None:
            rec: dict[str, Any] = dict(zip(RECOMMENDATION_FIELDS, values, strict=True))
        else:
            pick = dict(zip(PICK_FIELDS, values, strict=True))
            product = self.products.get(pick["product_id"])
            if product is None:
                return None
            name, kind, asset_class, risk, expected, pension, closed = product
            gap = float(pick["gap_amount"]) if pick["gap_amount"] is not None else None
            assessed = pick["assessed_risk_level"]
            rec = {
                "product_id": pick["product_id"],
                "product_name": name,
                "asset_class": asset_class,
                "rank": pick["rank"],
                "expected_return": expected,
                "product_type": kind,
                "product_risk": risk,
                "is_pension": pension,
                "dual_recording": pick["dual_recording"],
                "reasons": reasons_value(
                    asset_class, gap or 0.0, pick["popularity_share"], risk, assessed, pick["dual_recording"]
                ),
                "rules_passed": rules_value(assessed is not None, closed, pension),
                "gap_amount": gap,
            }
        rec = {name: float(v) if isinstance(v, Decimal) else v for name, v in rec.items()}
        risk = rec["product_risk"]
        rec["product_risk"] = int(risk[1:]) if isinstance(risk, str) and risk[1:].isdigit() else None
        rec["is_pension"] = bool(rec["is_pension"])
        rec["closed"], rec["on_sale"], rec["term_days"] = self.shelf.get(
            rec["product_id"], (None, None, None)
        )
        return rec

    def attributes(self, cur: duckdb.DuckDBPyConnection) -> dict[str, str]:
        """The bank's own attributes on the profile: name -> label (read once: a
        run file does not change once published, and every page asks)."""
        if self._attributes is None:
            found = {}
            if ATTRIBUTES in self.tables:
                found = dict(cur.execute(f"SELECT name, label FROM {self.alias}.{ATTRIBUTES}").fetchall())
            self._attributes = found
        return dict(self._attributes)

    def history(self, cur: duckdb.DuckDBPyConnection, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The customers' own past contacts the run keeps (the bank's, last year),
        each customer's in time order."""
        if self.history_sql is None or not customer_ids:
            return []
        where, arg = _of_customers(customer_ids)
        found = cur.execute(f"{self.history_sql} {where} ORDER BY customer_id, ts", arg)
        cols = [d[0] for d in found.description or []]
        return [dict(zip(cols, r, strict=True)) for r in found.fetchall()]


class CardFacts:
    """Facts of customers as one run of an analytical store holds them.

    One in-memory DuckDB per process attaches each run file once, so every
    thread shares its buffer cache (the profile index is read from disk once,
    not once per thread); each thread queries through a cursor of its own."""

    #: how long a run's file name is trusted before the catalog is read again
    REFRESH_SECONDS = 30.0
    #: run files kept attached: the latest and the one before (pages still reading it)
    KEEP = 2

    def __init__(self, store: Path | str) -> None:
        self.store = Path(store)
        self._local = threading.local()
        self._files: dict[str, tuple[float, Path]] = {}
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._runs: dict[str, _RunFile] = {}
        self._attached = 0

    def _path(self, name: str) -> Path:
        with self._lock:
            found = self._files.get(name)
            if found and time.monotonic() - found[0] < self.REFRESH_SECONDS and found[1].exists():
                return found[1]
        if not self.store.exists():
            raise KequnError(f"{self.store}: no analytical store there")
        con = warehouse.reader(self.store, [])
        try:
            listed = {a.name: a.file for a in warehouse.artifacts(con)}
        finally:
            con.close()
        if name not in listed:
            raise KequnError(f"{self.store}: no {name} in the store")
        path = warehouse.folder(self.store) / listed[name]
        with self._lock:
            self._files[name] = (time.monotonic(), path)
        return path

    def _run(self, run_schema: str) -> tuple[_RunFile, duckdb.DuckDBPyConnection]:
        """The run file (attached if it is not yet) and this thread's cursor."""
        path = self._path(run_schema)
        with self._lock:
            if self._con is None:
                self._con = duckdb.connect(":memory:")
                self._con.execute("SET GLOBAL TimeZone = 'UTC'")
                # a card is a few point lookups: one thread each (the server's own
                # threads are the parallelism; DuckDB's would only add hand-offs)
                self._con.execute("SET GLOBAL threads = 1")
            run = self._runs.get(run_schema)
            if run is None or run.path != path:
                self._attached += 1
                run = _RunFile(self._con, f"run{self._attached}", path)
                self._runs[run_schema] = run
                # older runs are let go; the one before the latest stays for pages
                # that began reading it before the night's run was published
                for old in list(self._runs)[: -self.KEEP]:
                    self._con.execute(f"DETACH {self._runs.pop(old).alias}")
            con = self._con
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None or getattr(self._local, "root", None) is not con:
            cur = con.cursor()
            self._local.cursor, self._local.root = cur, con
        return run, cur

    def facts(
        self,
        customer_ids: Iterable[str],
        run_schema: str,
        columns: frozenset[str] | None = None,
        ledger: bool = False,
        recs: bool = True,
    ) -> dict[str, dict[str, Any]]:
        """Each customer's facts (those the run does not know are absent);
        ``columns``: only these of the profile, ``ledger``: with the green
        ledger, ``recs``: with the recommendations (``_RunFile.facts``)."""
        ids = sorted(set(customer_ids))
        run, cur = self._run(run_schema)
        return run.facts(cur, ids, columns, ledger, recs)

    def history(self, customer_ids: Sequence[str], run_schema: str) -> list[dict[str, Any]]:
        run, cur = self._run(run_schema)
        return run.history(cur, customer_ids)

    def attributes(self, run_schema: str) -> dict[str, str]:
        run, cur = self._run(run_schema)
        return run.attributes(cur)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._runs = None, {}
        self._local = threading.local()
