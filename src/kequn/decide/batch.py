"""``kequn decide``: the day's tasks for every manager.

Read-only until the end: the run's profiles and the snapshot are read from the
analytical store (which the workbench keeps reading meanwhile), the operational
state is copied into the decision's own DuckDB, the funnel's stages run there
as SQL (or on Spark), arbitration and capacity in Python. Then one transaction
of the operational store writes everything the decision changes — the cards
that changed, owners, tasks, withdrawals, the campaign verdicts, the run's row
and its audit entry — and the pairs with their verdicts are listed for
``kequn why``. A killed or failed decide leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import json
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from kequn import warehouse
from kequn.core.clock import SHANGHAI
from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.core.faults import point
from kequn.decide import funnel
from kequn.decide.arbitrate import Room, arbitrate, capacity_of
from kequn.decide.beside import Beside
from kequn.decide.campaign_hits import load_campaign_proposals, record_verdicts
from kequn.decide.decisions_kept import day_lock, latest_run, list_orphans, next_decision_id, published_for
from kequn.decide.inputs import batch_tables, load_ops_state
from kequn.decide.owners_step import Owners, owners_tonight, write_owners
from kequn.decide.ownership import RM_ROLES
from kequn.decide.propensity import active_model, batch_scorer
from kequn.decide.sync import SyncPlan, apply_sync, plan_sync
from kequn.decide.tasks import frame_of, load_tasks, talk_tracks
from kequn.pipeline import compiled
from kequn.pipeline.catalog import RunInfo
from kequn.pipeline.run import pick_snapshot
from kequn.playbook import LoadedPlaybook, load_playbook
from kequn.privacy.audit import Event, digest, record
from kequn.rules import STAGE_NAMES
from kequn.rules import consent as consent_rules
from kequn.store import default_url, open_store
from kequn.store.bulk import update_column

Progress = Callable[[str, int, int], None]
#: what the decision's DuckDB may hold before it spills beside the store (the
#: pairs, arbitration and the operational store's copy are Python's, beyond it)
DECIDE_MEMORY = "1500MB"
STEPS = ("sync", "owners", "funnel", "arbitrate", "publish")
#: what the decision's file keeps of each pair (``kequn why``)
KEPT = (
    "customer_id",
    "trigger",
    "action",
    "kind",
    "manager_id",
    "stage",
    "rule",
    "value",
    "propensity",
    "priority",
    "channel",
    "product_id",
    "dual_recording",
    "campaign_id",
)

#: the pairs' columns the rules read and nothing after them does (the arbitration,
#: talk tracks, tasks and the decision's file read the channels left, not these)
UNREAD_AFTER_RULES = ("segments", "channels", "allowed", "campaign_channels", "broken_rule")


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
    synced: dict[str, int] = field(default_factory=dict)
    unowned: int = 0
    withdrawn: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    engine: str = "duckdb"


def decide(
    store: Path,
    ops_url: str | None = None,
    playbook: Path | None = None,
    as_of: date | None = None,
    day: date | None = None,
    progress: Progress | None = None,
    engine: str = "duckdb",
    replace: bool = False,
    memory_limit: str = DECIDE_MEMORY,
) -> DecisionReport:
    """Decides ``day`` (default: the day after the snapshot). A day already
    decided is refused unless ``replace``: then its untouched batch tasks are
    replaced, worked ones kept."""
    report_progress = progress or (lambda stage, done, total: None)
    pb = load_playbook(playbook)
    snapshot = pick_snapshot(store, as_of)
    day = day or snapshot.as_of + timedelta(days=1)
    now = datetime.combine(day, time(0, 0), SHANGHAI)
    ops = open_store(ops_url or default_url(store))
    marks: dict[str, float] = {}

    def step(name: str) -> None:
        marks[name] = clock.monotonic()
        report_progress(name, STEPS.index(name), len(STEPS))

    try:
        with day_lock(store):
            with ops.engine.connect() as con:
                done = published_for(con, day)
                list_orphans(store, con)
            if done and not replace:
                raise KequnError(
                    f"{day} is already decided (decision {done[-1]}): its tasks are in managers' hands. "
                    "`kequn decide --replace` decides it again, keeping the tasks already worked"
                )
            duck = warehouse.reader(store, [snapshot.schema])
            try:
                duck.execute("SET preserve_insertion_order = false")
                warehouse.limit_memory(duck, memory_limit)
                run = latest_run(duck, snapshot.snapshot_id)
                warehouse.attach(duck, store, [run.schema])
                night = _read_night(duck, ops, pb, snapshot.schema, run, day, now, step)
                # the publish transaction opens now: the cards and owners are written
                # into it while the funnel runs (``kequn.decide.beside``)
                with ops.engine.begin() as con:
                    beside = Beside(con, duck, lambda d: _cards_and_owners(d, con, night, pb))
                    try:
                        made, report, write = _decide(
                            duck,
                            store,
                            ops,
                            pb,
                            snapshot.schema,
                            snapshot.snapshot_id,
                            run,
                            day,
                            now,
                            step,
                            engine,
                            night,
                            beside,
                        )
                    except BaseException:
                        beside.abandon()
                        raise
                    step("publish")
                    write(con)
                    point("decide.publish", drop=lambda: _drop_connection(con))
            finally:
                duck.close()
            # the tasks are committed: the pairs behind them are listed for `kequn why`
            warehouse.publish(store, made, lambda cat: None)
            # the night's cards, holdings, timeline and tasks, as the pages will read them
            ops.refresh_statistics()
    finally:
        ops.dispose()
    report_progress("publish", len(STEPS), len(STEPS))
    ends = [*marks.values(), clock.monotonic()]
    report.seconds = {name: round(ends[i + 1] - ends[i], 2) for i, name in enumerate(marks)}
    return report


@dataclass
class Night:
    """What a night's decisions start from, read before anything is written: the
    sync's plan, tonight's owners and the operational store's state."""

    stamp: datetime
    plan: SyncPlan
    owners: Owners
    counts: dict[str, int]
    taken: pd.DataFrame  # today's tasks made outside the batch
    open_tasks: pd.DataFrame
    decision_id: str
    model: Any
    score: Any


def _read_night(
    duck: duckdb.DuckDBPyConnection,
    ops: Any,
    pb: LoadedPlaybook,
    snapshot_schema: str,
    run: RunInfo,
    day: date,
    now: datetime,
    step: Callable[[str], None],
) -> Night:
    stamp = clock_now()
    with ops.engine.connect() as con:
        step("sync")
        point("decide.sync")
        plan = plan_sync(duck, con, snapshot_schema, run, pb, stamp)
        step("owners")
        owners = owners_tonight(duck, con, run, snapshot_schema, pb)
        step("funnel")
        point("decide.funnel")
        counts = load_ops_state(con, duck, now, pb, "batch")
        counts["campaign_proposals"] = load_campaign_proposals(con, duck, day)
        taken = frame_of(
            con,
            "SELECT customer_id, manager_id, channel FROM tasks "
            "WHERE as_of = :day AND status IN ('open', 'done') AND source <> 'batch'",
            day=day,
        )
        open_tasks = frame_of(
            con, "SELECT task_id, customer_id, action, kind, channel, source FROM tasks WHERE status = 'open'"
        )
        decision_id = next_decision_id(con, duck, day)
        model = active_model(ops)
        score = batch_scorer(duck, con, pb, model, run.schema, now)
    return Night(stamp, plan, owners, counts, taken, open_tasks, decision_id, model, score)


def _cards_and_owners(
    duck: duckdb.DuckDBPyConnection, con: Connection, night: Night, pb: LoadedPlaybook
) -> dict[str, int]:
    """The sync's writes and tonight's owners (``Beside`` runs them)."""
    synced = apply_sync(duck, con, night.plan, pb)
    # a new card came with its owner (``apply_sync``): the known cards are updated
    new_cards = {r[0] for r in duck.execute("SELECT customer_id FROM k_cards_changed WHERE new").fetchall()}
    write_owners(duck, con, night.owners, night.stamp, night.decision_id, new_cards)
    return synced


def _decide(
    duck: duckdb.DuckDBPyConnection,
    store: Path,
    ops: Any,
    pb: LoadedPlaybook,
    snapshot_schema: str,
    snapshot_id: str,
    run: RunInfo,
    day: date,
    now: datetime,
    step: Callable[[str], None],
    engine: str,
    night: Night,
    beside: Beside[dict[str, int]],
) -> tuple[warehouse.NewFile, DecisionReport, Callable[[Connection], None]]:
    """The funnel, the arbitration and the decision's file, while ``beside``
    writes the cards: returns the file, the report and the function that writes
    the rest in the publish transaction."""
    plan, owners, counts, taken, open_tasks = (
        night.plan,
        night.owners,
        night.counts,
        night.taken,
        night.open_tasks,
    )
    decision_id, model, score, stamp = night.decision_id, night.model, night.score, night.stamp
    tables = batch_tables(duck, run.schema, snapshot_schema, pb, now, day)
    duck.execute("""
        CREATE OR REPLACE TEMP TABLE k_extra_props AS
        SELECT customer_id, 'handover' AS trigger, 0.6 AS urgency, 'handover_intro' AS action,
               CAST(NULL AS VARCHAR) AS campaign_id, CAST(NULL AS VARCHAR[]) AS campaign_channels
        FROM k_handover
        UNION ALL SELECT customer_id, trigger, urgency, action, campaign_id, campaign_channels
        FROM k_campaign_props""")
    ic = ibis.duckdb.from_connection(duck)
    proposing = compiled.one_query(
        "decide-proposals",
        duck,
        ["k_facts", "k_extra_props"],
        pb.digest,
        lambda: str(ic.compile(funnel.proposals_for(tables["k_facts"], pb, ic.table("k_extra_props")))),
    )
    duck.execute(f"CREATE OR REPLACE TEMP TABLE k_proposals AS {proposing}")
    tables["k_proposals"] = ic.table("k_proposals")
    _verdicts(duck, ic, tables, pb, engine)
    step("arbitrate")
    # the live pairs without the lists no later step reads: they were nearly half
    # of each row the arbitration holds, and copies, in Python
    present = {d[0] for d in duck.execute("SELECT * FROM k_verdicts LIMIT 0").description}
    unread = [c for c in UNREAD_AFTER_RULES if c in present]
    live = duck.execute(
        f"SELECT * EXCLUDE ({', '.join(unread)}) FROM k_verdicts WHERE rule IS NULL"
        if unread
        else "SELECT * FROM k_verdicts WHERE rule IS NULL"
    ).df()
    staff = duck.execute(f"""
        SELECT manager_id, capacity_phone, capacity_visit, capacity_wechat, capacity_sms
        FROM {snapshot_schema}.managers WHERE coalesce(active, TRUE)""").df()
    per_customer = taken.groupby("customer_id").size().to_dict() if len(taken) else {}
    booked = (
        {(m, c): int(n) for (m, c), n in taken.groupby(["manager_id", "channel"]).size().items()}
        if len(taken)
        else {}
    )
    tasks, dropped = arbitrate(live, Room(capacity_of(staff, taken), per_customer, booked), pb, score, day)
    tasks = talk_tracks(tasks, duck, snapshot_schema, run.schema, ops, pb, decision_id, day)
    report = DecisionReport(decision_id, day, snapshot_id, run.run_id, model.version if model else None)
    report.counts = {**counts, "cards": plan.cards, "cards_changed": plan.changed}
    report.unowned = owners.unowned
    report.engine = engine
    arbitrated = pd.concat([tasks.assign(stage="task", rule=""), dropped])
    _summarise(report, duck, arbitrated, tasks, owners)
    if (
        not len(staff)
        or int(staff[[f"capacity_{c}" for c in ("phone", "visit", "wechat", "sms")]].to_numpy().sum()) == 0
    ):
        report.warnings.append(
            "no manager with any capacity in the extract (its managers file has none, or none active): "
            "no task could be given; customers stay unowned until staff are on file"
        )
    withdrawn = _withdrawals(duck, open_tasks, snapshot_schema, pb)
    report.withdrawn = len(withdrawn)
    # every column, typed as the SQL stages type it: a day with nothing to arbitrate
    # (no staff, no live pair) has an empty frame whose columns pandas cannot type
    pairs_frame = arbitrated.reindex(columns=list(KEPT))
    duck.register("k_arbitrated", pairs_frame)
    typed = dict(duck.execute("SELECT column_name, column_type FROM (DESCRIBE k_verdicts)").fetchall())
    typed |= {"propensity": "DOUBLE", "priority": "DOUBLE", "channel": "VARCHAR"}
    nulls = {c: f"CAST(NULL AS {typed[c]})" for c in ("propensity", "priority", "channel")}
    dropped_sql = ", ".join(f"{nulls[c]} AS {c}" if c in nulls else c for c in KEPT)
    arbitrated_sql = ", ".join(f"CAST({c} AS {typed[c]}) AS {c}" for c in KEPT)
    schema = f"decision_{decision_id}"
    with warehouse.new_artifact(duck, store, schema, "decision", day) as made:
        duck.execute(f"""
            CREATE TABLE {schema}.pairs AS
            SELECT {dropped_sql} FROM k_verdicts WHERE rule IS NOT NULL
            UNION ALL BY NAME SELECT {arbitrated_sql} FROM k_arbitrated""")
    duck.unregister("k_arbitrated")
    verdicts = duck.execute(
        "SELECT customer_id, trigger, stage, rule FROM k_verdicts WHERE rule IS NOT NULL AND trigger "
        "LIKE 'campaign:%'"
    ).df()
    verdicts = pd.concat(
        [verdicts, arbitrated[arbitrated["trigger"].astype(str).str.startswith("campaign:")]]
    )
    leavers: list[str] = []
    if len(open_tasks):
        # their customers not in tonight's cards, found in DuckDB: a million ids
        # taken into pandas for a set difference took seconds
        duck.register("k_open_customers", pd.DataFrame({"customer_id": open_tasks["customer_id"].unique()}))
        leavers = [
            r[0]
            for r in duck.execute(
                "SELECT CAST(customer_id AS VARCHAR) FROM k_open_customers "
                "ANTI JOIN k_cards USING (customer_id) ORDER BY 1"
            ).fetchall()
        ]
        duck.unregister("k_open_customers")

    def write(con: Connection) -> None:
        report.synced = beside.result()
        # a re-decided day replaces its untouched batch tasks, never worked ones
        con.execute(
            text("""
            DELETE FROM tasks WHERE as_of = :day AND source = 'batch' AND status = 'open'
            AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.task_id = tasks.task_id)"""),
            {"day": day},
        )
        load_tasks(con, duck, tasks, day, stamp, "batch")
        gone = (
            withdrawn + list(open_tasks[open_tasks.customer_id.isin(leavers)].task_id)
            if leavers
            else withdrawn
        )
        update_column(con, "tasks", "task_id", "status", [(t, "withdrawn") for t in gone])
        record_verdicts(con, verdicts, day)
        con.execute(
            text("""
            INSERT INTO decision_runs (run_id, as_of, snapshot_id, pipeline_run_id, started_at,
                                       finished_at, status, model_version, counts, pairs_file)
            VALUES (:id, :day, :snap, :run, :start, :end, 'published', :model, :counts, :file)"""),
            {
                "id": decision_id,
                "day": day,
                "snap": snapshot_id,
                "run": run.run_id,
                "start": now,
                "end": clock_now(),
                "model": report.model_version,
                "counts": json.dumps(
                    {
                        "funnel": report.funnel,
                        "dropped": report.dropped,
                        "withdrawn": len(gone),
                        "engine": engine,
                    }
                ),
                "file": made.file,
            },
        )
        # on the trail: one entry per run, whose digests cover every task and owner change
        changes = owners.changes
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
                            "tasks": len(tasks),
                            "tasks_digest": digest(
                                "|".join(map(str, r))
                                for r in tasks.reindex(
                                    columns=["task_id", "customer_id", "manager_id", "action", "channel"]
                                ).itertuples(index=False)
                            ),
                            "withdrawn": len(gone),
                            "reassigned": len(changes),
                            "reassign_digest": digest(
                                f"{c.customer_id}|{c.from_manager_id}|{c.to_manager_id}|{c.reason}"
                                for c in changes.itertuples()
                            ),
                            "model": report.model_version,
                        },
                        stamp,
                    )
                ],
            )
            s.flush()

    return made, report, write


def _verdicts(
    duck: duckdb.DuckDBPyConnection, ic: Any, tables: dict[str, Any], pb: LoadedPlaybook, engine: str
) -> None:
    """``k_verdicts``: every pair with its stage and rule, on DuckDB or on Spark."""
    if engine == "duckdb":
        # the same SQL every night for the same playbook and code: compiled once, kept
        judging = compiled.one_query(
            "decide-verdicts",
            duck,
            sorted(tables),
            pb.digest,
            lambda: str(ic.compile(funnel.verdicts(tables, pb))),
        )
        duck.execute(f"CREATE OR REPLACE TEMP TABLE k_verdicts AS {judging}")
        return
    if engine != "spark":
        raise KequnError(f"unknown engine {engine!r}: duckdb or spark")
    from kequn.decide.spark import verdicts_on_spark

    duck.register("k_spark_verdicts", verdicts_on_spark(duck, pb))
    duck.execute("CREATE OR REPLACE TEMP TABLE k_verdicts AS SELECT * FROM k_spark_verdicts")
    duck.unregister("k_spark_verdicts")


def _summarise(
    report: DecisionReport,
    duck: duckdb.DuckDBPyConnection,
    arbitrated: pd.DataFrame,
    tasks: pd.DataFrame,
    owners: Owners,
) -> None:
    """The funnel's counts: pairs entering each stage, drops by stage and rule."""
    sql_drops = dict(
        ((s, r), int(n))
        for s, r, n in duck.execute(
            "SELECT stage, rule, count(*) FROM k_verdicts WHERE rule IS NOT NULL GROUP BY 1, 2"
        ).fetchall()
    )
    later = arbitrated[arbitrated["stage"] != "task"].groupby(["stage", "rule"]).size()
    drops = {**sql_drops, **{k: int(v) for k, v in later.items()}}
    total_row = duck.execute("SELECT count(*) FROM k_verdicts").fetchone()
    total = int(total_row[0]) if total_row else 0
    entering = total
    for stage in STAGE_NAMES:
        report.funnel[stage] = entering
        entering -= sum(n for (s, _), n in drops.items() if s == stage)
    report.dropped = {f"{s}:{r}": n for (s, r), n in sorted(drops.items())}
    report.tasks_by_trigger = (
        {str(k): int(v) for k, v in tasks["trigger"].value_counts().items()} if len(tasks) else {}
    )
    report.tasks_by_channel = (
        {str(k): int(v) for k, v in tasks["channel"].value_counts().items()} if len(tasks) else {}
    )
    if len(tasks):
        by_manager = tasks.groupby(["manager_id", "channel"]).size().unstack(fill_value=0)
        report.tasks_by_manager = {
            str(m): {c: int(n) for c, n in row.items() if n} for m, row in by_manager.iterrows()
        }
    report.ownership = {str(k): int(v) for k, v in owners.changes["reason"].value_counts().items()}


def _withdrawals(
    duck: duckdb.DuckDBPyConnection, open_tasks: pd.DataFrame, snapshot_schema: str, pb: LoadedPlaybook
) -> list[str]:
    """Open tasks the customer's consents and preferences no longer allow
    (``rules.consent.withdrawn``): a withdrawal stops contacts from the next
    decision on, scheduled ones included."""
    if open_tasks.empty:
        return []
    personalised = {a.name for a in pb.playbook.actions if a.personalised}
    frame = open_tasks.assign(personalised=open_tasks["action"].isin(personalised))
    # a referral: the customer asked in the branch; only do-not-contact withdraws it
    duck.register("k_open_tasks", frame)
    ic = ibis.duckdb.from_connection(duck)
    t = ic.table("k_open_tasks")
    state = consent_rules.latest_consents(ic.table("k_consent_events"))
    j = t.left_join(state, "customer_id")
    j = j.select(t, *(state[c] for c in state.columns if c != "customer_id"))
    prefs = ic.table("k_prefs")
    j = j.left_join(prefs, "customer_id").select(j, prefs.do_not_contact, prefs.personalised_opt_out)
    why = consent_rules.withdrawn(j, j.kind, j.channel, j.personalised, pb.playbook.contact.channel_consent)
    why = ibis.ifelse((j.source == "referral") & (why != "do_not_contact"), ibis.null("string"), why)
    rows = duck.execute(ic.compile(j.select("task_id", why=why).filter(ibis._.why.notnull()))).fetchall()
    duck.unregister("k_open_tasks")
    return [r[0] for r in rows]


def _drop_connection(con: Any) -> None:
    """For the fault test: the database ends this session mid-transaction, as a
    failover or a network cut would (PostgreSQL only; SQLite has no server)."""
    if con.dialect.name == "postgresql":
        with contextlib.suppress(Exception):
            con.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")


__all__ = ["RM_ROLES", "DecisionReport", "decide", "latest_run"]
