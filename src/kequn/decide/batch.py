"""``kequn decide``: the day's tasks for every manager, published atomically into
the operational store, each with its explanation; every dropped pair kept with
its reason in the analytical store, for ``kequn why``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from kequn.core.clock import SHANGHAI
from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.decide.bulk import load_rows, update_column
from kequn.decide.capacity import fit, schedule
from kequn.decide.funnel import STAGES, build_pairs, register_playbook
from kequn.decide.ownership import assign_owners
from kequn.decide.propensity import active_model, propensity
from kequn.decide.sync import sync
from kequn.decide.talk import render, values
from kequn.ingest.store import connect
from kequn.pipeline.catalog import RunInfo, list_runs
from kequn.pipeline.run import pick_snapshot
from kequn.playbook import LoadedPlaybook, load_playbook
from kequn.privacy.audit import Event, digest, record
from kequn.store import Store, default_url, open_store

Progress = Callable[[str, int, int], None]
CHANNELS = ("phone", "visit", "wechat", "sms")


@dataclass
class DecisionReport:
    run_id: str
    day: date
    snapshot_id: str
    pipeline_run: str
    model_version: str | None
    funnel: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    tasks_by_trigger: dict[str, int] = field(default_factory=dict)
    tasks_by_channel: dict[str, int] = field(default_factory=dict)
    tasks_by_manager: dict[str, dict[str, int]] = field(default_factory=dict)
    ownership: dict[str, int] = field(default_factory=dict)
    unowned: int = 0
    withdrawn: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def latest_run(duck: duckdb.DuckDBPyConnection, snapshot_id: str) -> RunInfo:
    found = [r for r in list_runs(duck) if r.snapshot_id == snapshot_id]
    if not found:
        raise KequnError(f"no pipeline run on snapshot {snapshot_id}: run `kequn run` first")
    return found[-1]


def _frame(ops: Store, sql: str, **params: Any) -> pd.DataFrame:
    with ops.engine.connect() as con:
        return pd.read_sql(text(sql), con, params=params)


def _register(duck: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    duck.register(f"{name}_df", frame)
    duck.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_df")
    duck.unregister(f"{name}_df")


def decide(
    store: Path,
    ops_url: str | None = None,
    playbook: Path | None = None,
    as_of: date | None = None,
    day: date | None = None,
    progress: Progress | None = None,
) -> DecisionReport:
    report_progress = progress or (lambda stage, done, total: None)
    pb = load_playbook(playbook)
    snapshot = pick_snapshot(store, as_of)
    day = day or snapshot.as_of + timedelta(days=1)
    now = datetime.combine(day, time(0, 0), SHANGHAI)
    ops = open_store(ops_url or default_url(store))
    duck = connect(store)
    timings: dict[str, float] = {}
    steps = ["sync", "owners", "funnel", "arbitrate", "publish"]

    def step(name: str) -> None:
        timings[name] = clock_now().timestamp()
        report_progress(name, steps.index(name), len(steps))

    try:
        run = latest_run(duck, snapshot.snapshot_id)
        step("sync")
        synced = sync(duck, ops, snapshot.schema, run, pb, clock_now())
        step("owners")
        owners = _ownership(duck, ops, run, pb)
        step("funnel")
        _load_ops_state(duck, ops, owners, now, pb)
        register_playbook(duck, pb)
        build_pairs(duck, run.schema, snapshot.schema, pb, now)
        step("arbitrate")
        model = active_model(ops)
        pairs, tasks = _arbitrate(duck, ops, pb, model, day)
        step("publish")
        decision_id = _next_decision_id(ops, duck, day)
        tasks = _talk_tracks(tasks, duck, snapshot.schema, run.schema, ops, pb, decision_id, day)
        report = _publish(
            duck,
            ops,
            pairs,
            tasks,
            owners,
            decision_id,
            day,
            snapshot.snapshot_id,
            run.run_id,
            model.version if model else None,
            now,
            snapshot.schema,
            pb,
        )
        report.ownership = {**report.ownership, **{f"synced_{k}": v for k, v in synced.items()}}
        report_progress("publish", len(steps), len(steps))
        marks = [*timings.values(), clock_now().timestamp()]
        report.seconds = {name: round(marks[i + 1] - marks[i], 2) for i, name in enumerate(steps)}
        return report
    finally:
        duck.close()
        ops.dispose()


@dataclass
class Owners:
    changes: pd.DataFrame
    owner: pd.DataFrame  # customer_id, manager_id
    refused_claims: pd.DataFrame
    applied_claims: list[int]
    unowned: int


def _ownership(duck: duckdb.DuckDBPyConnection, ops: Store, run: RunInfo, pb: LoadedPlaybook) -> Owners:
    cards = _frame(ops, "SELECT customer_id, home_branch_id, owner_manager_id, tier FROM customers")
    moves = duck.execute(f"SELECT customer_id, tier_move FROM {run.schema}.profiles").df()
    cards = cards.merge(moves, on="customer_id", how="left")
    staff = _frame(ops, "SELECT manager_id, branch_id, role, active, successor_id FROM staff")
    branches = _frame(ops, "SELECT branch_id, parent_id FROM branches")
    claims = _frame(
        ops,
        "SELECT claim_id, customer_id, manager_id FROM claims "
        "WHERE status = 'pending' ORDER BY claimed_at, claim_id",
    )
    roles = {t.name: t.owner_role for t in pb.playbook.tiers.ladder}
    result = assign_owners(cards, staff, branches, claims, roles)
    owner = cards.set_index("customer_id")["owner_manager_id"].copy()
    if len(result.changes):
        owner.loc[result.changes.customer_id.to_numpy()] = result.changes.to_manager_id.to_numpy()
    applied = [int(c) for c in claims.claim_id if c not in set(result.refused_claims.claim_id)]
    return Owners(
        result.changes,
        owner.rename("manager_id").reset_index(),
        result.refused_claims,
        applied,
        result.unowned,
    )


def _load_ops_state(
    duck: duckdb.DuckDBPyConnection, ops: Store, owners: Owners, now: datetime, pb: LoadedPlaybook
) -> None:
    c = pb.playbook.contact
    horizon = now - timedelta(days=max(c.cap_days, c.suppress_window_days + c.suppress_days, c.snooze_days))
    _register(duck, "k_owner", owners.owner)
    handover = owners.changes[owners.changes.reason == "tier_move"][["customer_id"]]
    _register(duck, "k_handover", handover.reset_index(drop=True))
    _register(
        duck,
        "k_prefs",
        _frame(ops, "SELECT customer_id, do_not_contact, personalised_opt_out FROM contact_prefs"),
    )
    consents = _frame(ops, "SELECT customer_id, purpose, granted, ts FROM consents")
    consents["ts"] = pd.to_datetime(consents["ts"], utc=True)
    _register(duck, "k_consent_ops", consents)
    history = _frame(
        ops, "SELECT customer_id, action, kind, outcome, at FROM outcomes WHERE at >= :since", since=horizon
    )
    history["at"] = pd.to_datetime(history["at"], utc=True)
    _register(duck, "k_history", history)
    _register(
        duck,
        "k_open",
        _frame(
            ops,
            "SELECT DISTINCT customer_id, action FROM tasks WHERE status = 'open' AND as_of < :day",
            day=now.date(),
        ),
    )


def _arbitrate(
    duck: duckdb.DuckDBPyConnection, ops: Store, pb: LoadedPlaybook, model: Any, day: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    pairs = duck.execute("SELECT * FROM k_pairs").df()
    pairs["stage"] = pairs["dropped"].str.split(":").str[0]
    pairs["reason"] = pairs["dropped"].str.split(":").str[1]
    alive = pairs["dropped"].isna()
    live = pairs[alive].copy()
    live["channel"] = live["channels"].map(lambda c: c[0] if len(c) else None)
    live["propensity"] = propensity(live, pb, model)
    live["priority"] = live["value"].clip(lower=0) * live["propensity"] * live["urgency"]
    live = live.sort_values(
        ["customer_id", "priority", "action"], ascending=[True, False, True], kind="stable"
    )
    live["rank"] = live.groupby("customer_id").cumcount()
    keep = pb.playbook.contact.tasks_per_customer_per_day
    chosen = live[live["rank"] < keep].copy()
    outranked = live[live["rank"] >= keep]
    staff = _frame(
        ops,
        "SELECT manager_id, capacity_phone, capacity_visit, capacity_wechat, "
        "capacity_sms FROM staff WHERE active",
    )
    capacity = {
        (m.manager_id, ch): int(getattr(m, f"capacity_{ch}")) for m in staff.itertuples() for ch in CHANNELS
    }
    chosen["channel"] = fit(chosen, capacity, pb.playbook.contact.channel_weight)
    over = chosen[chosen["channel"].isna()]
    tasks = chosen[chosen["channel"].notna()].copy()
    tasks = schedule(tasks, day, pb.playbook.contact)
    pairs.loc[outranked.index, ["stage", "reason"]] = ["arbitrated", "outranked"]
    pairs.loc[over.index, ["stage", "reason"]] = ["within_capacity", "over_capacity"]
    pairs.loc[live.index, "priority"] = live["priority"]
    pairs.loc[live.index, "propensity"] = live["propensity"]
    pairs.loc[tasks.index, "channel"] = tasks["channel"]
    pairs.loc[tasks.index, ["stage", "reason"]] = ["task", ""]
    return pairs, tasks


def _next_decision_id(ops: Store, duck: duckdb.DuckDBPyConnection, day: date) -> str:
    """The next free id of the day in both stores (either may have been reset)."""
    with ops.engine.connect() as con:
        taken = set(
            con.execute(text("SELECT run_id FROM decision_runs WHERE as_of = :d"), {"d": day}).scalars()
        )
    taken |= {
        r[0].removeprefix("decision_")
        for r in duck.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
            [f"decision_{day:%Y%m%d}_%"],
        ).fetchall()
    }
    n = 1
    while f"{day:%Y%m%d}_{n:02d}" in taken:
        n += 1
    return f"{day:%Y%m%d}_{n:02d}"


def _talk_tracks(
    tasks: pd.DataFrame,
    duck: duckdb.DuckDBPyConnection,
    snapshot_schema: str,
    run_schema: str,
    ops: Store,
    pb: LoadedPlaybook,
    decision_id: str,
    day: date,
) -> pd.DataFrame:
    if tasks.empty:
        return tasks
    actions = {a.name: a for a in pb.playbook.actions}
    features_used = {t.name: sorted(pb.expression("triggers", t.name).columns) for t in pb.playbook.triggers}
    features_used["handover"] = ["tier_move"]
    ids = tasks["customer_id"].unique().tolist()
    _register(duck, "k_task_customers", pd.DataFrame({"customer_id": ids}))
    people = {
        r["customer_id"]: r
        for r in duck.execute(f"""
        SELECT c.customer_id, c.name, c.gender FROM {snapshot_schema}.customers c
        SEMI JOIN k_task_customers USING (customer_id)""")
        .df()
        .to_dict("records")
    }
    facts = {
        r["customer_id"]: {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        for r in duck.execute(f"""
        SELECT customer_id, tier, aum_month_end, next_tier_gap, maturing_7d_amount,
               next_maturity_days, same_name_out, same_name_out_7d, gap_class, days_to_payday,
               fund_return, risk_expires_in_days, health_change, health_score
        FROM {run_schema}.profiles SEMI JOIN k_task_customers USING (customer_id)""")
        .df()
        .to_dict("records")
    }
    managers = dict(_frame(ops, "SELECT manager_id, name FROM staff").itertuples(index=False))
    talk, material, explanation, task_id = [], [], [], []
    for t in tasks.to_dict("records"):
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
        vals = values(f, person.get("name"), person.get("gender"), managers.get(t["manager_id"]), product, pb)
        talk.append(render(a.talk_track, vals))
        material.append(render(a.visit_material, vals) if a.visit_material else None)
        trigger = t["trigger"]
        explanation.append(
            {
                "trigger": trigger,
                "action": t["action"],
                "kind": a.kind,
                "rules_passed": [
                    "eligible",
                    "applicable",
                    "suitable",
                    "within_contact_policy",
                    "arbitrated",
                    "within_capacity",
                ],
                "product": None if product is None else t["product_id"],
                "dual_recording": bool(t["dual_recording"]),
                "score": {
                    "value": round(float(t["value"]), 2),
                    "propensity": round(float(t["propensity"]), 4),
                    "urgency": float(t["urgency"]),
                    "priority": round(float(t["priority"]), 4),
                },
                "features_used": features_used[trigger],
            }
        )
        task_id.append(f"{day.isoformat()}:{t['customer_id']}:{t['action']}")
    out = tasks.copy()
    out["talk_track"] = talk
    out["visit_material"] = material
    out["explanation"] = explanation
    out["task_id"] = task_id
    out["run_id"] = decision_id
    return out


def _funnel_counts(pairs: pd.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    order = {s: i for i, s in enumerate(STAGES)}
    order["task"] = len(STAGES)
    # a pair dropped at stage s passed every stage before s, and not s itself
    reached = pairs["stage"].fillna("task").map(order)
    funnel = {s: int((reached > i).sum()) if i else len(pairs) for i, s in enumerate(STAGES)}
    dropped = pairs[pairs["stage"] != "task"]
    reasons = (dropped["stage"] + ":" + dropped["reason"].fillna("")).value_counts()
    return funnel, {k: int(v) for k, v in reasons.items()}


def _withdrawals(
    duck: duckdb.DuckDBPyConnection, ops: Store, snapshot_schema: str, day: date, pb: LoadedPlaybook
) -> list[str]:
    """Open tasks whose contact the customer no longer allows: a withdrawn consent
    stops contacts from the next decision on, scheduled ones included."""
    open_tasks = _frame(
        ops, "SELECT task_id, customer_id, action, kind, channel FROM tasks WHERE status = 'open'"
    )
    if open_tasks.empty:
        return []
    _register(duck, "k_open_tasks", open_tasks)
    personalised = ", ".join(f"'{a.name}'" for a in pb.playbook.actions if a.personalised) or "''"
    rows = duck.execute(f"""
        WITH events AS (
            SELECT customer_id, purpose, granted, ts FROM {snapshot_schema}.consents
            SEMI JOIN k_open_tasks USING (customer_id)
            UNION ALL SELECT customer_id, purpose, granted, ts FROM k_consent_ops),
        latest AS (
            SELECT customer_id, purpose, arg_max(granted, ts) AS granted FROM events GROUP BY ALL)
        SELECT t.task_id FROM k_open_tasks t
        LEFT JOIN k_channel_consent cc ON cc.channel = t.channel
        LEFT JOIN latest g ON g.customer_id = t.customer_id AND g.purpose = cc.purpose
        LEFT JOIN latest pz ON pz.customer_id = t.customer_id
             AND pz.purpose = 'personalised_recommendation'
        LEFT JOIN k_prefs pr ON pr.customer_id = t.customer_id
        WHERE (t.kind = 'marketing' AND NOT coalesce(g.granted, FALSE))
           OR (t.kind <> 'marketing' AND g.granted = FALSE)
           OR (coalesce(pr.do_not_contact, FALSE) AND t.kind <> 'compliance')
           OR ((coalesce(pr.personalised_opt_out, FALSE) OR pz.granted = FALSE)
               AND (t.kind = 'marketing' OR t.action IN ({personalised})))
        """).fetchall()
    return [r[0] for r in rows]


def _publish(
    duck: duckdb.DuckDBPyConnection,
    ops: Store,
    pairs: pd.DataFrame,
    tasks: pd.DataFrame,
    owners: Owners,
    decision_id: str,
    day: date,
    snapshot_id: str,
    pipeline_run: str,
    model_version: str | None,
    now: datetime,
    snapshot_schema: str,
    pb: LoadedPlaybook,
) -> DecisionReport:
    funnel, dropped = _funnel_counts(pairs)
    report = DecisionReport(
        decision_id, day, snapshot_id, pipeline_run, model_version, funnel, dropped, unowned=owners.unowned
    )
    report.tasks_by_trigger = {k: int(v) for k, v in tasks["trigger"].value_counts().items()}
    report.tasks_by_channel = {k: int(v) for k, v in tasks["channel"].value_counts().items()}
    by_manager = tasks.groupby(["manager_id", "channel"]).size().unstack(fill_value=0)
    report.tasks_by_manager = {
        m: {c: int(n) for c, n in row.items() if n} for m, row in by_manager.iterrows()
    }
    report.ownership = {k: int(v) for k, v in owners.changes["reason"].value_counts().items()}
    withdrawn = _withdrawals(duck, ops, snapshot_schema, day, pb)
    report.withdrawn = len(withdrawn)

    schema = f"decision_{decision_id}"
    keep = [
        "customer_id",
        "trigger",
        "action",
        "kind",
        "manager_id",
        "stage",
        "reason",
        "value",
        "propensity",
        "priority",
        "channel",
        "product_id",
        "dual_recording",
    ]
    frame = pairs[[c for c in keep if c in pairs.columns]].copy()
    duck.register("k_funnel_df", frame)
    duck.execute("BEGIN TRANSACTION")
    duck.execute(f"CREATE SCHEMA {schema}")
    duck.execute(f"CREATE TABLE {schema}.pairs AS SELECT * FROM k_funnel_df")
    duck.execute("COMMIT")
    duck.unregister("k_funnel_df")

    stamp = clock_now()
    columns = [
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
    rows = [
        (
            t.task_id,
            t.run_id,
            day,
            t.customer_id,
            t.manager_id,
            t.action,
            t.trigger,
            t.kind,
            t.channel,
            t.scheduled_at.to_pydatetime(),
            t.window,
            float(t.priority),
            float(t.value),
            float(t.propensity),
            float(t.urgency),
            None if pd.isna(t.product_id) else t.product_id,
            t.talk_track,
            t.visit_material,
            t.explanation,
            "open",
            "batch",
            None,
            1,
            stamp,
            stamp,
        )
        for t in tasks.itertuples()
    ]
    with ops.engine.begin() as con:
        changes = owners.changes
        update_column(
            con,
            "customers",
            "customer_id",
            "owner_manager_id",
            list(zip(changes.customer_id, changes.to_manager_id, strict=True)),
        )
        load_rows(
            con,
            "ownership_log",
            ["customer_id", "from_manager_id", "to_manager_id", "reason", "at", "decision_run_id"],
            [
                (
                    c.customer_id,
                    None if pd.isna(c.from_manager_id) else c.from_manager_id,
                    c.to_manager_id,
                    c.reason,
                    stamp,
                    decision_id,
                )
                for c in changes.itertuples()
            ],
        )
        for claim_id in owners.applied_claims:
            con.execute(text("UPDATE claims SET status = 'applied' WHERE claim_id = :c"), {"c": claim_id})
        for r in owners.refused_claims.itertuples():
            con.execute(
                text("UPDATE claims SET status = 'refused', note = :n WHERE claim_id = :c"),
                {"c": int(r.claim_id), "n": r.reason},
            )
        # re-running a day replaces its untouched batch tasks, never worked ones
        con.execute(
            text("""
            DELETE FROM tasks WHERE as_of = :day AND source = 'batch' AND status = 'open'
            AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.task_id = tasks.task_id)"""),
            {"day": day},
        )
        load_rows(con, "tasks", columns, rows, ["task_id"], [])
        update_column(con, "tasks", "task_id", "status", [(t, "withdrawn") for t in withdrawn])
        con.execute(
            text("""
            INSERT INTO decision_runs (run_id, as_of, snapshot_id, pipeline_run_id, started_at,
                                       finished_at, status, model_version, counts)
            VALUES (:id, :day, :snap, :run, :start, :end, 'published', :model, :counts)"""),
            {
                "id": decision_id,
                "day": day,
                "snap": snapshot_id,
                "run": pipeline_run,
                "start": now,
                "end": stamp,
                "model": model_version,
                "counts": json.dumps({"funnel": funnel, "dropped": dropped, "withdrawn": len(withdrawn)}),
            },
        )
        # on the trail: one entry per run, whose digests cover every task and owner change
        with Session(bind=con) as s:
            record(
                s,
                [
                    Event(
                        "system:decide",
                        "system",
                        "decision_run",
                        None,
                        {
                            "decision": decision_id,
                            "day": day,
                            "tasks": len(rows),
                            "tasks_digest": digest(f"{r[0]}|{r[3]}|{r[4]}|{r[5]}|{r[8]}" for r in rows),
                            "withdrawn": len(withdrawn),
                            "reassigned": len(changes),
                            "reassign_digest": digest(
                                f"{c.customer_id}|{c.from_manager_id}|{c.to_manager_id}|{c.reason}"
                                for c in changes.itertuples()
                            ),
                            "model": model_version,
                        },
                        stamp,
                    )
                ],
            )
            s.flush()
    return report
