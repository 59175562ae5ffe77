"""Branch and HQ dashboards (业绩展示): the nightly figures of each unit and the
live contact figures of its managers, a league table, and an Excel export."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import DateTime, cast, func, select
from sqlalchemy.orm import Session

from kequn.campaign.floor import FloorFigures, floor_figures
from kequn.core import sheets
from kequn.core.clock import SHANGHAI
from kequn.rules.contact import CONTACTED
from kequn.store.models import Branch, BranchKpi, Customer, Outcome, Product, Staff, Task
from kequn.web.i18n import gettext_for
from kequn.web.security import RM_ROLES, Viewer
from kequn.web.services.periods import Period, period_of
from kequn.web.services.scope import managers_in_scope

#: the end of a period still running: everything logged so far
OPEN_END = datetime(9999, 12, 31, tzinfo=SHANGHAI)


@dataclass
class ManagerRow:
    manager_id: str
    name: str
    role: str
    owned: int = 0
    contacted: int = 0
    contacts: int = 0
    sales: int = 0
    sold_amount: float = 0.0
    tasks: int = 0
    on_time: int = 0

    @property
    def reach(self) -> float:
        return self.contacted / self.owned if self.owned else 0.0

    @property
    def conversion(self) -> float:
        return self.sales / self.contacts if self.contacts else 0.0

    @property
    def on_time_rate(self) -> float | None:
        """None when no task of the manager's fell due in the period: no rate, not 0%."""
        return self.on_time / self.tasks if self.tasks else None


@dataclass
class Dashboard:
    unit: Branch | None
    day: date
    figures: dict[str, Any]
    managers: list[ManagerRow]
    nps: float | None
    surveys: int
    sales_by_type: dict[str, float]
    fee_income: float
    fee_income_prev: float
    diagnoses_done: int
    takeup: float | None
    league: list[dict[str, Any]] = field(default_factory=list)
    #: the branch floor over the period
    floor: FloorFigures | None = None
    #: what the contact, sales and floor figures cover (the nightly ones are as of its end)
    period: Period | None = None
    #: the playbook's staged targets for the average health score, by quarter
    health_targets: Mapping[int, float] = field(default_factory=dict)

    @property
    def reach(self) -> float:
        owned = sum(m.owned for m in self.managers)
        return sum(m.contacted for m in self.managers) / owned if owned else 0.0

    @property
    def conversion(self) -> float:
        contacts = sum(m.contacts for m in self.managers)
        return sum(m.sales for m in self.managers) / contacts if contacts else 0.0

    @property
    def health_target(self) -> float | None:
        return self.health_targets.get((self.day.month - 1) // 3 + 1)


def figures_for(s: Session, branch_id: str, day: date) -> dict[str, Any]:
    row = s.scalar(
        select(BranchKpi)
        .where(BranchKpi.branch_id == branch_id, BranchKpi.as_of <= day)
        .order_by(BranchKpi.as_of.desc())
        .limit(1)
    )
    return dict(row.figures) if row else {}


def _day_end(s: Session, day: Any) -> Any:
    """The moment a day (a DATE column) ends in Asia/Shanghai, as the store keeps
    moments: a TIMESTAMPTZ in PostgreSQL, UTC text in SQLite (Shanghai is UTC+8
    all year, so a day ends at 16:00 UTC)."""
    if s.get_bind().dialect.name == "postgresql":
        return func.timezone("Asia/Shanghai", cast(day, DateTime) + timedelta(days=1))
    return func.datetime(day, "+16 hours")


def dashboard(
    s: Session,
    viewer: Viewer,
    unit_id: str | None,
    day: date,
    period: str = "month",
    *,
    health_targets: Mapping[int, float],
) -> Dashboard:
    """The unit's dashboard over ``period`` as seen on ``day`` (see ``periods``);
    HQ may pick any unit, a branch head sees their own. ``health_targets``: the
    playbook's staged targets for the average health score, by quarter."""
    p = period_of(period, day)
    if viewer.sees_all:
        unit = (
            s.get(Branch, unit_id) if unit_id else s.scalar(select(Branch).where(Branch.parent_id.is_(None)))
        )
    else:
        unit = s.get(Branch, viewer.branch_id) if viewer.branch_id else None
    if unit is None:
        raise LookupError(unit_id or "")
    figures = figures_for(s, unit.branch_id, p.end)
    start, end = p.start, p.end
    subtree = select(Branch.branch_id).where(Branch.path.like(unit.path + "%"))
    staff = s.scalars(
        select(Staff).where(
            Staff.branch_id.in_(subtree), Staff.role.in_(RM_ROLES), Staff.active, managers_in_scope(viewer)
        )
    ).all()
    rows = {m.manager_id: ManagerRow(m.manager_id, m.name, m.role) for m in staff}
    ids = list(rows)
    since = datetime.combine(start, time(0), SHANGHAI)
    until = datetime.combine(end + timedelta(days=1), time(0), SHANGHAI) if p.closed else OPEN_END
    if ids:
        for mid, n in s.execute(
            select(Customer.owner_manager_id, func.count())
            .where(Customer.owner_manager_id.in_(ids))
            .group_by(Customer.owner_manager_id)
        ):
            if mid is not None:
                rows[mid].owned = n
        contacted = list(CONTACTED)
        for mid, customers, contacts in s.execute(
            select(Outcome.manager_id, func.count(func.distinct(Outcome.customer_id)), func.count())
            .where(
                Outcome.manager_id.in_(ids),
                Outcome.at >= since,
                Outcome.at < until,
                Outcome.outcome.in_(contacted),
            )
            .group_by(Outcome.manager_id)
        ):
            rows[mid].contacted, rows[mid].contacts = customers, contacts
        for mid, n, amount in s.execute(
            select(Outcome.manager_id, func.count(), func.coalesce(func.sum(Outcome.amount), 0))
            .where(
                Outcome.manager_id.in_(ids),
                Outcome.at >= since,
                Outcome.at < until,
                Outcome.outcome == "sold",
            )
            .group_by(Outcome.manager_id)
        ):
            rows[mid].sales, rows[mid].sold_amount = n, float(amount or 0)
        # on time: the customer was contacted by the end of the task's own day; a
        # task whose day has not ended yet (today's) is not counted either way
        first = (
            select(Outcome.task_id, func.min(Outcome.at).label("at"))
            .where(Outcome.manager_id.in_(ids), Outcome.at >= since, Outcome.outcome.in_(contacted))
            .group_by(Outcome.task_id)
            .subquery()
        )
        due_by = end if p.closed else end - timedelta(days=1)
        for mid, tasks, in_time in s.execute(
            select(Task.manager_id, func.count(), func.count().filter(first.c.at < _day_end(s, Task.as_of)))
            .outerjoin(first, first.c.task_id == Task.task_id)
            .where(Task.manager_id.in_(ids), Task.as_of >= start, Task.as_of <= due_by)
            .group_by(Task.manager_id)
        ):
            rows[mid].tasks, rows[mid].on_time = tasks, in_time
    in_unit = Outcome.manager_id.in_(ids) if ids else Outcome.manager_id.is_(None)
    scores = [
        sc
        for (sc,) in s.execute(
            select(Outcome.score).where(
                in_unit,
                Outcome.outcome == "survey",
                Outcome.score.is_not(None),
                Outcome.at >= since - timedelta(days=90),
                Outcome.at < until,
            )
        )
        if sc is not None
    ]
    nps = None
    if scores:
        nps = 100 * (sum(1 for x in scores if x >= 9) - sum(1 for x in scores if x <= 6)) / len(scores)
    sales: dict[str, float] = {}
    fee = fee_prev = 0.0
    prev_since = datetime.combine(p.before().start, time(0), SHANGHAI)
    for kind, amount, rate, at in s.execute(
        select(Product.type, Outcome.amount, Product.fee_rate, Outcome.at)
        .join(Product, Product.product_id == Outcome.product_id)
        .where(in_unit, Outcome.outcome == "sold", Outcome.at >= prev_since, Outcome.at < until)
    ):
        value = float(amount or 0)
        if at >= since:
            sales[kind] = sales.get(kind, 0.0) + value
            fee += value * float(rate or 0)
        else:
            fee_prev += value * float(rate or 0)
    diagnoses = (
        s.scalar(
            select(func.count(func.distinct(Outcome.customer_id))).where(
                in_unit,
                Outcome.action.in_(["health_review", "visit_prep"]),
                Outcome.outcome.in_(["reached", "interested", "sold"]),
                Outcome.at >= since - timedelta(days=183),
                Outcome.at < until,
            )
        )
        or 0
    )
    linked = (
        s.scalar(
            select(func.count(func.distinct(Task.customer_id))).where(
                Task.manager_id.in_(ids) if ids else Task.manager_id.is_(None),
                Task.product_id.is_not(None),
                Task.as_of >= start,
                Task.as_of <= end,
            )
        )
        or 0
    )
    took = (
        s.scalar(
            select(func.count(func.distinct(Outcome.customer_id)))
            .join(Task, Task.task_id == Outcome.task_id)
            .where(
                in_unit,
                Outcome.outcome == "sold",
                Outcome.product_id == Task.product_id,
                Outcome.at >= since,
                Outcome.at < until,
            )
        )
        or 0
    )
    board = Dashboard(
        unit,
        end,
        figures,
        sorted(rows.values(), key=lambda m: -m.conversion),
        nps,
        len(scores),
        sales,
        fee,
        fee_prev,
        diagnoses,
        took / linked if linked else None,
    )
    board.floor = floor_figures(s, _subtree(s, unit), start, end)
    board.period = p
    board.health_targets = dict(health_targets)
    if viewer.sees_all or viewer.role == "branch_head":
        board.league = league(s, p, unit)
    return board


def _subtree(s: Session, unit: Branch) -> list[str]:
    return list(s.scalars(select(Branch.branch_id).where(Branch.path.like(unit.path + "%"))))


def league(s: Session, p: Period, unit: Branch) -> list[dict[str, Any]]:
    """The units one level below ``unit`` (or its peers), ranked over the period: the 业绩展示."""
    children = s.scalars(select(Branch).where(Branch.parent_id == unit.branch_id)).all()
    if not children and unit.parent_id:
        children = s.scalars(select(Branch).where(Branch.parent_id == unit.parent_id)).all()
    out = []
    for b in children:
        f = figures_for(s, b.branch_id, p.end)
        if not f:
            continue
        base = float(f.get("deposits_base") or 0)
        growth = (float(f.get("deposits") or 0) - base) / base if base else 0.0
        floor = floor_figures(s, _subtree(s, b), p.start, p.end)
        out.append(
            {
                "referral_rate": floor.rate("lobby"),
                "counter_referral_rate": floor.rate("counter"),
                "salons": floor.salons,
                "salon_standard": floor.salon_standard,
                "branch_id": b.branch_id,
                "name": b.name,
                "customers": f.get("customers", 0),
                "aum": f.get("aum", 0),
                "deposits": f.get("deposits", 0),
                "deposit_growth": growth,
                "health": f.get("health", 0),
                "above_5wan": (f.get("above_5wan", 0) / f["customers"]) if f.get("customers") else 0.0,
            }
        )
    out.sort(key=lambda r: -(r["aum"] or 0))
    for i, r in enumerate(out, start=1):
        r["rank"] = i
    return out


def _wan(yuan: float | None) -> Decimal:
    """Yuan to 万元 for the spreadsheet, as an exact two-decimal number."""
    return (Decimal(str(yuan or 0)) / 10_000).quantize(Decimal("0.01"), ROUND_HALF_UP)


def to_excel(board: Dashboard) -> bytes:
    wb, ws = sheets.workbook()
    ws.title = "概览"
    role = gettext_for("zh_CN")
    f = board.figures
    sheets.append(ws, ["指标", "数值"], header=True)
    rates = {"触达率", "促成率", "代发资金留存率"}
    for label, value in (
        ("机构", board.unit.name if board.unit else ""),
        ("日期", board.day.isoformat()),
        ("客户数", f.get("customers", 0)),
        ("AUM(万元)", _wan(f.get("aum"))),
        ("储蓄存款(万元)", _wan(f.get("deposits"))),
        ("考核基数(万元)", _wan(f.get("deposits_base"))),
        ("财富健康度", f.get("health")),
        ("健康度目标", board.health_target),
        ("触达率", round(board.reach, 4)),
        ("促成率", round(board.conversion, 4)),
        ("NPS", board.nps),
        ("中收(万元)", _wan(board.fee_income)),
        ("代发资金留存率", f.get("payroll_retained")),
        ("财富诊断应做/已做", f"{f.get('diagnoses_due', 0)}/{board.diagnoses_done}"),
    ):
        sheets.append(ws, [label, value], percent=[1] if label in rates else [])
    sheets.finish(ws)
    ws2 = wb.create_sheet("客户经理")
    sheets.append(
        ws2,
        [
            "员工号",
            "姓名",
            "岗位",
            "管户数",
            "触达客户",
            "接触次数",
            "成交笔数",
            "成交金额(万元)",
            "触达率",
            "促成率",
            "任务按时完成率",
        ],
        header=True,
    )
    for m in board.managers:
        sheets.append(
            ws2,
            [
                m.manager_id,
                m.name,
                role(m.role),
                m.owned,
                m.contacted,
                m.contacts,
                m.sales,
                _wan(m.sold_amount),
                round(m.reach, 4),
                round(m.conversion, 4),
                None if m.on_time_rate is None else round(m.on_time_rate, 4),
            ],
            percent=[8, 9, 10],
        )
    sheets.finish(ws2)
    ws3 = wb.create_sheet("业绩展示")
    sheets.append(
        ws3, ["排名", "机构", "客户数", "AUM(万元)", "存款(万元)", "存款较基数", "健康度"], header=True
    )
    for r in board.league:
        sheets.append(
            ws3,
            [
                r["rank"],
                r["name"],
                r["customers"],
                _wan(r["aum"]),
                _wan(r["deposits"]),
                round(r["deposit_growth"], 4),
                r["health"],
            ],
            percent=[5],
        )
    sheets.finish(ws3)
    return sheets.to_bytes(wb)
