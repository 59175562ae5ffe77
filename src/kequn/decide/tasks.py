"""The tasks a decision makes: talk tracks, visit material and explanations
rendered for each chosen pair, and the rows stored."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import Connection, text

from kequn.decide.campaign_hits import CampaignBrief, campaign_briefs, campaign_of
from kequn.decide.talk import TALK_FACTS, render, values
from kequn.playbook import LoadedPlaybook
from kequn.rules import passed_before
from kequn.store import Store
from kequn.store.bulk import copy_from_duckdb


def frame_of(ops: Store | Any, sql: str, **params: Any) -> pd.DataFrame:
    """A small query's rows (``ops``: the store, or one of its connections)."""
    if isinstance(ops, Store):
        with ops.engine.connect() as con:
            return pd.read_sql(text(sql), con, params=params)
    return pd.read_sql(text(sql), ops, params=params)


def register_frame(duck: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    duck.register(f"{name}_df", frame)
    duck.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_df")
    duck.unregister(f"{name}_df")


def _records(duck: duckdb.DuckDBPyConnection, sql: str) -> dict[str, dict[str, Any]]:
    """Each row of ``sql`` by its first column, as plain Python values: a
    frame's records walk pandas' Arrow-backed text one value at a time (15 s
    for 200,000 tasks, against under one)."""
    result = duck.execute(sql)
    names = [d[0] for d in result.description]
    return {
        row[0]: {k: (None if isinstance(v, float) and v != v else v) for k, v in zip(names, row, strict=True)}
        for row in result.fetchall()
    }


#: tasks rendered at a time (their customers' people and facts read per slice)
TALK_CHUNK = 50_000


def talk_tracks(
    tasks: pd.DataFrame,
    duck: duckdb.DuckDBPyConnection,
    snapshot_schema: str,
    run_schema: str,
    ops: Store | Any,
    pb: LoadedPlaybook,
    decision_id: str,
    day: date,
    extra_briefs: dict[str, CampaignBrief] | None = None,
) -> pd.DataFrame:
    """Renders each task's talk track, visit material and explanation (as the JSON
    text the store keeps), and gives it its id. ``ops``: the operational store, or a connection to it;
    ``extra_briefs``: campaigns being launched, not stored yet."""
    if tasks.empty:
        return tasks.assign(talk_track=[], visit_material=[], explanation=[], task_id=[], run_id=[])
    actions = {a.name: a for a in pb.playbook.actions}
    features_used = {t.name: sorted(pb.expression("triggers", t.name).columns) for t in pb.playbook.triggers}
    features_used["handover"] = ["tier_move"]
    briefs = {**campaign_briefs(ops), **(extra_briefs or {})}
    features_used |= {f"campaign:{cid}": b.columns for cid, b in briefs.items()}
    managers = dict(frame_of(ops, "SELECT manager_id, name FROM staff").itertuples(index=False))
    # only the columns read below: a row of every column cost seconds at 200,000 tasks
    used = (
        "action",
        "customer_id",
        "manager_id",
        "trigger",
        "product_id",
        "product_name",
        "expected_return",
        "is_pension",
        "term_days",
        "dual_recording",
        "value",
        "propensity",
        "urgency",
        "priority",
        "propensity_reasons",
    )
    talk: list[str | None] = []
    material: list[str | None] = []
    explanation: list[str] = []
    task_id: list[str] = []
    # a slice of tasks at a time: the people and facts of 400,000 tasks as Python
    # dicts were the largest thing a 2,000,000-customer decide held
    for start in range(0, len(tasks), TALK_CHUNK):
        part = tasks.iloc[start : start + TALK_CHUNK]
        register_frame(duck, "k_task_customers", pd.DataFrame({"customer_id": part["customer_id"].unique()}))
        people = _records(
            duck,
            f"""SELECT c.customer_id, c.name, c.gender FROM {snapshot_schema}.customers c
                SEMI JOIN k_task_customers USING (customer_id)""",
        )
        facts = _records(
            duck,
            f"""SELECT customer_id, {", ".join(TALK_FACTS)}
                FROM {run_schema}.profiles SEMI JOIN k_task_customers USING (customer_id)""",
        )
        columns = {c: part[c].tolist() if c in part else [None] * len(part) for c in used}
        for t in (dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)):
            a = actions[t["action"]]
            f = facts.get(t["customer_id"], {})
            person = people.get(t["customer_id"], {})
            product = (
                None
                if pd.isna(t["product_id"])
                else {
                    "product_name": t["product_name"],
                    "expected_return": None if pd.isna(t["expected_return"]) else t["expected_return"],
                    "is_pension": bool(t["is_pension"]),
                    "term_days": None if pd.isna(t["term_days"]) else t["term_days"],
                }
            )
            vals = values(
                f, person.get("name"), person.get("gender"), managers.get(t["manager_id"]), product, pb
            )
            brief = briefs.get(str(t["trigger"]).removeprefix("campaign:"))
            talk.append(render(brief.talk_track if brief and brief.talk_track else a.talk_track, vals))
            material.append(render(a.visit_material, vals) if a.visit_material else None)
            trigger = t["trigger"]
            # kept as the JSON the store holds: 400,000 nested dicts cost more than their text
            explanation.append(
                json.dumps(
                    {
                        "trigger": trigger,
                        "action": t["action"],
                        "kind": a.kind,
                        "rules_passed": passed_before("task"),
                        "product": None if product is None else t["product_id"],
                        "dual_recording": False
                        if pd.isna(t["dual_recording"])
                        else bool(t["dual_recording"]),
                        "score": {
                            "value": round(float(t["value"]), 2),
                            "propensity": round(float(t["propensity"]), 4),
                            "urgency": float(t["urgency"]),
                            "priority": round(float(t["priority"]), 4),
                        },
                        "features_used": features_used.get(trigger, []),
                        "propensity_reasons": t.get("propensity_reasons") or [],
                        **({"campaign": brief.campaign_id, "campaign_name": brief.name} if brief else {}),
                    },
                    ensure_ascii=False,
                    default=str,
                )
            )
            # a campaign's task carries its id: two campaigns may offer one action the same day
            suffix = f":{brief.campaign_id}" if brief else ""
            task_id.append(f"{day.isoformat()}:{t['customer_id']}:{t['action']}{suffix}")
        del people, facts, columns
    out = tasks.copy()
    out["talk_track"] = talk
    out["visit_material"] = material
    out["explanation"] = explanation
    out["task_id"] = task_id
    out["run_id"] = decision_id
    return out


TASK_COLUMNS = [
    "task_id",
    "run_id",
    "as_of",
    "customer_id",
    "manager_id",
    "action",
    "trigger",
    "kind",
    "channel",
    "scheduled_at",
    "contact_window",
    "priority",
    "value",
    "propensity",
    "urgency",
    "product_id",
    "talk_track",
    "visit_material",
    "explanation",
    "status",
    "source",
    "campaign_id",
    "version",
    "created_at",
    "updated_at",
]


def _text(value: Any) -> Any:
    """A text cell or nothing: pandas keeps a missing text as NaN, which a CSV copy
    into PostgreSQL would store as the word 'nan' (SQLite quietly stores NULL)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def task_rows(tasks: pd.DataFrame, day: date, stamp: datetime, source: str) -> list[tuple[Any, ...]]:
    """The chosen tasks as rows of TASK_COLUMNS, ready to load."""
    return [
        (
            t.task_id,
            _text(t.run_id),
            day,
            t.customer_id,
            t.manager_id,
            t.action,
            t.trigger,
            t.kind,
            t.channel,
            t.scheduled_at.to_pydatetime(),
            _text(t.window),
            float(t.priority),
            float(t.value),
            float(t.propensity),
            float(t.urgency),
            _text(t.product_id),
            _text(t.talk_track),
            _text(t.visit_material),
            json.loads(t.explanation) if isinstance(t.explanation, str) else t.explanation,
            "open",
            source,
            campaign_of(t.trigger),
            1,
            stamp,
            stamp,
        )
        for t in tasks.itertuples()
    ]


def load_tasks(
    con: Connection,
    duck: duckdb.DuckDBPyConnection,
    tasks: pd.DataFrame,
    day: date,
    stamp: datetime,
    source: str,
) -> int:
    """Stores the chosen tasks, streamed from DuckDB with the store's bulk path
    (``task_rows``' rows, built in Python cell by cell, took 13 s for 200,000);
    a task already stored is kept as it is."""
    if tasks.empty:
        return 0

    def texts(column: str) -> list[Any]:
        return [_text(v) for v in tasks[column].tolist()]

    frame = pd.DataFrame(
        {
            "task_id": tasks["task_id"].tolist(),
            "run_id": texts("run_id"),
            "customer_id": tasks["customer_id"].tolist(),
            "manager_id": tasks["manager_id"].tolist(),
            "action": tasks["action"].tolist(),
            "trigger": tasks["trigger"].tolist(),
            "kind": tasks["kind"].tolist(),
            "channel": tasks["channel"].tolist(),
            "scheduled_at": tasks["scheduled_at"].to_numpy(),
            "contact_window": texts("window"),
            "priority": tasks["priority"].astype(float).to_numpy(),
            "value": tasks["value"].astype(float).to_numpy(),
            "propensity": tasks["propensity"].astype(float).to_numpy(),
            "urgency": tasks["urgency"].astype(float).to_numpy(),
            "product_id": texts("product_id"),
            "talk_track": texts("talk_track"),
            "visit_material": texts("visit_material"),
            "explanation": [
                e if isinstance(e, str) else json.dumps(e, ensure_ascii=False, default=str)
                for e in tasks["explanation"]
            ],
            "campaign_id": [campaign_of(t) for t in tasks["trigger"].tolist()],
        },
        dtype=object,
    ).astype({c: float for c in ("priority", "value", "propensity", "urgency")})
    frame["scheduled_at"] = tasks["scheduled_at"].to_numpy()
    duck.register("k_new_tasks", frame)
    try:
        typed = {c: f"CAST({c} AS VARCHAR)" for c in frame.columns if frame[c].dtype == object}
        column = {c: typed.get(c, c) for c in frame.columns}
        column |= {
            "as_of": f"DATE '{day.isoformat()}'",
            "status": "'open'",
            "source": f"'{source}'",
            "version": "1",
            "created_at": f"TIMESTAMPTZ '{stamp.isoformat()}'",
            "updated_at": f"TIMESTAMPTZ '{stamp.isoformat()}'",
        }
        return copy_from_duckdb(
            duck,
            f"SELECT {', '.join(column[c] for c in TASK_COLUMNS)} FROM k_new_tasks",
            con,
            "tasks",
            TASK_COLUMNS,
            upsert_key=None if _first_of_the_day(con, tasks, day) else ["task_id"],
            update=[],
        )
    finally:
        duck.unregister("k_new_tasks")


def _first_of_the_day(con: Connection, tasks: pd.DataFrame, day: date) -> bool:
    """No task of ``day`` is stored yet and each of ``tasks`` is one of a kind:
    nothing can clash, so the rows go straight into the table (a day's id
    begins with its day, whichever path made it)."""
    if not tasks["task_id"].is_unique:
        return False
    return con.execute(text("SELECT 1 FROM tasks WHERE as_of = :d LIMIT 1"), {"d": day}).first() is None
