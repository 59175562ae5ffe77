"""What compliance needs for a personal information protection impact assessment
and an audit: the data map, consent coverage, automated-decision volumes, access
statistics and unusual access."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import duckdb
import ibis
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kequn.contract import TABLES
from kequn.core.clock import SHANGHAI
from kequn.playbook import LoadedPlaybook
from kequn.rules import consent as consent_rules
from kequn.store.models import (
    AuditEntry,
    Consent,
    ContactPreference,
    Customer,
    DecisionRun,
    Erasure,
    SubjectRequest,
    Task,
    User,
)

#: why each kind of personal data is processed (the data map's purposes)
PURPOSES = {
    "customers": "客户识别与分层经营 (identification, tiering, service)",
    "holdings": "资产配置诊断与适当性 (diagnosis, suitability)",
    "transactions": "事件触发与行为分析 (triggers, behaviour)",
    "consents": "授权管理 (consent management)",
    "managers": "任务分派 (assignment)",
}


@dataclass(frozen=True)
class Alert:
    day: date
    login: str
    role: str
    customers_viewed: int
    usual: float
    why: str


def unusual_access(s: Session, pb: LoadedPlaybook, since: datetime) -> list[Alert]:
    """Users who viewed far more customers in a day than the playbook allows or
    than the usual for their role (the median of their peers that day)."""
    views: dict[tuple[date, str, str], set[str]] = defaultdict(set)
    for at, actor, role, customer_id in s.execute(
        select(AuditEntry.at, AuditEntry.actor, AuditEntry.role, AuditEntry.customer_id).where(
            AuditEntry.action.in_(["view_customer", "view_report", "unmask", "export"]),
            AuditEntry.at >= since,
            AuditEntry.customer_id.is_not(None),
        )
    ):
        if customer_id:
            views[(at.astimezone(SHANGHAI).date(), actor, role)].add(customer_id)
    by_role_day: dict[tuple[date, str], list[int]] = defaultdict(list)
    for (day, _, role), seen in views.items():
        by_role_day[(day, role)].append(len(seen))
    p = pb.playbook.privacy
    alerts = []
    for (day, login, role), seen in sorted(views.items()):
        peers = by_role_day[(day, role)]
        usual = statistics.median(peers) if len(peers) >= 3 else 0.0
        n = len(seen)
        if n > p.alert_views_per_day:
            alerts.append(
                Alert(day, login, role, n, usual, f"more than {p.alert_views_per_day} customers a day")
            )
        elif usual and n > p.alert_median_factor * usual and n >= 10:
            alerts.append(Alert(day, login, role, n, usual, f"{n / usual:.1f}× the median of their role"))
    return alerts


@dataclass
class PrivacyReport:
    generated_at: datetime
    data_map: list[dict[str, Any]] = field(default_factory=list)
    consent_coverage: dict[str, dict[str, Any]] = field(default_factory=dict)
    opted_out: int = 0
    do_not_contact: int = 0
    decisions: dict[str, Any] = field(default_factory=dict)
    access: dict[str, Any] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    erased: int = 0


def privacy_report(s: Session, pb: LoadedPlaybook, moment: datetime, days: int = 30) -> PrivacyReport:
    since = datetime.combine(moment.date() - timedelta(days=days), time(0), SHANGHAI)
    r = PrivacyReport(moment)
    masking = pb.playbook.privacy
    for name, table in TABLES.items():
        personal = [c.name for c in table.columns if c.personal]
        if personal:
            r.data_map.append(
                {
                    "table": name,
                    "zh": table.zh,
                    "personal_fields": personal,
                    "purpose": PURPOSES.get(name, ""),
                    "in_clear_for": {role: list(f) for role, f in masking.clear.items() if f} or "no role",
                    "unmask_with_reason": list(masking.unmask_roles),
                }
            )
    customers = s.scalar(select(func.count()).select_from(Customer)) or 0
    granted, refused = _coverage(s)
    for purpose in sorted(set(granted) | set(refused)):
        r.consent_coverage[purpose] = {
            "granted": granted[purpose],
            "refused_or_withdrawn": refused[purpose],
            "share_granted": round(granted[purpose] / customers, 4) if customers else 0.0,
        }
    r.opted_out = s.scalar(select(func.count()).where(ContactPreference.personalised_opt_out)) or 0
    r.do_not_contact = s.scalar(select(func.count()).where(ContactPreference.do_not_contact)) or 0
    runs = s.scalar(select(func.count()).select_from(DecisionRun).where(DecisionRun.started_at >= since)) or 0
    tasks = dict(
        s.execute(select(Task.kind, func.count()).where(Task.as_of >= since.date()).group_by(Task.kind)).all()
    )
    events = (
        s.scalar(select(func.count()).where(AuditEntry.action == "decision_event", AuditEntry.at >= since))
        or 0
    )
    r.decisions = {"batch_runs": runs, "tasks_by_kind": tasks, "real_time_decisions": events}
    by_action = dict(
        s.execute(
            select(AuditEntry.action, func.count()).where(AuditEntry.at >= since).group_by(AuditEntry.action)
        ).all()
    )
    by_role = dict(
        s.execute(
            select(AuditEntry.role, func.count())
            .where(AuditEntry.at >= since, AuditEntry.action.in_(["view_customer", "view_report"]))
            .group_by(AuditEntry.role)
        ).all()
    )
    r.access = {
        "days": days,
        "entries_by_action": by_action,
        "customer_views_by_role": by_role,
        "users": s.scalar(select(func.count()).select_from(User)) or 0,
    }
    r.alerts = unusual_access(s, pb, since)
    r.requests = dict(
        s.execute(select(SubjectRequest.status, func.count()).group_by(SubjectRequest.status)).all()
    )
    r.requests["overdue"] = (
        s.scalar(
            select(func.count()).where(SubjectRequest.status == "open", SubjectRequest.due_on < moment.date())
        )
        or 0
    )
    r.erased = s.scalar(select(func.count()).select_from(Erasure)) or 0
    return r


def _coverage(s: Session) -> tuple[Counter[str], Counter[str]]:
    """Customers granting and refusing each purpose: ``rules.consent.latest_consents``
    over every customer's events (the bank's latest per purpose, Kequn's since),
    compiled for an in-memory DuckDB."""
    events = []
    for card_id, consent in s.execute(select(Customer.customer_id, Customer.consent)):
        events += consent_rules.card_events(card_id, consent)
    events += [
        {"customer_id": ev.customer_id, "purpose": ev.purpose, "granted": ev.granted, "ts": ev.ts}
        for ev in s.scalars(select(Consent))
    ]
    con = duckdb.connect()
    try:
        con.register("consent_events", pa.Table.from_pylist(events, schema=consent_rules.EVENTS.to_pyarrow()))
        sql = ibis.duckdb.from_connection(con).compile(
            consent_rules.latest_consents(ibis.table(consent_rules.EVENTS, name="consent_events"))
        )
        cols = ", ".join(
            f"count(*) FILTER (WHERE {consent_rules.column(p)}), count(*) FILTER (WHERE NOT "
            f"{consent_rules.column(p)})"
            for p in consent_rules.PURPOSES
        )
        row = con.execute(f"SELECT {cols} FROM ({sql})").fetchone() or ()
    finally:
        con.close()
    granted: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for i, p in enumerate(consent_rules.PURPOSES):
        if row and row[2 * i]:
            granted[p] = int(row[2 * i])
        if row and row[2 * i + 1]:
            refused[p] = int(row[2 * i + 1])
    return granted, refused
