"""Campaigns in the decision funnel: each active campaign's treated members are
proposed its action as if a trigger named ``campaign:<id>`` had fired, with the
campaign's priority as the urgency and its channels as the only ones it may
use. From there on they pass the same stages as triggered work. The control
arm is never proposed; a paused or ended campaign proposes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import Connection, text

from kequn.pipeline.groups import parse_group
from kequn.playbook.expr import ExpressionError
from kequn.store import Store
from kequn.store.bulk import load_rows
from kequn.store.transfer import to_duckdb

PREFIX = "campaign:"


@dataclass(frozen=True)
class CampaignBrief:
    campaign_id: str
    name: str
    talk_track: str | None
    #: the group's columns: the features its tasks were chosen on
    columns: list[str]


def campaign_of(trigger: Any) -> str | None:
    return trigger.removeprefix(PREFIX) if isinstance(trigger, str) and trigger.startswith(PREFIX) else None


def campaign_briefs(ops: Store | Connection) -> dict[str, CampaignBrief]:
    sql = text("""
        SELECT c.campaign_id, c.name, c.talk_track, g.expression
        FROM campaigns c JOIN customer_groups g ON g.group_id = c.group_id""")
    if isinstance(ops, Store):
        with ops.engine.connect() as con:
            rows = con.execute(sql).all()
    else:
        rows = ops.execute(sql).all()
    briefs = {}
    for cid, name, talk, expression in rows:
        try:
            columns = sorted(parse_group(expression).columns)
        except ExpressionError:  # a group saved under an older playbook
            columns = []
        briefs[cid] = CampaignBrief(cid, name, talk, columns)
    return briefs


def load_campaign_proposals(
    con: Connection, duck: duckdb.DuckDBPyConnection, day: date, campaign_id: str | None = None
) -> int:
    """``k_campaign_props`` (the shape of the funnel's proposals) for the active
    campaigns running on ``day``, or one of them: treated members not yet given
    a task by that campaign."""
    only = "AND c.campaign_id = :cid" if campaign_id else ""
    n = to_duckdb(
        con,
        duck,
        "k_campaign_raw",
        f"""SELECT m.customer_id, c.campaign_id, c.priority, c.action, c.channels
            FROM campaign_members m JOIN campaigns c ON c.campaign_id = m.campaign_id
            WHERE c.status = 'active' AND c.starts_on <= :day AND c.ends_on >= :day
              AND m.arm = 'treated' {only}
              AND NOT EXISTS (
                  SELECT 1 FROM tasks t WHERE t.campaign_id = m.campaign_id
                  AND t.customer_id = m.customer_id AND t.status <> 'withdrawn')""",
        {
            "customer_id": "VARCHAR",
            "campaign_id": "VARCHAR",
            "priority": "DOUBLE",
            "action": "VARCHAR",
            "channels": "VARCHAR",
        },
        {"day": day, "cid": campaign_id},
    )
    duck.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_campaign_props AS
        SELECT customer_id, '{PREFIX}' || campaign_id AS trigger, priority AS urgency, action,
               campaign_id, CAST(json(channels) AS VARCHAR[]) AS campaign_channels
        FROM k_campaign_raw""")
    return n


def record_verdicts(con: Connection, pairs: pd.DataFrame, day: date) -> int:
    """Where each campaign pair stopped today (``task`` when it became one)."""
    if pairs.empty:
        return 0
    mine = pairs[pairs["trigger"].astype(str).str.startswith(PREFIX)]
    rows = [
        (
            campaign_of(p.trigger),
            p.customer_id,
            day,
            "task" if p.stage == "task" else f"{p.stage}:{p.rule}"[:60],
        )
        for p in mine.itertuples()
    ]
    load_rows(
        con,
        "campaign_verdicts",
        ["campaign_id", "customer_id", "day", "verdict"],
        rows,
        ["campaign_id", "customer_id", "day"],
        ["verdict"],
    )
    return len(rows)


def channels_of(value: Any) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value or [])
