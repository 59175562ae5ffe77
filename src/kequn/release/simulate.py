"""A playbook change rehearsed on the latest bank before it goes live.

``simulate(store, ops_url, candidate)`` runs the nightly run and decide twice
on scratch copies of the bank's two stores, once under the active playbook
(whose run is reused when the latest one was made under it) and once under
the candidate, through the very functions the night runs
(``run_pipeline`` and ``decide``), and returns the difference: tiers moved,
owners changed, segments resized, the day's tasks by action, channel, branch
and manager, each manager's capacity, the funnel's drops, who is left with
nothing, offer rates by group and the day's expected value. Both sides go the
same way, so what differs is the playbook and nothing else; the real stores
are only read (``kequn.release.scratch``)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import create_engine, text

from kequn import warehouse
from kequn.decide.batch import decide
from kequn.ingest.store import snapshots
from kequn.pipeline import run_pipeline, runs
from kequn.playbook import load_playbook
from kequn.release.scratch import clone_store, scratch_ops
from kequn.rules import STAGE_NAMES
from kequn.store import default_url

CHANNELS = ("phone", "visit", "wechat", "sms")
#: the groups offers are compared across (the customer's columns in the run)
GROUPS = {
    "age_band": """CASE WHEN age IS NULL THEN 'unknown' WHEN age < 30 THEN '18-29'
                   WHEN age < 45 THEN '30-44' WHEN age < 60 THEN '45-59'
                   WHEN age < 70 THEN '60-69' ELSE '70+' END""",
    "gender": "coalesce(gender, 'unknown')",
    "hukou": "CASE WHEN hukou_local THEN 'local' WHEN NOT hukou_local THEN 'non_local' ELSE 'unknown' END",
    "tier": "tier",
}


#: the groups and their values as a strategist names them
GROUP_ZH = {"age_band": "年龄段", "gender": "性别", "hukou": "户籍", "tier": "层级"}
VALUE_ZH = {"F": "女", "M": "男", "local": "本地", "non_local": "非本地(新市民)", "unknown": "未知"}
MEASURE_ZH = {"task_rate": "任务覆盖率", "high_risk_share": "R4-R5产品推荐占比"}


@dataclass(frozen=True)
class ManagerLoad:
    manager_id: str
    channel: str
    capacity: int
    tasks: int


@dataclass(frozen=True)
class GroupRate:
    customers: int
    tasked: int  # customers with at least one task
    offers: int  # tasks that offer a product
    high_risk_offers: int  # of those, products rated R4 or R5

    @property
    def task_rate(self) -> float:
        return self.tasked / self.customers if self.customers else 0.0

    @property
    def high_risk_share(self) -> float:
        return self.high_risk_offers / self.offers if self.offers else 0.0


@dataclass(frozen=True)
class Side:
    """One playbook's night and day on the latest snapshot."""

    playbook: str
    digest: str
    run_id: str
    decision_id: str
    customers: int
    tiers: dict[str, int]
    tier_aum: dict[str, Decimal]
    segments: dict[str, int]
    tasks: int
    tasks_by_action: dict[str, int]
    tasks_by_channel: dict[str, int]
    tasks_by_branch: dict[str, int]
    funnel: dict[str, int]
    dropped: dict[str, int]  # "stage:rule" -> pairs
    nothing: dict[str, int]  # "stage:rule" -> customers with a trigger and no task
    expected_value: float  # the day's tasks: value x propensity
    managers: list[ManagerLoad]
    waiting: dict[str, int]  # manager -> pairs that found every channel of theirs full
    groups: dict[str, dict[str, GroupRate]]


@dataclass(frozen=True)
class Move:
    from_tier: str
    to_tier: str
    customers: int
    aum: Decimal


@dataclass
class Simulation:
    snapshot_id: str
    day: date
    active: Side
    candidate: Side
    migration: list[Move] = field(default_factory=list)
    owner_changes: int = 0  # customers whose manager would change
    role_changes: int = 0  # of those, whose manager's role changes too
    flags: list[str] = field(default_factory=list)  # group rates moved past the threshold


def simulate(
    store: Path,
    ops_url: str | None,
    candidate: Path,
    active: Path | None = None,
    threshold: float | None = None,
    workdir: Path | None = None,
) -> Simulation:
    """Rehearses ``candidate`` beside ``active`` (default: Kequn's own playbook)
    on the latest snapshot; neither store is written. ``threshold``: the change
    in a group's task rate or high-risk share that is flagged (default: the
    candidate's ``release.fairness_threshold``)."""
    proposed = load_playbook(candidate)  # a bad candidate is refused before any data is copied
    in_force = load_playbook(active)
    latest = snapshots(store)[-1] if snapshots(store) else None
    made = [r for r in runs(store) if latest and r.snapshot_id == latest.snapshot_id]
    # the night's run under the playbook in force is already published: a run is a
    # function of the snapshot, the run before and the playbook, so it is not made again
    reuse = bool(made) and made[-1].playbook_digest == in_force.digest
    if threshold is None:
        threshold = proposed.playbook.release.fairness_threshold
    url = ops_url or default_url(store)
    with tempfile.TemporaryDirectory(prefix="kequn-simulate-", dir=workdir) as tmp:
        sides: dict[str, tuple[Side, pa.Table]] = {}
        for name, playbook in (("active", active), ("candidate", candidate)):
            scratch = Path(tmp) / name
            side_store = clone_store(store, scratch / "bank.duckdb")
            with scratch_ops(url, scratch / "ops.sqlite") as side_ops:
                if not (name == "active" and reuse):
                    run_pipeline(side_store, playbook=playbook)
                report = decide(side_store, side_ops, playbook=playbook, replace=True)
                sides[name] = _side(side_store, side_ops, report.run_id, playbook)
        (before, people_before), (after, people_after) = sides["active"], sides["candidate"]
        sim = Simulation(report.snapshot_id, report.day, before, after)
        names = {t.name: t.zh for t in proposed.playbook.tiers.ladder}
        _compare(sim, people_before, people_after, threshold, names)
    return sim


def _side(store: Path, ops_url: str, decision_id: str, playbook: Path | None) -> tuple[Side, pa.Table]:
    pb = load_playbook(playbook)
    owners = _owners(ops_url)
    con = warehouse.reader(store)
    try:
        run = warehouse.latest(con, "run")
        snap = warehouse.latest(con, "snapshot")
        assert run is not None and snap is not None
        decision = f"decision_{decision_id}"
        warehouse.attach(con, None, [decision])
        r, s, d = run.name, snap.name, decision
        con.register("owners", owners)
        con.execute(f"""
            CREATE TEMP TABLE people AS
            SELECT p.customer_id, p.tier, p.aum, p.home_branch_id, p.segments,
                   {", ".join(f"{expr} AS {g}" for g, expr in GROUPS.items())},
                   o.owner_manager_id, o.owner_role
            FROM {r}.profiles p LEFT JOIN owners o USING (customer_id)""")
        con.execute(f"""
            CREATE TEMP TABLE tasks AS
            SELECT t.*, p.home_branch_id, pr.risk_level AS product_risk
            FROM {d}.pairs t JOIN people p USING (customer_id)
            LEFT JOIN {s}.products pr USING (product_id)
            WHERE t.stage = 'task'""")

        def counts(sql: str) -> dict[str, int]:
            return {str(k): int(n) for k, n in con.execute(sql).fetchall()}

        dropped = counts(f"""
            SELECT stage || ':' || rule, count(*) FROM {d}.pairs WHERE stage <> 'task' GROUP BY 1""")
        # a customer with a trigger and no task: the drop that came closest to a task
        order = ", ".join(f"'{name}'" for name in STAGE_NAMES)
        nothing = counts(f"""
            SELECT reason, count(*) FROM (
                SELECT arg_max(stage || ':' || rule, list_position([{order}], stage)) AS reason
                FROM {d}.pairs GROUP BY customer_id HAVING bool_and(stage <> 'task'))
            GROUP BY 1""")
        funnel = {}
        entering = int(con.execute(f"SELECT count(*) FROM {d}.pairs").fetchone()[0])  # type: ignore[index]
        for stage in STAGE_NAMES:
            funnel[stage] = entering
            entering -= sum(n for k, n in dropped.items() if k.split(":", 1)[0] == stage)
        funnel["task"] = entering
        managers = [
            ManagerLoad(m, c, int(cap), int(n))
            for m, c, cap, n in con.execute(f"""
                WITH capacity AS (
                    UNPIVOT (SELECT manager_id, {", ".join(f"capacity_{c} AS {c}" for c in CHANNELS)}
                             FROM {s}.managers WHERE coalesce(active, TRUE))
                    ON {", ".join(CHANNELS)} INTO NAME channel VALUE capacity),
                used AS (SELECT manager_id, channel, count(*) AS tasks FROM tasks GROUP BY 1, 2)
                SELECT c.manager_id, c.channel, coalesce(c.capacity, 0), coalesce(u.tasks, 0)
                FROM capacity c LEFT JOIN used u USING (manager_id, channel)
                WHERE coalesce(c.capacity, 0) > 0 OR coalesce(u.tasks, 0) > 0
                ORDER BY 1, 2""").fetchall()
        ]
        waiting = counts(f"""
            SELECT manager_id, count(*) FROM {d}.pairs
            WHERE stage = 'within_capacity' AND manager_id IS NOT NULL GROUP BY 1""")
        groups: dict[str, dict[str, GroupRate]] = {}
        for g in GROUPS:
            groups[g] = {
                str(k): GroupRate(int(a), int(b), int(c), int(e))
                for k, a, b, c, e in con.execute(f"""
                    SELECT p.{g}, count(*), count(t.customer_id), coalesce(sum(t.offers), 0),
                           coalesce(sum(t.high), 0)
                    FROM people p LEFT JOIN (
                        SELECT customer_id, count(product_id) AS offers,
                               count(*) FILTER (WHERE product_risk IN ('R4', 'R5')) AS high
                        FROM tasks GROUP BY 1) t USING (customer_id)
                    GROUP BY 1 ORDER BY 1""").fetchall()
            }
        ev = con.execute("SELECT coalesce(sum(value * propensity), 0) FROM tasks").fetchone()
        tier_rows = con.execute("SELECT tier, count(*), sum(aum) FROM people GROUP BY 1").fetchall()
        side = Side(
            playbook=f"{pb.playbook.playbook.name} {pb.version}",
            digest=pb.digest,
            run_id=run.name,
            decision_id=decision_id,
            customers=sum(int(n) for _, n, _ in tier_rows),
            tiers={str(t): int(n) for t, n, _ in tier_rows},
            tier_aum={str(t): Decimal(str(a or 0)) for t, _, a in tier_rows},
            segments=counts("SELECT s, count(*) FROM (SELECT unnest(segments) AS s FROM people) GROUP BY 1"),
            tasks=int(con.execute("SELECT count(*) FROM tasks").fetchone()[0]),  # type: ignore[index]
            tasks_by_action=counts("SELECT action, count(*) FROM tasks GROUP BY 1"),
            tasks_by_channel=counts("SELECT channel, count(*) FROM tasks GROUP BY 1"),
            tasks_by_branch=counts("SELECT home_branch_id, count(*) FROM tasks GROUP BY 1"),
            funnel=funnel,
            dropped=dropped,
            nothing=nothing,
            expected_value=float(ev[0]) if ev else 0.0,
            managers=managers,
            waiting=waiting,
            groups=groups,
        )
        people = con.execute(
            "SELECT customer_id, tier, aum, owner_manager_id, owner_role FROM people"
        ).to_arrow_table()
    finally:
        con.close()
    return side, people


def _owners(ops_url: str) -> pa.Table:
    """Each customer's manager and that manager's role, as the decide left them."""
    engine = create_engine(ops_url)
    try:
        with engine.connect() as con:
            rows = con.execute(
                text(
                    "SELECT c.customer_id, c.owner_manager_id, s.role FROM customers c "
                    "LEFT JOIN staff s ON s.manager_id = c.owner_manager_id"
                )
            ).all()
    finally:
        engine.dispose()
    return pa.table(
        {
            "customer_id": pa.array([r[0] for r in rows], pa.string()),
            "owner_manager_id": pa.array([r[1] for r in rows], pa.string()),
            "owner_role": pa.array([r[2] for r in rows], pa.string()),
        }
    )


def _compare(
    sim: Simulation, before: pa.Table, after: pa.Table, threshold: float, tier_names: dict[str, str]
) -> None:
    con = duckdb.connect()
    try:
        con.register("a", before)
        con.register("b", after)
        sim.migration = [
            Move(str(f), str(t), int(n), Decimal(str(aum or 0)).quantize(Decimal("0.01")))
            for f, t, n, aum in con.execute("""
                SELECT a.tier, b.tier, count(*), sum(CAST(a.aum AS DECIMAL(18, 2)))
                FROM a JOIN b USING (customer_id) GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
        ]
        row = con.execute("""
            SELECT count(*) FILTER (WHERE a.owner_manager_id IS DISTINCT FROM b.owner_manager_id),
                   count(*) FILTER (WHERE a.owner_role IS DISTINCT FROM b.owner_role)
            FROM a JOIN b USING (customer_id)""").fetchone()
        sim.owner_changes, sim.role_changes = (int(row[0]), int(row[1])) if row else (0, 0)
    finally:
        con.close()
    for g, rates in sim.candidate.groups.items():
        for k, now in rates.items():
            was = sim.active.groups.get(g, {}).get(k)
            if was is None:
                continue
            for what, x, y in (
                ("task_rate", was.task_rate, now.task_rate),
                ("high_risk_share", was.high_risk_share, now.high_risk_share),
            ):
                if abs(y - x) > threshold:
                    who = tier_names.get(k) if g == "tier" else VALUE_ZH.get(k, k)
                    sim.flags.append(f"{GROUP_ZH[g]}「{who or k}」{MEASURE_ZH[what]}：{x:.1%} → {y:.1%}")


def as_dict(sim: Simulation) -> dict[str, Any]:
    """The simulation as plain data (for ``--json`` and the page)."""
    from dataclasses import asdict

    def plain(v: Any) -> Any:
        if isinstance(v, Decimal):
            return str(v)
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return plain(asdict(sim))  # type: ignore[no-any-return]


def from_dict(data: dict[str, Any]) -> Simulation:
    """A simulation back from ``as_dict`` (as a version keeps its rehearsal)."""

    def side(d: dict[str, Any]) -> Side:
        return Side(
            **{
                **d,
                "tier_aum": {k: Decimal(v) for k, v in d["tier_aum"].items()},
                "managers": [ManagerLoad(**m) for m in d["managers"]],
                "groups": {
                    g: {k: GroupRate(**r) for k, r in rates.items()} for g, rates in d["groups"].items()
                },
            }
        )

    return Simulation(
        snapshot_id=data["snapshot_id"],
        day=date.fromisoformat(data["day"]),
        active=side(data["active"]),
        candidate=side(data["candidate"]),
        migration=[
            Move(m["from_tier"], m["to_tier"], int(m["customers"]), Decimal(m["aum"]))
            for m in data["migration"]
        ],
        owner_changes=int(data["owner_changes"]),
        role_changes=int(data["role_changes"]),
        flags=list(data["flags"]),
    )
