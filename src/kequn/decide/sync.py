"""The operational store's copy of the latest run: the organisation, the staff,
the product shelf and every customer's slim card (personal fields, tier, AUM,
health, segments: what lists, scopes and the floor read), with the holdings
and recent timeline the customer 360 shows. The rest of what the run knows
about a customer (the profile, consent state, recommendations, carbon) stays
in the run's file and is read from there (``kequn.store.cards``).

A card is written only when its content changed since the last sync: each card
carries a digest of what it holds, the night's cards are compared with the
store's digests inside DuckDB, and only the new and changed ones travel (on
PostgreSQL with COPY). A night on an unchanged bank writes no card.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
from sqlalchemy import Connection, text

from kequn import warehouse
from kequn.contract.tables import CONSENT_PURPOSES
from kequn.pipeline.catalog import RunInfo
from kequn.playbook import LoadedPlaybook
from kequn.store.bulk import copy_from_duckdb, indexes_after, load_rows, update_column
from kequn.store.transfer import to_duckdb
from kequn.warehouse import SHARED

TIMELINE_TYPES = (
    "salary",
    "pension",
    "transfer_in",
    "transfer_out",
    "purchase",
    "redemption",
    "cash_deposit",
    "cash_withdrawal",
    "loan_repayment",
)
TIMELINE_MIN = 1000
TIMELINE_PER_CUSTOMER = 30
CARD_COLUMNS = [
    "customer_id",
    "home_branch_id",
    "owner_manager_id",
    "name",
    "id_number",
    "phone",
    "gender",
    "birth_date",
    "occupation",
    "tier",
    "prev_tier",
    "aum",
    "health_score",
    "risk_level",
    "lifecycle",
    "life_stage",
    "segments",
    "consent",
    "snapshot_id",
    "run_id",
    "updated_at",
    "card_hash",
    "holdings_hash",
    "timeline_hash",
]
STAFF_COLUMNS = [
    "manager_id",
    "name",
    "branch_id",
    "role",
    "capacity_phone",
    "capacity_visit",
    "capacity_wechat",
    "capacity_sms",
    "active",
]


def branch_paths(rows: list[tuple[Any, ...]]) -> dict[str, str]:
    parent = {r[0]: r[2] for r in rows}
    paths: dict[str, str] = {}

    def path(b: str, depth: int = 0) -> str:
        if b in paths:
            return paths[b]
        p = parent.get(b)
        out = (path(p, depth + 1) if p and p in parent and depth < 50 else "/") + f"{b}/"
        paths[b] = out
        return out

    for b in parent:
        path(b)
    return paths


@dataclass
class SyncPlan:
    """What the night's sync will write, worked out in DuckDB before anything is."""

    snapshot_schema: str
    run: RunInfo
    branches: list[tuple[Any, ...]]
    paths: dict[str, str]
    staff: list[tuple[Any, ...]]
    cards: int = 0
    changed: int = 0
    first_fill: bool = False
    moment: datetime | None = None
    left: list[str] = field(default_factory=list)  # on file, missing from tonight's run
    back: list[str] = field(default_factory=list)  # marked as left, in tonight's run again
    counts: dict[str, int] = field(default_factory=dict)


def _holdings_rows(s: str, only: str = "") -> str:
    """The positions the customer 360 shows (``only``: a SEMI JOIN limiting the customers)."""
    return f"""
        SELECT h.customer_id, h.account_id, h.product_id, d.name AS product_name, d.type AS product_type,
               d.asset_class, d.risk_level, h.balance, coalesce(h.currency, 'CNY') AS currency,
               h.maturity_date
        FROM {s}.holdings h {only} JOIN {s}.products d USING (product_id)"""


def _timeline_rows(s: str) -> str:
    """Each customer's latest sizeable money movements, for the customer 360."""
    return f"""
        SELECT customer_id, ts, type, amount, channel, coalesce(counterparty_bank, merchant_category) AS note,
               txn_id
        FROM {s}.transactions
        WHERE type IN ({", ".join(f"'{t}'" for t in TIMELINE_TYPES)}) AND abs(amount) >= {TIMELINE_MIN}
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY ts DESC, txn_id)
                <= {TIMELINE_PER_CUSTOMER}"""


def _consent_state(snapshot_schema: str) -> str:
    """Each customer's consent answers as a map, purpose -> {granted, ts} of the
    latest answer, in the purposes' order. One row per customer with a fixed
    set of aggregates (the contract's purposes, which ingest holds every row
    to), never a list: a list per customer took four times as long at
    1,000,000 customers and could not spill, so 2,000,000 did not fit 2 GB."""
    purposes = sorted(CONSENT_PURPOSES)
    answers = ", ".join(
        f"count(*) FILTER (WHERE purpose = '{p}') > 0 AS asked_{i}, "
        f"arg_max(granted, ts) FILTER (WHERE purpose = '{p}') AS granted_{i}, "
        f"max(ts) FILTER (WHERE purpose = '{p}') AS ts_{i}"
        for i, p in enumerate(purposes)
    )
    entries = ", ".join(
        f"CASE WHEN asked_{i} THEN {{'key': '{p}', 'value': {{'granted': granted_{i}, 'ts': ts_{i}}}}} END"
        for i, p in enumerate(purposes)
    )
    return f"""
        SELECT customer_id, map_from_entries(list_filter([{entries}], e -> e IS NOT NULL)) AS consent
        FROM (SELECT customer_id, {answers} FROM {snapshot_schema}.consents GROUP BY customer_id)"""


def _card_sql(snapshot_schema: str, run: RunInfo) -> str:
    """Tonight's slim card of every customer (``CARD_FIELDS``), the digests of
    the rows the store keeps for the customer 360 (the timeline's, of
    ``k_timeline``), and the digest of it all."""
    return f"""
        WITH
        -- the bank's latest answer per purpose (a purpose never asked is absent)
        state AS ({_consent_state(snapshot_schema)}),
        -- digests of exactly the rows the store keeps for the customer 360: a sum of
        -- the rows' hashes, as cheap as a count and blind to the rows' order
        held AS (
            SELECT customer_id, CAST(sum(hash(r.account_id, r.product_id, r.product_name, r.product_type,
                                              r.asset_class, r.risk_level, r.balance, r.currency,
                                              r.maturity_date)) AS VARCHAR) AS digest
            FROM ({_holdings_rows(snapshot_schema)}) r GROUP BY 1),
        moves AS (
            SELECT customer_id, CAST(sum(hash(r.txn_id, r.ts, r.type, r.amount, r.channel, r.note))
                                     AS VARCHAR) AS digest
            FROM k_timeline r GROUP BY 1)
        SELECT p.customer_id, p.home_branch_id, c.owner_manager_id, c.name, c.id_number, c.phone, c.gender,
               c.birth_date, c.occupation, p.tier, p.prev_tier, p.aum, p.health_score, p.risk_level,
               p.lifecycle, p.life_stage, p.segments, s.consent,
               coalesce(h.digest, '') AS held, coalesce(m.digest, '') AS moves,
               CAST(hash(p.home_branch_id, c.name, c.id_number, c.phone, c.gender, c.birth_date,
                         c.occupation, p.tier, p.prev_tier, p.aum, p.health_score, p.risk_level,
                         p.lifecycle, p.life_stage, p.segments, s.consent, h.digest, m.digest) AS VARCHAR)
                   AS card_hash
        FROM {run.schema}.profiles p
        JOIN {snapshot_schema}.customers c USING (customer_id)
        LEFT JOIN state s USING (customer_id)
        LEFT JOIN held h USING (customer_id)
        LEFT JOIN moves m USING (customer_id)"""


def _card_rows_sql(run: RunInfo, moment: datetime) -> str:
    """The changed cards as the store keeps them (``k_cards`` SEMI JOIN
    ``k_cards_changed``), each with tonight's owner (``k_owner``): a new card
    comes with it, where updating a million new cards after their copy took
    longer than the copy; an upsert leaves a known card's owner as it is."""
    return f"""
        SELECT k.customer_id, k.home_branch_id, o.manager_id, k.name, k.id_number, k.phone, k.gender,
               k.birth_date, k.occupation, k.tier, k.prev_tier, k.aum, k.health_score, k.risk_level,
               k.lifecycle, k.life_stage, to_json(k.segments), to_json(k.consent), '{run.snapshot_id}',
               '{run.run_id}',
               TIMESTAMPTZ '{moment.isoformat()}', k.card_hash, k.held, k.moves
        FROM k_cards k SEMI JOIN k_cards_changed c USING (customer_id)
        LEFT JOIN k_owner o USING (customer_id)
        ORDER BY k.customer_id"""


def plan_sync(
    duck: duckdb.DuckDBPyConnection,
    con: Connection,
    snapshot_schema: str,
    run: RunInfo,
    pb: LoadedPlaybook,
    moment: datetime,
) -> SyncPlan:
    """Builds tonight's cards in DuckDB (``k_cards``) and finds those the store does
    not hold as they are (``k_cards_changed``), without writing anything. The
    store's cards as they are, owners included, stay in ``k_ops_cards``."""
    branches = duck.execute(
        f"SELECT branch_id, name, parent_id, level, city FROM {snapshot_schema}.branches"
    ).fetchall()
    staff = duck.execute(f"""
        SELECT manager_id, name, branch_id, role, coalesce(capacity_phone, 0),
               coalesce(capacity_visit, 0), coalesce(capacity_wechat, 0),
               coalesce(capacity_sms, 0), coalesce(active, TRUE)
        FROM {snapshot_schema}.managers""").fetchall()
    plan = SyncPlan(snapshot_schema, run, branches, branch_paths(branches), staff)
    # what ``apply_sync`` reads is shared: it may write beside the funnel, from a
    # thread and a DuckDB connection of its own
    warehouse.share(duck)
    # every customer's timeline rows, found once: the digests and the copy read them
    duck.execute(f"CREATE OR REPLACE TABLE {SHARED}.k_timeline AS {_timeline_rows(snapshot_schema)}")
    duck.execute(f"CREATE OR REPLACE TABLE {SHARED}.k_cards AS {_card_sql(snapshot_schema, run)}")
    plan.moment = moment
    to_duckdb(
        con,
        duck,
        "k_ops_cards",
        "SELECT customer_id, card_hash, holdings_hash, timeline_hash, left_on IS NOT NULL, owner_manager_id "
        "FROM customers",
        {
            "customer_id": "VARCHAR",
            "card_hash": "VARCHAR",
            "holdings_hash": "VARCHAR",
            "timeline_hash": "VARCHAR",
            "gone": "BOOLEAN",
            "owner_manager_id": "VARCHAR",
        },
    )
    duck.execute(f"""
        CREATE OR REPLACE TABLE {SHARED}.k_cards_changed AS
        SELECT c.customer_id, o.customer_id IS NULL AS new,
               o.holdings_hash IS DISTINCT FROM c.held AS holdings_changed,
               o.timeline_hash IS DISTINCT FROM c.moves AS timeline_changed
        FROM k_cards c
        LEFT JOIN k_ops_cards o USING (customer_id)
        WHERE o.customer_id IS NULL OR o.card_hash IS DISTINCT FROM c.card_hash""")
    # who left tonight (on file, not in the run) and who came back
    plan.left = [
        r[0]
        for r in duck.execute("""
            SELECT o.customer_id FROM k_ops_cards o ANTI JOIN k_cards c USING (customer_id)
            WHERE NOT o.gone ORDER BY 1""").fetchall()
    ]
    plan.back = [
        r[0]
        for r in duck.execute("""
            SELECT o.customer_id FROM k_ops_cards o SEMI JOIN k_cards c USING (customer_id)
            WHERE o.gone ORDER BY 1""").fetchall()
    ]
    row = duck.execute(
        "SELECT (SELECT count(*) FROM k_cards), (SELECT count(*) FROM k_cards_changed), "
        "(SELECT count(*) FROM k_ops_cards)"
    ).fetchone()
    assert row is not None
    plan.cards, plan.changed, plan.first_fill = int(row[0]), int(row[1]), int(row[2]) == 0
    return plan


def apply_sync(
    duck: duckdb.DuckDBPyConnection, con: Connection, plan: SyncPlan, pb: LoadedPlaybook
) -> dict[str, int]:
    """Writes the plan inside the caller's transaction on ``con``."""
    counts: dict[str, int] = {}
    paths = plan.paths
    counts["branches"] = load_rows(
        con,
        "branches",
        ["branch_id", "name", "parent_id", "level", "city", "path"],
        [(*b, paths[b[0]]) for b in plan.branches],
        ["branch_id"],
        ["name", "parent_id", "level", "city", "path"],
    )
    counts["staff"] = load_rows(con, "staff", STAFF_COLUMNS, plan.staff, ["manager_id"], STAFF_COLUMNS[1:])
    with indexes_after(con, ["customers", "customer_holdings", "customer_timeline"]):
        _copy_cards(duck, con, plan, counts)
    # a customer missing from the extract has left: their card stays as it last was
    counts["left"] = update_column(
        con, "customers", "customer_id", "left_on", [(c, plan.run.as_of) for c in plan.left]
    )
    counts["back"] = update_column(con, "customers", "customer_id", "left_on", [(c, None) for c in plan.back])
    counts["branch_kpis"] = _branch_figures(duck, con, plan.snapshot_schema, plan.run, paths, pb)
    counts["kept_erased"] = _keep_privacy_decisions(con)
    return counts


def _copy_cards(
    duck: duckdb.DuckDBPyConnection, con: Connection, plan: SyncPlan, counts: dict[str, int]
) -> None:
    """The changed cards, the products, and the holdings and timeline that changed with them."""
    assert plan.moment is not None, "a plan is made by plan_sync"
    changed = _card_rows_sql(plan.run, plan.moment)
    # the owner is Kequn's to manage once a customer is on file: not overwritten
    counts["cards"] = copy_from_duckdb(
        duck,
        changed,
        con,
        "customers",
        CARD_COLUMNS,
        upsert_key=None if plan.first_fill else ["customer_id"],
        update=[c for c in CARD_COLUMNS if c not in ("customer_id", "owner_manager_id")],
    )
    s = plan.snapshot_schema
    counts["products"] = copy_from_duckdb(
        duck,
        f"""SELECT product_id, name, type, risk_level, asset_class, coalesce(is_pension, FALSE),
                   CAST(fee_rate AS DOUBLE) FROM {s}.products""",
        con,
        "products",
        ["product_id", "name", "type", "risk_level", "asset_class", "is_pension", "fee_rate"],
        replace=True,
    )
    # a changed card brings its holdings and its timeline with it when they changed too
    rows_changed = {"customer_holdings": "holdings_changed", "customer_timeline": "timeline_changed"}
    if not plan.first_fill and plan.changed:
        for table, flag in rows_changed.items():
            ids = duck.execute(f"SELECT customer_id FROM k_cards_changed WHERE NOT new AND {flag}").fetchall()
            _delete_for(con, table, [r[0] for r in ids])

    def only(flag: str) -> str:
        return f"SEMI JOIN (SELECT customer_id FROM k_cards_changed WHERE {flag}) USING (customer_id)"

    counts["holdings"] = copy_from_duckdb(
        duck,
        f"""SELECT * FROM ({_holdings_rows(s, only("holdings_changed"))}) ORDER BY customer_id, account_id""",
        con,
        "customer_holdings",
        [
            "customer_id",
            "account_id",
            "product_id",
            "product_name",
            "product_type",
            "asset_class",
            "risk_level",
            "balance",
            "currency",
            "maturity_date",
        ],
    )
    counts["timeline"] = copy_from_duckdb(
        duck,
        f"""SELECT customer_id, ts, type, amount, channel, note FROM k_timeline {only("timeline_changed")}""",
        con,
        "customer_timeline",
        ["customer_id", "at", "kind", "amount", "channel", "note"],
    )


def _delete_for(con: Connection, table: str, ids: list[str]) -> None:
    """Removes the rows of ``table`` (holdings or timeline) of ``ids``, whose rows changed."""
    if not ids:
        return
    if con.dialect.name == "postgresql":
        raw = con.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS _changed (customer_id text) ON COMMIT DROP")
            cur.execute("TRUNCATE _changed")
            with cur.copy("COPY _changed (customer_id) FROM STDIN") as copy:
                for c in ids:
                    copy.write_row((c,))
            cur.execute(f"DELETE FROM {table} t USING _changed c WHERE t.customer_id = c.customer_id")
        return
    cur = con.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS _changed (customer_id TEXT PRIMARY KEY)")
    cur.execute("DELETE FROM _changed")
    cur.executemany("INSERT INTO _changed VALUES (?)", [(c,) for c in ids])
    cur.execute(f"DELETE FROM {table} WHERE customer_id IN (SELECT customer_id FROM _changed)")
    cur.close()


def _keep_privacy_decisions(con: Connection) -> int:
    """A fresh card from the extract must not undo what a data-subject request did:
    erased customers stay erased, corrected fields stay corrected."""
    erased = con.execute(
        text("""
        UPDATE customers SET name = NULL, id_number = NULL, phone = NULL, birth_date = NULL
        WHERE customer_id IN (SELECT customer_id FROM erasures) AND (name IS NOT NULL OR
              id_number IS NOT NULL OR phone IS NOT NULL OR birth_date IS NOT NULL)""")
    ).rowcount
    con.execute(
        text("""
        UPDATE customer_timeline SET note = NULL
        WHERE note IS NOT NULL AND customer_id IN (SELECT customer_id FROM erasures)""")
    )
    corrections = con.execute(
        text("""
        SELECT customer_id, payload FROM subject_requests
        WHERE kind = 'correction' AND status = 'done' ORDER BY closed_at""")
    ).all()
    for customer_id, payload in corrections:
        body = json.loads(payload) if isinstance(payload, str) else payload
        if body.get("field") in ("name", "phone"):
            con.execute(
                text(f"UPDATE customers SET {body['field']} = :v WHERE customer_id = :c"),
                {"v": body["value"], "c": customer_id},
            )
    return int(erased or 0)


def _branch_figures(
    duck: duckdb.DuckDBPyConnection,
    con: Connection,
    snapshot_schema: str,
    run: RunInfo,
    paths: dict[str, str],
    pb: LoadedPlaybook,
) -> int:
    """Each unit's figures from the run, its subtree included: customers, tiers and
    moves, AUM, deposits against the year's first snapshot (the appraisal base),
    health, the share above 5万, diagnoses due, payroll money kept."""
    base = duck.execute(
        "SELECT schema_name FROM kequn_snapshots WHERE year(as_of) = ? ORDER BY as_of LIMIT 1",
        [run.as_of.year],
    ).fetchone()
    base_schema = base[0] if base else snapshot_schema
    warehouse.attach(duck, None, [base_schema])
    due_tiers = [t.name for t in pb.playbook.tiers.ladder if t.diagnoses_per_year > 0]
    months = pb.playbook.window_months
    units = duck.execute(f"""
        WITH base AS (
            SELECT c.home_branch_id, sum(h.balance) AS deposits
            FROM {base_schema}.holdings h JOIN {base_schema}.products d USING (product_id)
            JOIN {base_schema}.customers c USING (customer_id)
            WHERE d.type IN ('demand_deposit', 'time_deposit', 'large_cd') GROUP BY 1),
        now AS (
            SELECT home_branch_id, count(*) AS customers, sum(aum) AS aum,
                   sum(deposits) AS deposits, avg(health_score) AS health,
                   count(*) FILTER (WHERE aum >= 50000) AS above_5wan,
                   count(*) FILTER (WHERE tier_move = 'up') AS moved_up,
                   count(*) FILTER (WHERE tier_move = 'down') AS moved_down,
                   count(*) FILTER (WHERE tier IN ({", ".join(f"'{t}'" for t in due_tiers) or "''"}))
                       AS diagnoses_due,
                   -- payroll kept: of each payroll customer's salary, what did not
                   -- leave for another bank in their own name
                   coalesce(sum(salary_monthly * {months}) FILTER (WHERE salary_monthly > 0), 0)
                       AS salary_in,
                   coalesce(sum(least(coalesce(same_name_out, 0), salary_monthly * {months}))
                       FILTER (WHERE salary_monthly > 0), 0) AS same_name_out,
                   histogram(tier) AS tiers
            FROM {run.schema}.profiles GROUP BY 1)
        SELECT n.*, coalesce(b.deposits, 0) AS deposits_base
        FROM now n LEFT JOIN base b USING (home_branch_id)
        -- summed below in this order: a float sum's last digits follow it
        ORDER BY home_branch_id""").df()
    totals: dict[str, dict[str, Any]] = {}
    for row in units.to_dict("records"):
        for unit in [u for u in paths.get(row["home_branch_id"], "").strip("/").split("/") if u]:
            t = totals.setdefault(
                unit,
                {
                    "customers": 0,
                    "aum": 0.0,
                    "deposits": 0.0,
                    "deposits_base": 0.0,
                    "health_sum": 0.0,
                    "above_5wan": 0,
                    "moved_up": 0,
                    "moved_down": 0,
                    "diagnoses_due": 0,
                    "salary_in": 0.0,
                    "same_name_out": 0.0,
                    "tiers": {},
                },
            )
            n = int(row["customers"])
            t["customers"] += n
            for k in ("aum", "deposits", "deposits_base", "salary_in", "same_name_out"):
                t[k] += float(row[k] or 0)
            t["health_sum"] += float(row["health"] or 0) * n
            for k in ("above_5wan", "moved_up", "moved_down", "diagnoses_due"):
                t[k] += int(row[k])
            for tier, count in (row["tiers"] or {}).items():
                t["tiers"][tier] = t["tiers"].get(tier, 0) + int(count)
    rows = []
    for unit, t in totals.items():
        t["health"] = round(t.pop("health_sum") / t["customers"], 1) if t["customers"] else 0
        t["payroll_retained"] = round(1 - t["same_name_out"] / t["salary_in"], 3) if t["salary_in"] else None
        rows.append((unit, run.as_of, {k: _figure(v) for k, v in t.items()}))
    con.execute(text("DELETE FROM branch_kpis WHERE as_of = :d"), {"d": run.as_of})
    return load_rows(con, "branch_kpis", ["branch_id", "as_of", "figures"], rows)


def _figure(value: Any) -> Any:
    """A figure as JSON takes it: rounded, and no NaN (PostgreSQL refuses it)."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 2)
    return value
