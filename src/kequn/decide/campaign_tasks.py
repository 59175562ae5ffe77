"""Tasks for one campaign now, when it is launched, rather than at the next
nightly decision: its treated members through the same funnel as the batch,
into what is left of each manager's capacity and each customer's daily room
after the work already made for today."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from kequn import warehouse
from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.decide.batch import Owners, _arbitrate, _funnel_counts, _load_ops_state
from kequn.decide.campaign_hits import load_campaign_hits, record_verdicts
from kequn.decide.funnel import build_pairs, register_playbook
from kequn.decide.propensity import active_model
from kequn.decide.tasks import TASK_COLUMNS, frame_of, talk_tracks, task_rows
from kequn.ingest.store import schema_for
from kequn.pipeline.catalog import list_runs
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, digest, record
from kequn.store import Store
from kequn.store.bulk import load_rows


@dataclass
class CampaignTasking:
    campaign_id: str
    day: date
    proposed: int = 0
    tasks: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    by_manager: dict[str, int] = field(default_factory=dict)


def task_campaign(
    store: Path, ops: Store, campaign_id: str, pb: LoadedPlaybook, now: datetime | None = None
) -> CampaignTasking:
    """Decides on the campaign's untasked treated members today and stores the tasks."""
    now = now or clock_now()
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
        result.proposed = load_campaign_hits(duck, ops, day, campaign_id)
        if not result.proposed:
            return result
        owner = frame_of(
            ops,
            """SELECT c.customer_id, c.owner_manager_id AS manager_id FROM customers c
               JOIN campaign_members m ON m.customer_id = c.customer_id
               WHERE m.campaign_id = :cid AND m.arm = 'treated'""",
            cid=campaign_id,
        )
        empty = pd.DataFrame({"customer_id": [], "from_manager_id": [], "to_manager_id": [], "reason": []})
        owners = Owners(empty, owner, pd.DataFrame({"claim_id": []}), [], 0)
        # every open task of today counts, batch ones included: nothing is replaced
        _load_ops_state(duck, ops, owners, now, pb, replaced_source="")
        register_playbook(duck, pb)
        build_pairs(duck, run.schema, snapshot_schema, pb, now, triggers=False)
        taken = frame_of(
            ops,
            "SELECT customer_id, manager_id, channel FROM tasks "
            "WHERE as_of = :day AND status IN ('open', 'done')",
            day=day,
        )
        pairs, tasks = _arbitrate(duck, ops, pb, active_model(ops), day, taken)
        decision_id = f"campaign_{campaign_id}_{day:%Y%m%d}"
        tasks = talk_tracks(tasks, duck, snapshot_schema, run.schema, ops, pb, decision_id, day)
    finally:
        duck.close()
    _, result.dropped = _funnel_counts(pairs)
    stamp = clock_now()
    rows = task_rows(tasks, day, stamp, "campaign")
    result.tasks = len(rows)
    if rows:
        result.by_manager = {str(k): int(v) for k, v in tasks["manager_id"].value_counts().items()}
    with ops.engine.begin() as con:
        load_rows(con, "tasks", TASK_COLUMNS, rows, ["task_id"], [])
        record_verdicts(con, pairs, day)
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
    return result
