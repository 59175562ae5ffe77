"""Tasks for one campaign now, when it is launched or resumed, rather than at the
next nightly decision: its treated members through the same stages as the
batch, into what is left of each manager's capacity and each customer's daily
room after the work already made for today. The tasks are planned first and
written by the caller's transaction, so a launch that fails leaves nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import ibis
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from kequn import warehouse
from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.decide import funnel
from kequn.decide.arbitrate import Room, arbitrate, capacity_of
from kequn.decide.campaign_hits import PREFIX, CampaignBrief, load_campaign_proposals, record_verdicts
from kequn.decide.inputs import batch_tables, load_ops_state
from kequn.decide.propensity import active_model, batch_scorer
from kequn.decide.tasks import TASK_COLUMNS, frame_of, talk_tracks, task_rows
from kequn.ingest.store import schema_for
from kequn.pipeline.catalog import list_runs
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, digest, record
from kequn.store import Store
from kequn.store.bulk import load_rows
from kequn.store.transfer import to_duckdb


@dataclass
class CampaignTasking:
    campaign_id: str
    day: date
    proposed: int = 0
    tasks: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    by_manager: dict[str, int] = field(default_factory=dict)
    write: Callable[[Connection], None] | None = None


def plan_campaign(
    store: Path,
    ops: Store,
    campaign_id: str,
    pb: LoadedPlaybook,
    now: datetime,
    members: pd.DataFrame | None = None,
    action: str | None = None,
    channels: list[str] | None = None,
    priority: float = 0.5,
    brief: CampaignBrief | None = None,
) -> CampaignTasking:
    """Decides on the campaign's untasked treated members today; ``write``
    stores the tasks in the caller's transaction. ``members`` (customer_id):
    the treated arm of a campaign not yet stored; else it is read from the store."""
    day = now.date()
    result = CampaignTasking(campaign_id, day)
    duck = warehouse.reader(store, [])
    try:
        runs = list_runs(duck)
        if not runs:
            raise KequnError(f"{store}: no pipeline run to decide on")
        run = runs[-1]
        snapshot_schema = schema_for(date.fromisoformat(run.snapshot_id))
        warehouse.attach(duck, store, [run.schema, snapshot_schema])
        with ops.engine.connect() as con:
            if members is None:
                result.proposed = load_campaign_proposals(con, duck, day, campaign_id)
            else:
                props = pd.DataFrame(
                    {
                        "customer_id": members["customer_id"].astype(str),
                        "trigger": PREFIX + campaign_id,
                        "urgency": float(priority),
                        "action": action,
                        "campaign_id": campaign_id,
                        "campaign_channels": [list(channels or [])] * len(members),
                    }
                )
                duck.register("k_campaign_df", props)
                duck.execute("""
                    CREATE OR REPLACE TEMP TABLE k_campaign_props AS
                    SELECT customer_id, trigger, urgency, action, campaign_id,
                           CAST(campaign_channels AS VARCHAR[]) AS campaign_channels FROM k_campaign_df""")
                duck.unregister("k_campaign_df")
                result.proposed = len(props)
            if not result.proposed:
                return result
            # every open task of today counts, batch ones included: nothing is replaced
            load_ops_state(con, duck, now, pb, replaced_source="")
            to_duckdb(
                con,
                duck,
                "k_owner",
                "SELECT customer_id, owner_manager_id FROM customers",
                {"customer_id": "VARCHAR", "manager_id": "VARCHAR"},
            )
            taken = frame_of(
                con,
                "SELECT customer_id, manager_id, channel FROM tasks WHERE as_of = :day AND status IN "
                "('open', 'done')",
                day=day,
            )
            staff = frame_of(
                con,
                "SELECT manager_id, capacity_phone, capacity_visit, capacity_wechat, capacity_sms FROM staff "
                "WHERE active",
            )
        duck.execute(
            "CREATE OR REPLACE TEMP TABLE k_campaign_customers AS SELECT DISTINCT customer_id FROM "
            "k_campaign_props"
        )
        tables = batch_tables(duck, run.schema, snapshot_schema, pb, now, day, "k_campaign_customers")
        ic = ibis.duckdb.from_connection(duck)
        proposals = funnel.proposals_for(tables["k_facts"], pb, ic.table("k_campaign_props"), triggers=False)
        duck.execute(f"CREATE OR REPLACE TEMP TABLE k_proposals AS {ic.compile(proposals)}")
        tables["k_proposals"] = ic.table("k_proposals")
        duck.execute(f"CREATE OR REPLACE TEMP TABLE k_verdicts AS {ic.compile(funnel.verdicts(tables, pb))}")
        live = duck.execute("SELECT * FROM k_verdicts WHERE rule IS NULL").df()
        dropped_sql = duck.execute(
            "SELECT customer_id, trigger, stage, rule FROM k_verdicts WHERE rule IS NOT NULL"
        ).df()
        per_customer = taken.groupby("customer_id").size().to_dict() if len(taken) else {}
        booked = (
            {(m, c): int(n) for (m, c), n in taken.groupby(["manager_id", "channel"]).size().items()}
            if len(taken)
            else {}
        )
        with ops.engine.connect() as con:
            score = batch_scorer(duck, con, pb, active_model(ops), run.schema, now)
            tasks, dropped = arbitrate(
                live, Room(capacity_of(staff, taken), per_customer, booked), pb, score, day
            )
        decision_id = f"campaign_{campaign_id}_{day:%Y%m%d}"
        with ops.engine.connect() as con:
            tasks = talk_tracks(
                tasks,
                duck,
                snapshot_schema,
                run.schema,
                con,
                pb,
                decision_id,
                day,
                {campaign_id: brief} if brief else None,
            )
    finally:
        duck.close()
    verdicts = pd.concat(
        [
            dropped_sql,
            dropped[["customer_id", "trigger", "stage", "rule"]],
            tasks.assign(stage="task", rule="")[["customer_id", "trigger", "stage", "rule"]],
        ]
    )
    result.dropped = {
        f"{s}:{r}": int(n)
        for (s, r), n in verdicts[verdicts.stage != "task"].groupby(["stage", "rule"]).size().items()
    }
    stamp = clock_now()
    rows = task_rows(tasks, day, stamp, "campaign")
    result.tasks = len(rows)
    if rows:
        result.by_manager = {str(k): int(v) for k, v in tasks["manager_id"].value_counts().items()}

    def write(con: Connection) -> None:
        load_rows(con, "tasks", TASK_COLUMNS, rows, ["task_id"], [])
        record_verdicts(con, verdicts, day)
        with Session(bind=con) as s:
            record(
                s,
                [
                    Event(
                        "system:campaign",
                        "system",
                        "campaign_tasks",
                        None,
                        {
                            "campaign": campaign_id,
                            "day": day,
                            "tasks": len(rows),
                            "tasks_digest": digest(f"{r[0]}|{r[3]}|{r[4]}|{r[5]}|{r[8]}" for r in rows),
                        },
                        stamp,
                    )
                ],
            )
            s.flush()

    result.write = write
    return result


def task_campaign(
    store: Path, ops: Store, campaign_id: str, pb: LoadedPlaybook, now: datetime | None = None
) -> CampaignTasking:
    """Decides on the campaign's untasked treated members today and stores the tasks."""
    planned = plan_campaign(store, ops, campaign_id, pb, now or clock_now())
    if planned.write is not None:
        with ops.engine.begin() as con:
            planned.write(con)
    return planned
