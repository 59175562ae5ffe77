"""The decision's owners step (全量客户全管户): every customer's owner after
tonight, worked out by ``ownership.assign_owners`` from the run's profiles, the
snapshot's staff and the operational store's owners and claims; then the
changes logged and the claims settled in the decision's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd
from sqlalchemy import Connection, text

from kequn import warehouse
from kequn.decide.ownership import assign_owners
from kequn.decide.tasks import frame_of
from kequn.pipeline.catalog import RunInfo
from kequn.playbook import LoadedPlaybook
from kequn.store.bulk import copy_from_duckdb, update_column


@dataclass
class Owners:
    changes: pd.DataFrame
    refused_claims: pd.DataFrame
    applied_claims: list[int]
    unowned: int


def owners_tonight(
    duck: duckdb.DuckDBPyConnection, con: Connection, run: RunInfo, snapshot_schema: str, pb: LoadedPlaybook
) -> Owners:
    """Every customer's owner after tonight (``k_owner``), and the customers whose
    tier move takes them to another manager (``k_handover``). The store's owners
    are read from ``k_ops_cards`` (``plan_sync``)."""
    duck.execute(
        "CREATE OR REPLACE TEMP VIEW k_ops_owner AS SELECT customer_id, owner_manager_id FROM k_ops_cards"
    )
    cards = duck.execute(f"""
        SELECT p.customer_id, p.home_branch_id, p.tier, p.tier_move,
               CASE WHEN o.customer_id IS NULL THEN c.owner_manager_id ELSE o.owner_manager_id END
                   AS owner_manager_id
        FROM {run.schema}.profiles p JOIN {snapshot_schema}.customers c USING (customer_id)
        LEFT JOIN k_ops_owner o USING (customer_id)""").df()
    staff = duck.execute(f"""
        SELECT manager_id, branch_id, role, coalesce(active, TRUE) AS active
        FROM {snapshot_schema}.managers""").df()
    successors = frame_of(con, "SELECT manager_id, successor_id FROM staff")
    staff = staff.merge(successors, on="manager_id", how="left")
    branches = duck.execute(f"SELECT branch_id, parent_id FROM {snapshot_schema}.branches").df()
    claims = frame_of(
        con,
        "SELECT claim_id, customer_id, manager_id FROM claims WHERE status = 'pending' ORDER BY "
        "claimed_at, claim_id",
    )
    roles = {t.name: t.owner_role for t in pb.playbook.tiers.ladder}
    result = assign_owners(cards, staff, branches, claims, roles)
    owner = cards.set_index("customer_id")["owner_manager_id"].copy()
    if len(result.changes):
        owner.loc[result.changes.customer_id.to_numpy()] = result.changes.to_manager_id.to_numpy()
    frame = owner.rename("manager_id").reset_index()
    duck.register("k_owner_df", frame)
    duck.execute(
        f"CREATE OR REPLACE TABLE {warehouse.SHARED}.k_owner AS SELECT customer_id, "
        "CAST(manager_id AS VARCHAR) AS manager_id FROM k_owner_df"
    )
    duck.unregister("k_owner_df")
    handover = result.changes[result.changes.reason == "tier_move"][["customer_id"]].reset_index(drop=True)
    duck.register("k_handover_df", handover)
    duck.execute(
        "CREATE OR REPLACE TEMP TABLE k_handover AS SELECT CAST(customer_id AS VARCHAR) AS "
        "customer_id FROM k_handover_df"
    )
    duck.unregister("k_handover_df")
    refused = set(result.refused_claims.claim_id)
    applied = [int(c) for c in claims.claim_id if c not in refused]
    return Owners(result.changes, result.refused_claims, applied, result.unowned)


def write_owners(
    duck: duckdb.DuckDBPyConnection,
    con: Connection,
    owners: Owners,
    stamp: datetime,
    decision_id: str,
    written: set[str],
) -> None:
    """Tonight's owner changes, logged; the cards not ``written`` with their owner are updated."""
    changes = owners.changes
    update_column(
        con,
        "customers",
        "customer_id",
        "owner_manager_id",
        [(c, m) for c, m in zip(changes.customer_id, changes.to_manager_id, strict=True) if c not in written],
    )
    if len(changes):
        # streamed from DuckDB: a first night logs an owner for most of the bank
        duck.register("k_owner_changes", changes.astype(object).where(changes.notna(), None))
        copy_from_duckdb(
            duck,
            f"""SELECT CAST(customer_id AS VARCHAR), CAST(from_manager_id AS VARCHAR),
                       CAST(to_manager_id AS VARCHAR), CAST(reason AS VARCHAR),
                       TIMESTAMPTZ '{stamp.isoformat()}', '{decision_id}'
                FROM k_owner_changes""",
            con,
            "ownership_log",
            ["customer_id", "from_manager_id", "to_manager_id", "reason", "at", "decision_run_id"],
        )
        duck.unregister("k_owner_changes")
    for claim_id in owners.applied_claims:
        con.execute(text("UPDATE claims SET status = 'applied' WHERE claim_id = :c"), {"c": claim_id})
    for r in owners.refused_claims.itertuples():
        con.execute(
            text("UPDATE claims SET status = 'refused', note = :n WHERE claim_id = :c"),
            {"c": int(r.claim_id), "n": r.reason},
        )
