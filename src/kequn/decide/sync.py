"""Refreshing the operational store from the latest run: the organisation, the
staff and every customer's working card (profile facts, PII, consent state)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import duckdb
from sqlalchemy import select, text

from kequn import warehouse
from kequn.pipeline.catalog import RunInfo
from kequn.playbook import LoadedPlaybook
from kequn.store import Store
from kequn.store.bulk import copy_from_duckdb, load_rows
from kequn.store.models import Branch, Staff

#: profile columns every decision reads, whatever the playbook's rules name
BASE_FACTS = (
    "customer_id",
    "tier",
    "prev_tier",
    "tier_move",
    "aum",
    "aum_month_end",
    "age",
    "gender",
    "occupation",
    "life_stage",
    "lifecycle",
    "segments",
    "risk_level",
    "risk_valid",
    "risk_expires_in_days",
    "first_time_investor",
    "liquid_reserve_months",
    "health_score",
    "health_change",
    "next_tier_gap",
    "maturing_7d_amount",
    "next_maturity_days",
    "same_name_out",
    "same_name_out_7d",
    "large_transfer_7d",
    "fund_return",
    "days_to_payday",
    "gap_class",
    "salary_monthly",
    "fund_balance",
    "wealth_balance",
    "pension_balance",
    "home_branch_id",
)
PURPOSES = (
    "marketing_phone",
    "marketing_sms",
    "marketing_wechat",
    "personalised_recommendation",
    "third_party_sharing",
    "sensitive_processing",
)


def fact_columns(pb: LoadedPlaybook) -> list[str]:
    """Profile columns the trigger rules and action values read, plus the base."""
    used: set[str] = set(BASE_FACTS)
    for (section, _), expr in pb.expressions.items():
        if section in ("triggers", "actions"):
            used |= expr.columns
    return sorted(c for c in used if not c.startswith("event_"))


def branch_paths(rows: list[tuple[str, str, str | None, str, str | None]]) -> dict[str, str]:
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


def sync(
    duck: duckdb.DuckDBPyConnection,
    ops: Store,
    snapshot_schema: str,
    run: RunInfo,
    pb: LoadedPlaybook,
    now: datetime,
) -> dict[str, int]:
    """Copies organisation, staff and customer cards into the operational store."""
    counts: dict[str, int] = {}
    branches = duck.execute(
        f"SELECT branch_id, name, parent_id, level, city FROM {snapshot_schema}.branches"
    ).fetchall()
    paths = branch_paths(branches)
    staff = duck.execute(f"""
        SELECT manager_id, name, branch_id, role, coalesce(capacity_phone, 0),
               coalesce(capacity_visit, 0), coalesce(capacity_wechat, 0),
               coalesce(capacity_sms, 0), coalesce(active, TRUE)
        FROM {snapshot_schema}.managers""").fetchall()
    segs = ", ".join(f"seg_{x.name}" for x in pb.playbook.segments)
    consent = ", ".join(f"'{p}': max(granted) FILTER (WHERE purpose = '{p}' AND rn = 1)" for p in PURPOSES)
    card_query = f"""
        WITH latest AS (
            SELECT customer_id, purpose, granted,
                   row_number() OVER (PARTITION BY customer_id, purpose ORDER BY ts DESC) AS rn
            FROM {snapshot_schema}.consents),
        state AS (SELECT customer_id, {{{consent}}} AS consent FROM latest WHERE rn = 1
                  GROUP BY customer_id),
        recs AS (
            SELECT r.customer_id, list({{'product_id': r.product_id,
                    'product_name': r.product_name, 'asset_class': r.asset_class,
                    'rank': r.rank, 'expected_return': r.expected_return,
                    'is_pension': r.is_pension, 'dual_recording': r.dual_recording,
                    'term_days': coalesce(d.term_days, d.lockup_days), 'reasons': r.reasons,
                    'rules_passed': r.rules_passed, 'gap_amount': r.gap_amount}}
                    ORDER BY r.rank) AS recs
            FROM run_{run.run_id}.recommendations r
            JOIN {snapshot_schema}.products d USING (product_id) GROUP BY 1),
        carbon AS (
            SELECT customer_id, list({{'behaviour': behaviour, 'behaviour_zh': behaviour_zh,
                    'times': times, 'grams': grams, 'points': points}} ORDER BY points DESC)
                    AS carbon
            FROM run_{run.run_id}.carbon_ledger GROUP BY 1),
        prof AS (SELECT * EXCLUDE ({segs}) FROM run_{run.run_id}.profiles)
        SELECT p.customer_id, p.home_branch_id, c.owner_manager_id, c.name, c.id_number,
               c.phone, c.gender, c.birth_date, c.occupation, p.tier, p.prev_tier, p.aum,
               p.health_score, p.risk_level, p.lifecycle, p.life_stage, to_json(p.segments),
               json_merge_patch(to_json(p), to_json({{'consent': s.consent,
                   'recs': coalesce(rc.recs, []), 'carbon': coalesce(cb.carbon, [])}})),
               '{run.snapshot_id}', '{run.run_id}', TIMESTAMPTZ '{now.isoformat()}'
        FROM prof p
        JOIN {snapshot_schema}.customers c USING (customer_id)
        LEFT JOIN state s USING (customer_id)
        LEFT JOIN recs rc USING (customer_id)
        LEFT JOIN carbon cb USING (customer_id)
        ORDER BY p.customer_id"""
    with ops.engine.begin() as con:
        counts["branches"] = load_rows(
            con,
            "branches",
            ["branch_id", "name", "parent_id", "level", "city", "path"],
            [(*b, paths[b[0]]) for b in branches],
            ["branch_id"],
            ["name", "parent_id", "level", "city", "path"],
        )
        counts["staff"] = load_rows(
            con,
            "staff",
            [
                "manager_id",
                "name",
                "branch_id",
                "role",
                "capacity_phone",
                "capacity_visit",
                "capacity_wechat",
                "capacity_sms",
                "active",
            ],
            staff,
            ["manager_id"],
            [
                "name",
                "branch_id",
                "role",
                "capacity_phone",
                "capacity_visit",
                "capacity_wechat",
                "capacity_sms",
                "active",
            ],
        )
        columns = [
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
            "facts",
            "snapshot_id",
            "run_id",
            "updated_at",
        ]
        # the owner is Kequn's to manage once a customer is on file: not overwritten
        counts["customers"] = copy_from_duckdb(
            duck,
            card_query,
            con,
            "customers",
            columns,
            upsert_key=["customer_id"],
            update=[c for c in columns if c not in ("customer_id", "owner_manager_id")],
        )
        counts["products"] = copy_from_duckdb(
            duck,
            f"""
            SELECT product_id, name, type, risk_level, asset_class,
                   coalesce(is_pension, FALSE), CAST(fee_rate AS DOUBLE)
            FROM {snapshot_schema}.products""",
            con,
            "products",
            ["product_id", "name", "type", "risk_level", "asset_class", "is_pension", "fee_rate"],
            replace=True,
        )
        counts["holdings"] = copy_from_duckdb(
            duck,
            f"""
            SELECT h.customer_id, h.account_id, h.product_id, d.name, d.type, d.asset_class,
                   d.risk_level, h.balance, coalesce(h.currency, 'CNY'), h.maturity_date
            FROM {snapshot_schema}.holdings h JOIN {snapshot_schema}.products d USING (product_id)
            ORDER BY h.customer_id, h.account_id""",
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
            replace=True,
        )
        counts["timeline"] = copy_from_duckdb(
            duck,
            f"""
            SELECT customer_id, ts, type, amount, channel,
                   coalesce(counterparty_bank, merchant_category)
            FROM {snapshot_schema}.transactions
            WHERE type IN ({", ".join(f"'{t}'" for t in TIMELINE_TYPES)})
              AND abs(amount) >= {TIMELINE_MIN}
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY ts DESC)
                    <= {TIMELINE_PER_CUSTOMER}""",
            con,
            "customer_timeline",
            ["customer_id", "at", "kind", "amount", "channel", "note"],
            replace=True,
        )
        counts["branch_kpis"] = _branch_figures(duck, con, snapshot_schema, run, paths, pb)
        counts["kept_erased"] = _keep_privacy_decisions(con)
    return counts


def _keep_privacy_decisions(con: Any) -> int:
    """A fresh card from the extract must not undo what a data-subject request did:
    erased customers stay erased, corrected fields stay corrected."""
    erased = con.execute(
        text("""
        UPDATE customers SET name = NULL, id_number = NULL, phone = NULL, birth_date = NULL
        WHERE customer_id IN (SELECT customer_id FROM erasures)""")
    ).rowcount
    con.execute(
        text("""
        UPDATE customer_timeline SET note = NULL
        WHERE customer_id IN (SELECT customer_id FROM erasures)""")
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


def _branch_figures(
    duck: duckdb.DuckDBPyConnection,
    con: Any,
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
            FROM run_{run.run_id}.profiles GROUP BY 1)
        SELECT n.*, coalesce(b.deposits, 0) AS deposits_base
        FROM now n LEFT JOIN base b USING (home_branch_id)""").df()
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


def staff_frame(ops: Store) -> list[Staff]:
    with ops.session() as s:
        return list(s.scalars(select(Staff)))


def branches_frame(ops: Store) -> list[Branch]:
    with ops.session() as s:
        return list(s.scalars(select(Branch)))
