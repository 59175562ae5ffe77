"""Refreshing the operational store from the latest run: the organisation, the
staff and every customer's working card (profile facts, PII, consent state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
from sqlalchemy import select

from kequn.decide.bulk import load_rows
from kequn.ingest.sql import ident
from kequn.pipeline.catalog import RunInfo
from kequn.playbook import LoadedPlaybook
from kequn.store import Store
from kequn.store.models import Branch, Staff

#: profile columns every decision reads, whatever the playbook's rules name
BASE_FACTS = (
    "customer_id", "tier", "prev_tier", "tier_move", "aum", "aum_month_end", "age", "gender",
    "occupation", "life_stage", "lifecycle", "segments", "risk_level", "risk_valid",
    "risk_expires_in_days", "first_time_investor", "liquid_reserve_months", "health_score",
    "health_change", "next_tier_gap", "maturing_7d_amount", "next_maturity_days",
    "same_name_out", "same_name_out_7d", "large_transfer_7d", "fund_return", "days_to_payday",
    "gap_class", "salary_monthly", "fund_balance", "wealth_balance", "pension_balance",
    "home_branch_id",
)
PURPOSES = ("marketing_phone", "marketing_sms", "marketing_wechat",
            "personalised_recommendation", "third_party_sharing", "sensitive_processing")


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


def sync(duck: duckdb.DuckDBPyConnection, ops: Store, snapshot_schema: str, run: RunInfo,
         pb: LoadedPlaybook, now: datetime) -> dict[str, int]:
    """Copies organisation, staff and customer cards into the operational store."""
    counts: dict[str, int] = {}
    branches = duck.execute(f"SELECT branch_id, name, parent_id, level, city FROM "
                            f"{snapshot_schema}.branches").fetchall()
    paths = branch_paths(branches)
    staff = duck.execute(f"""
        SELECT manager_id, name, branch_id, role, coalesce(capacity_phone, 0),
               coalesce(capacity_visit, 0), coalesce(capacity_wechat, 0),
               coalesce(capacity_sms, 0), coalesce(active, TRUE)
        FROM {snapshot_schema}.managers""").fetchall()
    facts = fact_columns(pb)
    consent = ", ".join(
        f"'{p}': max(granted) FILTER (WHERE purpose = '{p}' AND rn = 1)" for p in PURPOSES)
    cards = duck.execute(f"""
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
                    'term_days': coalesce(d.term_days, d.lockup_days)}} ORDER BY r.rank) AS recs
            FROM run_{run.run_id}.recommendations r
            JOIN {snapshot_schema}.products d USING (product_id) GROUP BY 1)
        SELECT p.customer_id, p.home_branch_id, c.owner_manager_id, c.name, c.id_number,
               c.phone, c.gender, c.birth_date, c.occupation, p.tier, p.prev_tier, p.aum,
               p.health_score, p.risk_level, p.lifecycle, p.life_stage, to_json(p.segments),
               to_json(struct_pack({", ".join(f"{ident(f)} := p.{ident(f)}" for f in facts)},
                                   consent := s.consent, recs := coalesce(rc.recs, [])))
        FROM run_{run.run_id}.profiles p
        JOIN {snapshot_schema}.customers c USING (customer_id)
        LEFT JOIN state s USING (customer_id)
        LEFT JOIN recs rc USING (customer_id)
        ORDER BY p.customer_id""").fetchall()
    with ops.engine.begin() as con:
        counts["branches"] = load_rows(
            con, "branches", ["branch_id", "name", "parent_id", "level", "city", "path"],
            [(*b, paths[b[0]]) for b in branches], ["branch_id"],
            ["name", "parent_id", "level", "city", "path"])
        counts["staff"] = load_rows(
            con, "staff", ["manager_id", "name", "branch_id", "role", "capacity_phone",
                           "capacity_visit", "capacity_wechat", "capacity_sms", "active"],
            staff, ["manager_id"], ["name", "branch_id", "role", "capacity_phone",
                                    "capacity_visit", "capacity_wechat", "capacity_sms",
                                    "active"])
        columns = ["customer_id", "home_branch_id", "owner_manager_id", "name", "id_number",
                   "phone", "gender", "birth_date", "occupation", "tier", "prev_tier", "aum",
                   "health_score", "risk_level", "lifecycle", "life_stage", "segments", "facts",
                   "snapshot_id", "run_id", "updated_at"]
        rows: list[tuple[Any, ...]] = [(*r, run.snapshot_id, run.run_id, now) for r in cards]
        # the owner is Kequn's to manage once a customer is on file: not overwritten
        counts["customers"] = load_rows(con, "customers", columns, rows, ["customer_id"],
                                        [c for c in columns if c not in
                                         ("customer_id", "owner_manager_id")])
    return counts


def staff_frame(ops: Store) -> list[Staff]:
    with ops.session() as s:
        return list(s.scalars(select(Staff)))


def branches_frame(ops: Store) -> list[Branch]:
    with ops.session() as s:
        return list(s.scalars(select(Branch)))
