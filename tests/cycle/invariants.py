"""What must hold after every night and day of a bank's month, read straight from
the stores and compared with the customers' own data — never with what the
code under test says about itself.

Each check returns the violations it found, as sentences naming the customer,
task or file; an empty list is a pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import create_engine, text

from kequn import warehouse
from kequn.core.clock import SHANGHAI
from kequn.playbook import LoadedPlaybook
from kequn.rules.suitability import INVESTMENT_TYPES

CONTACTED = (
    "reached",
    "interested",
    "declined",
    "sold",
    "maybe_later",
    "complaint",
    "ignored",
    "do_not_contact",
)
Check = Callable[..., list[str]]


def _ops(url: str, sql: str, **params: Any) -> pd.DataFrame:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as con:
            return pd.read_sql(text(sql), con, params=params)
    finally:
        engine.dispose()


def _duck(store: Path) -> duckdb.DuckDBPyConnection:
    con = warehouse.reader(store, "all")
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    return con


def _instants(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, format="ISO8601")


def files_add_up(store: Path, manifest: Path | None) -> list[str]:
    """For every table and file of the latest snapshot, read = accepted +
    quarantined; every broken row the night brought is quarantined for its reason."""
    con = _duck(store)
    try:
        schema, report = con.execute(
            "SELECT schema_name, report FROM kequn_snapshots ORDER BY as_of DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        report = json.loads(report)
        bad = []
        for t in report["tables"]:
            for f in t["files"]:
                if f["read"] != f["accepted"] + f["quarantined"]:
                    bad.append(
                        f"{f['file']}: read {f['read']} ≠ accepted {f['accepted']}"
                        f" + quarantined {f['quarantined']}"
                    )
            stored = con.execute(f"SELECT count(*) FROM {schema}.{t['table']}").fetchone()[0]  # type: ignore[index]
            if stored != t["accepted"]:
                bad.append(f"{t['table']}: {t['accepted']} accepted but {stored} in the snapshot")
        if manifest is not None and manifest.exists():
            wanted = pd.read_csv(manifest, dtype=str)
            found = con.execute(f"SELECT file, line, reason, problems FROM {schema}.quarantine").df()
            for d in wanted.itertuples():
                hit = found[(found.file == d.file) & (found.line == int(d.line))]
                if hit.empty:
                    bad.append(f"{d.file} line {d.line} ({d.reason}) was not quarantined")
                elif d.reason not in hit.iloc[0]["problems"]:
                    bad.append(
                        f"{d.file} line {d.line}: quarantined as {hit.iloc[0]['reason']}, not {d.reason}"
                    )
        return bad
    finally:
        con.close()


def aum_is_the_holdings(store: Path, pb: LoadedPlaybook) -> list[str]:
    """Each customer's month-end AUM in the latest run equals the sum of their
    holdings' balances in the playbook's AUM product types, to the fen."""
    con = _duck(store)
    try:
        run, snap = con.execute(
            "SELECT r.schema_name, s.schema_name FROM kequn_runs r "
            "JOIN kequn_snapshots s USING (snapshot_id) "
            "ORDER BY r.as_of DESC, r.run_id DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        types = ", ".join(f"'{t}'" for t in pb.playbook.aum_product_types)
        wrong = con.execute(f"""
            WITH held AS (
                SELECT h.customer_id, sum(h.balance) AS total FROM {snap}.holdings h
                JOIN {snap}.products p USING (product_id) WHERE p.type IN ({types})
                  AND coalesce(h.currency, 'CNY') = 'CNY' GROUP BY 1)
            SELECT p.customer_id, p.aum_month_end, coalesce(h.total, 0) AS held
            FROM {run}.profiles p LEFT JOIN held h USING (customer_id)
            WHERE NOT EXISTS (SELECT 1 FROM {snap}.holdings x JOIN {snap}.products y USING (product_id)
                              WHERE x.customer_id = p.customer_id AND coalesce(x.currency, 'CNY') <> 'CNY')
              AND round(p.aum_month_end * 100) <> round(coalesce(h.total, 0) * 100)
            LIMIT 20""").fetchall()
        return [f"{c}: AUM {a} in the run but holdings sum to {h}" for c, a, h in wrong]
    finally:
        con.close()


def _day_tasks(url: str, day: date) -> pd.DataFrame:
    return _ops(
        url,
        """SELECT t.task_id, t.customer_id, t.manager_id, t.action, t.kind, t.channel, t.product_id,
                  t.source, t.status, t.created_at, t.explanation, t.campaign_id
           FROM tasks t WHERE t.as_of = :day""",
        day=day,
    )


def rules_kept(store: Path, url: str, pb: LoadedPlaybook, day: date) -> list[str]:
    """No task of ``day`` breaks suitability, consent, opt-out, do-not-contact, the
    marketing cap, the pause after a contact, a customer's daily room or a
    manager's capacity."""
    tasks = _day_tasks(url, day)
    if tasks.empty:
        return []
    bad: list[str] = []
    run = _ops(url, "SELECT snapshot_id, pipeline_run_id FROM decision_runs WHERE as_of = :day", day=day)
    if run.empty:
        return [f"{day}: tasks but no decision run"]
    con = _duck(store)
    try:
        snap = f"snap_{run.iloc[-1].snapshot_id.replace('-', '')}"
        runs = f"run_{run.iloc[-1].pipeline_run_id}"
        con.register(
            "day_tasks", tasks[["task_id", "customer_id", "product_id", "channel", "kind", "action"]]
        )
        s = pb.playbook.suitability
        risky = ", ".join(f"'{t}'" for t in s.risk_product_types)
        invest = ", ".join(f"'{t}'" for t in INVESTMENT_TYPES)
        p_risk, c_risk = "CAST(substr(d.risk_level, 2) AS INT)", "CAST(substr(p.risk_level, 2) AS INT)"
        for task_id, why in con.execute(f"""
            SELECT t.task_id,
                   CASE WHEN NOT p.risk_valid AND (d.type IN ({risky}) OR {p_risk} >= 2)
                          THEN 'a risk product on an expired or missing assessment'
                        WHEN p.risk_valid AND {p_risk} > {c_risk}
                          THEN 'product ' || d.risk_level || ' above the customer''s ' || p.risk_level
                        WHEN coalesce(d.is_pension, FALSE) AND (p.age < {s.pension_min_age}
                             OR coalesce(d.term_days, d.lockup_days, 0) < {s.pension_min_term_days})
                          THEN 'a pension product outside the pension rules'
                        WHEN d.type = 'individual_pension' AND p.age >= {s.individual_pension_until_age}
                          THEN 'an individual pension past the age it is paid into'
                        WHEN ((p.age >= {s.dual_recording_age} AND {p_risk} >= {s.dual_recording_min_risk})
                              OR (p.first_time_investor AND d.type IN ({invest}))) AND t.channel <> 'visit'
                          THEN 'needs dual recording in the branch but goes by ' || t.channel
                        WHEN d.liquidity = 'closed'
                             AND p.liquid_reserve_months < {s.closed_min_reserve_months}
                          THEN 'a closed product to a customer without the reserve'
                   END
            FROM day_tasks t JOIN {runs}.profiles p USING (customer_id)
            JOIN {snap}.products d ON d.product_id = t.product_id
            WHERE t.product_id IS NOT NULL AND t.kind = 'marketing'""").fetchall():
            if why:
                bad.append(f"task {task_id}: {why}")
        consents = con.execute(f"SELECT customer_id, purpose, granted, ts FROM {snap}.consents").df()
    finally:
        con.close()
    later = _ops(url, "SELECT customer_id, purpose, granted, ts FROM consents")
    events = pd.concat([consents.assign(ts=_instants(consents.ts)), later.assign(ts=_instants(later.ts))])
    events["ts"] = _instants(events["ts"])  # an empty frame in the concat leaves objects
    events["granted"] = events["granted"].astype(bool)
    prefs = _ops(
        url, "SELECT customer_id, do_not_contact, personalised_opt_out, updated_at FROM contact_prefs"
    )
    prefs["updated_at"] = _instants(prefs.updated_at)
    for col in ("do_not_contact", "personalised_opt_out"):
        prefs[col] = prefs[col].astype(bool)
    tasks["created"] = _instants(tasks.created_at)
    purposes = pd.DataFrame(list(pb.playbook.contact.channel_consent.items()), columns=["channel", "purpose"])
    personalised = pd.DataFrame({"action": [a.name for a in pb.playbook.actions if a.personalised]})
    # the consent each task needed, as it stood when the task was made
    con = duckdb.connect()
    for name, frame in (
        ("t", tasks[["task_id", "customer_id", "kind", "channel", "action", "source", "created"]]),
        ("e", events),
        ("pr", prefs),
        ("cp", purposes),
        ("pers", personalised),
    ):
        con.register(name, frame)
    rows = con.execute("""
        WITH need AS (
            SELECT t.*, cp.purpose FROM t LEFT JOIN cp USING (channel)),
        given AS (
            SELECT n.task_id, arg_max(e.granted, e.ts) AS granted FROM need n
            JOIN e ON e.customer_id = n.customer_id AND e.purpose = n.purpose AND e.ts <= n.created
            GROUP BY 1),
        refused AS (
            SELECT n.task_id, arg_max(e.granted, e.ts) = FALSE AS refused FROM need n
            JOIN e ON e.customer_id = n.customer_id AND e.purpose = 'personalised_recommendation'
                   AND e.ts <= n.created
            GROUP BY 1)
        SELECT n.task_id, n.kind, n.channel, n.purpose, g.granted,
               coalesce(r.refused, FALSE)
                   OR coalesce(pr.personalised_opt_out AND pr.updated_at <= n.created, FALSE),
               coalesce(pr.do_not_contact AND pr.updated_at <= n.created, FALSE),
               n.action IN (SELECT action FROM pers), n.source
        FROM need n LEFT JOIN given g USING (task_id) LEFT JOIN refused r USING (task_id)
        LEFT JOIN pr USING (customer_id)""").fetchall()
    con.close()
    for task_id, kind, channel, purpose, given, opted, dnc, pers, source in rows:
        in_person = source in ("referral", "floor")
        if kind == "marketing" and given is not True and not in_person:
            bad.append(f"task {task_id}: marketing by {channel} without {purpose} consent")
        elif given is False and not in_person:
            bad.append(f"task {task_id}: by {channel}, which the customer refused")
        if dnc and kind != "compliance":
            bad.append(f"task {task_id}: the customer asked not to be contacted")
        if opted and (kind == "marketing" or pers) and not in_person:
            bad.append(f"task {task_id}: the customer refused personalised marketing")
    c = pb.playbook.contact
    since = datetime.combine(day - timedelta(days=c.cap_days), time(0), SHANGHAI)
    history = _ops(
        url,
        "SELECT customer_id, kind, outcome, at FROM outcomes WHERE at >= :since AND at < :day",
        since=since,
        day=datetime.combine(day, time(0), SHANGHAI),
    )
    contacted = history[(history.kind == "marketing") & history.outcome.isin(CONTACTED)]
    recent = contacted.groupby("customer_id").size()
    marketing = tasks[(tasks.kind == "marketing") & (tasks.source == "batch")]
    for t in marketing.itertuples():
        if recent.get(t.customer_id, 0) >= c.marketing_cap:
            bad.append(
                f"task {t.task_id}: the customer had {recent[t.customer_id]} marketing contacts "
                f"in {c.cap_days} days"
            )
    # the pause after a contact: an action that reached the customer in the days
    # before (all of them inside the pause, whatever the hour of the night's
    # decision) is not raised for them again
    reached = _ops(
        url,
        "SELECT customer_id, action, outcome FROM outcomes WHERE at >= :since AND at < :day",
        since=datetime.combine(day - timedelta(days=c.recontact_days - 1), time(0), SHANGHAI),
        day=datetime.combine(day, time(0), SHANGHAI),
    )
    reached = reached[reached.outcome.isin(CONTACTED)]
    # and neither is another action a trigger proposes with it: the same occasion
    # (yesterday's maturity renewal call makes today's maturity notice a repeat)
    together = {a: {a} for a in reached.action}
    for trigger in pb.playbook.triggers:
        for a in trigger.actions:
            together.setdefault(a, {a}).update(trigger.actions)
    paused = {
        (cid, b) for cid, a in zip(reached.customer_id, reached.action, strict=True) for b in together[a]
    }
    for t in tasks[tasks.source == "batch"].itertuples():
        if (t.customer_id, t.action) in paused:
            bad.append(
                f"task {t.task_id}: {t.action} (or another action of its occasion) reached the customer "
                f"within {c.recontact_days} days"
            )
    decided = tasks[tasks.source.isin(["batch", "campaign"]) & (tasks.status != "withdrawn")]
    per_customer = decided.groupby("customer_id").size()
    for cid, n in per_customer[per_customer > c.tasks_per_customer_per_day].items():
        bad.append(f"{cid}: {n} decided tasks on {day}, the playbook allows {c.tasks_per_customer_per_day}")
    staff = _ops(
        url, "SELECT manager_id, capacity_phone, capacity_visit, capacity_wechat, capacity_sms FROM staff"
    )
    staff = staff.set_index("manager_id")
    load = tasks[tasks.source.isin(["batch", "campaign", "event"])].groupby(["manager_id", "channel"]).size()
    for (manager, channel), n in load.items():
        if channel == "app" or manager not in staff.index:
            continue
        cap = int(staff.loc[manager, f"capacity_{channel}"])
        if n > cap:
            bad.append(f"{manager}: {n} {channel} tasks on {day}, capacity {cap}")
    return bad


def open_tasks_still_allowed(url: str, pb: LoadedPlaybook) -> list[str]:
    """Withdrawals take effect at once: no open task goes to a customer who has
    since withdrawn its channel's consent, opted out or asked not to be contacted."""
    tasks = _ops(
        url, "SELECT task_id, customer_id, kind, channel, action, source FROM tasks WHERE status = 'open'"
    )
    later = _ops(url, "SELECT customer_id, purpose, granted, ts FROM consents ORDER BY ts")
    prefs = _ops(url, "SELECT customer_id, do_not_contact, personalised_opt_out FROM contact_prefs")
    latest = {k: bool(v) for k, v in later.groupby(["customer_id", "purpose"]).granted.last().items()}
    dnc = set(prefs[prefs.do_not_contact.astype(bool)].customer_id)
    bad = []
    for t in tasks.itertuples():
        purpose = pb.playbook.contact.channel_consent.get(t.channel)
        if latest.get((t.customer_id, purpose)) is False and t.source not in ("referral",):
            bad.append(f"open task {t.task_id}: {purpose} was withdrawn")
        if t.customer_id in dnc and t.kind != "compliance":
            bad.append(f"open task {t.task_id}: the customer asked not to be contacted")
    return bad


def tasks_explained(url: str, day: date) -> list[str]:
    tasks = _day_tasks(url, day)
    bad = []
    for t in tasks.itertuples():
        e = json.loads(t.explanation) if isinstance(t.explanation, str) else t.explanation
        if not e or not e.get("trigger") or not e.get("action") or not e.get("rules_passed"):
            bad.append(f"task {t.task_id}: no explanation of its trigger, action and rules")
    return bad


def campaign_arms_disjoint(url: str) -> list[str]:
    twice = _ops(
        url,
        """SELECT campaign_id, customer_id, count(DISTINCT arm) AS arms FROM campaign_members
           GROUP BY 1, 2 HAVING count(DISTINCT arm) > 1""",
    )
    control = _ops(
        url,
        """SELECT t.task_id FROM tasks t JOIN campaign_members m
           ON m.campaign_id = t.campaign_id AND m.customer_id = t.customer_id WHERE m.arm = 'control'""",
    )
    orphans = _ops(
        url,
        """SELECT c.campaign_id FROM campaigns c
           WHERE c.status = 'active'
             AND NOT EXISTS (SELECT 1 FROM campaign_members m WHERE m.campaign_id = c.campaign_id)""",
    )
    return (
        [f"{r.customer_id} is in both arms of {r.campaign_id}" for r in twice.itertuples()]
        + [f"task {r.task_id} went to a control member" for r in control.itertuples()]
        + [f"campaign {r.campaign_id} is active with no members" for r in orphans.itertuples()]
    )


def erased_everywhere(store: Path, url: str, customer_id: str, name: str, phone: str | None) -> list[str]:
    """A deleted customer's name and phone appear nowhere: not in the working
    card, not in any snapshot, not in a talk track or note; only the AML record
    (accounts and transactions under the customer number) stays."""
    bad = []
    card = _ops(
        url, "SELECT name, id_number, phone, birth_date FROM customers WHERE customer_id = :c", c=customer_id
    )
    if not card.empty and card.iloc[0].notna().any():
        bad.append(f"{customer_id}: the working card still holds personal fields")
    for table, column in (("tasks", "talk_track"), ("tasks", "visit_material"), ("outcomes", "note")):
        hits = _ops(url, f"SELECT count(*) AS n FROM {table} WHERE {column} LIKE :n", n=f"%{name}%")
        if int(hits.iloc[0].n):
            bad.append(f"{customer_id}'s name is still in {table}.{column}")
    con = _duck(store)
    try:
        for (schema,) in con.execute("SELECT schema_name FROM kequn_snapshots").fetchall():
            row = con.execute(
                f"SELECT count(*) FROM {schema}.customers WHERE customer_id = ? "
                "AND (name IS NOT NULL OR phone IS NOT NULL OR id_number IS NOT NULL)",
                [customer_id],
            ).fetchone()
            if row and row[0]:
                bad.append(f"{customer_id}: personal fields still in {schema}.customers")
            q = con.execute(
                f"SELECT count(*) FROM {schema}.quarantine WHERE CAST(record AS VARCHAR) LIKE ?",
                [f"%{name}%"],
            ).fetchone()
            if q and q[0]:
                bad.append(f"{customer_id}'s name is still in {schema}.quarantine")
    finally:
        con.close()
    if phone:
        hits = _ops(url, "SELECT count(*) AS n FROM audit_log WHERE detail LIKE :p", p=f"%{phone}%")
        if int(hits.iloc[0].n):
            bad.append(f"{customer_id}'s phone is written in the audit trail")
    return bad


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))
