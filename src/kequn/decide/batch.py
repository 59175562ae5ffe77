"""``kequn decide``: the day's tasks for every manager, published atomically into
the operational store, each with its explanation; every dropped pair kept with
its reason in the analytical store, for ``kequn why``."""

from __future__ import annotations

import contextlib
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

from kequn import warehouse
from kequn.core.clock import SHANGHAI
from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.core.faults import point
from kequn.decide.campaign_hits import load_campaign_hits, record_verdicts
from kequn.decide.capacity import fit, schedule
from kequn.decide.funnel import STAGES, build_pairs, register_playbook
from kequn.decide.ownership import assign_owners
from kequn.decide.propensity import active_model, propensity
from kequn.decide.sync import sync
from kequn.decide.tasks import TASK_COLUMNS, frame_of, register_frame, talk_tracks, task_rows
from kequn.pipeline.catalog import RunInfo, list_runs
from kequn.pipeline.run import pick_snapshot
from kequn.playbook import LoadedPlaybook, load_playbook
from kequn.privacy.audit import Event, digest, record
from kequn.store import Store, default_url, open_store
from kequn.store.bulk import load_rows, update_column

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
    duck = warehouse.reader(store, [snapshot.schema])
    timings: dict[str, float] = {}
    steps = ["sync", "owners", "funnel", "arbitrate", "publish"]

    def step(name: str) -> None:
        timings[name] = clock_now().timestamp()
        report_progress(name, steps.index(name), len(steps))

    try:
        run = latest_run(duck, snapshot.snapshot_id)
        warehouse.attach(duck, store, [run.schema])
        step("sync")
        point("decide.sync")
        synced = sync(duck, ops, snapshot.schema, run, pb, clock_now())
        step("owners")
        owners = _ownership(duck, ops, run, pb)
        step("funnel")
        point("decide.funnel")
        _load_ops_state(duck, ops, owners, now, pb)
        load_campaign_hits(duck, ops, day)
        register_playbook(duck, pb)
        build_pairs(duck, run.schema, snapshot.schema, pb, now)
        step("arbitrate")
        model = active_model(ops)
        pairs, tasks = _arbitrate(duck, ops, pb, model, day)
        step("publish")
        decision_id = _next_decision_id(ops, duck, day)
        tasks = talk_tracks(tasks, duck, snapshot.schema, run.schema, ops, pb, decision_id, day)
        report, made = _publish(
            store,
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
    finally:
        duck.close()
        ops.dispose()
    # the tasks are committed: the pairs behind them are listed for `kequn why`
    warehouse.publish(store, made, lambda cat: None)
    return report


@dataclass
class Owners:
    changes: pd.DataFrame
    owner: pd.DataFrame  # customer_id, manager_id
    refused_claims: pd.DataFrame
    applied_claims: list[int]
    unowned: int


def _ownership(duck: duckdb.DuckDBPyConnection, ops: Store, run: RunInfo, pb: LoadedPlaybook) -> Owners:
    cards = frame_of(ops, "SELECT customer_id, home_branch_id, owner_manager_id, tier FROM customers")
    moves = duck.execute(f"SELECT customer_id, tier_move FROM {run.schema}.profiles").df()
    cards = cards.merge(moves, on="customer_id", how="left")
    staff = frame_of(ops, "SELECT manager_id, branch_id, role, active, successor_id FROM staff")
    branches = frame_of(ops, "SELECT branch_id, parent_id FROM branches")
    claims = frame_of(
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
    duck: duckdb.DuckDBPyConnection,
    ops: Store,
    owners: Owners,
    now: datetime,
    pb: LoadedPlaybook,
    replaced_source: str = "batch",
) -> None:
    """The operational state the funnel reads, as DuckDB temp tables. Today's open
    tasks count as open unless they come from ``replaced_source`` (the batch a
    re-run replaces)."""
    c = pb.playbook.contact
    horizon = now - timedelta(days=max(c.cap_days, c.suppress_window_days + c.suppress_days, c.snooze_days))
    register_frame(duck, "k_owner", owners.owner)
    handover = owners.changes[owners.changes.reason == "tier_move"][["customer_id"]]
    register_frame(duck, "k_handover", handover.reset_index(drop=True))
    register_frame(
        duck,
        "k_prefs",
        frame_of(ops, "SELECT customer_id, do_not_contact, personalised_opt_out FROM contact_prefs"),
    )
    consents = frame_of(ops, "SELECT customer_id, purpose, granted, ts FROM consents")
    consents["ts"] = pd.to_datetime(consents["ts"], utc=True, format="ISO8601")
    register_frame(duck, "k_consent_ops", consents)
    history = frame_of(
        ops, "SELECT customer_id, action, kind, outcome, at FROM outcomes WHERE at >= :since", since=horizon
    )
    history["at"] = pd.to_datetime(history["at"], utc=True, format="ISO8601")
    register_frame(duck, "k_history", history)
    register_frame(
        duck,
        "k_open",
        frame_of(
            ops,
            "SELECT DISTINCT customer_id, action FROM tasks WHERE status = 'open' "
            "AND (as_of < :day OR (as_of = :day AND source <> :replaced))",
            day=now.date(),
            replaced=replaced_source,
        ),
    )


def _arbitrate(
    duck: duckdb.DuckDBPyConnection,
    ops: Store,
    pb: LoadedPlaybook,
    model: Any,
    day: date,
    taken: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ranks the live pairs and fits them into capacity; ``taken`` (customer_id,
    manager_id, channel): today's tasks already made, whose slots are used."""
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
    keep = pd.Series(pb.playbook.contact.tasks_per_customer_per_day, index=live.index)
    if taken is not None and len(taken):
        already = live["customer_id"].map(taken.groupby("customer_id").size()).fillna(0)
        keep = keep - already.astype(int)
    chosen = live[live["rank"] < keep].copy()
    outranked = live[live["rank"] >= keep]
    staff = frame_of(
        ops,
        "SELECT manager_id, capacity_phone, capacity_visit, capacity_wechat, "
        "capacity_sms FROM staff WHERE active",
    )
    capacity = {
        (m.manager_id, ch): int(getattr(m, f"capacity_{ch}")) for m in staff.itertuples() for ch in CHANNELS
    }
    if taken is not None:
        for (manager, channel), n in taken.groupby(["manager_id", "channel"]).size().items():
            if (manager, channel) in capacity:
                capacity[(manager, channel)] = max(0, capacity[(manager, channel)] - int(n))
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


def _drop_connection(con: Any) -> None:
    """For the fault test: the database ends this session mid-transaction, as a
    failover or a network cut would (PostgreSQL only; SQLite has no server)."""
    if con.dialect.name == "postgresql":
        with contextlib.suppress(Exception):
            con.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")


def _next_decision_id(ops: Store, duck: duckdb.DuckDBPyConnection, day: date) -> str:
    """The next free id of the day in both stores (either may have been reset)."""
    with ops.engine.connect() as con:
        taken = set(
            con.execute(text("SELECT run_id FROM decision_runs WHERE as_of = :d"), {"d": day}).scalars()
        )
    taken |= {
        a.name.removeprefix("decision_")
        for a in warehouse.artifacts(duck)
        if a.kind == "decision" and a.name.startswith(f"decision_{day:%Y%m%d}_")
    }
    n = 1
    while f"{day:%Y%m%d}_{n:02d}" in taken:
        n += 1
    return f"{day:%Y%m%d}_{n:02d}"


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
    open_tasks = frame_of(
        ops, "SELECT task_id, customer_id, action, kind, channel FROM tasks WHERE status = 'open'"
    )
    if open_tasks.empty:
        return []
    register_frame(duck, "k_open_tasks", open_tasks)
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
    store: Path,
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
) -> tuple[DecisionReport, warehouse.NewFile]:
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
    with warehouse.new_artifact(duck, store, schema, "decision", day) as made:
        duck.execute(f"CREATE TABLE {schema}.pairs AS SELECT * FROM k_funnel_df")
    duck.unregister("k_funnel_df")

    stamp = clock_now()
    rows = task_rows(tasks, day, stamp, "batch")
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
        load_rows(con, "tasks", TASK_COLUMNS, rows, ["task_id"], [])
        update_column(con, "tasks", "task_id", "status", [(t, "withdrawn") for t in withdrawn])
        record_verdicts(con, pairs, day)
        point("decide.publish", drop=lambda: _drop_connection(con))
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
    return report, made
