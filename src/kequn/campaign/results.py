"""A campaign's results: the funnel from group to sale, progress against the target
by branch and manager, and the uplift of treated over control.

Uplift is intention-to-treat: every treated member counts, contacted or not,
against every control member, so the estimate answers "what did running the
campaign on this group change", not "what did a call change" (which the
selection of who was reachable would bias). Conversions and amounts are the
members' sales in the period, whatever task they came from, so the control arm
(never given a campaign task) is measured the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from kequn.campaign.campaigns import MEASURES
from kequn.campaign.uplift import Estimate, Moments, proportion_uplift, scaled, welch_uplift
from kequn.core import sheets
from kequn.core.clock import SHANGHAI
from kequn.rules.contact import CONTACTED
from kequn.store.campaign_models import Campaign, CampaignMember, CampaignVerdict, CustomerGroup
from kequn.store.models import Branch, Customer, Outcome, Staff, Task

#: verdicts of a pair that passed eligibility, suitability and the contact policy
PASSED = ("task", "arbitrated:outranked", "within_capacity:over_capacity")


@dataclass
class Progress:
    key: str
    name: str
    members: int = 0
    tasked: int = 0
    reached: int = 0
    sold: int = 0
    amount: Decimal = Decimal(0)


@dataclass
class CampaignResults:
    campaign: Campaign
    group: CustomerGroup | None
    day: date
    funnel: dict[str, int] = field(default_factory=dict)
    arms: dict[str, int] = field(default_factory=dict)
    achieved: Decimal = Decimal(0)
    by_branch: list[Progress] = field(default_factory=list)
    by_manager: list[Progress] = field(default_factory=list)
    conversion: dict[str, float] = field(default_factory=dict)
    conversion_uplift: Estimate | None = None
    aum_uplift: Estimate | None = None
    incremental_aum: Estimate | None = None
    #: the treated members' AUM now against at launch, summed (AUM raised)
    aum_raised: Decimal = Decimal(0)

    @property
    def target_share(self) -> float:
        target = self.campaign.target_value
        return float(self.achieved / target) if target else 0.0


def results(s: Session, campaign_id: str, day: date) -> CampaignResults | None:
    c = s.get(Campaign, campaign_id)
    if c is None:
        return None
    out = CampaignResults(c, s.get(CustomerGroup, c.group_id), day)
    start = _start(c.starts_on)
    end = _start(min(c.ends_on, day) + timedelta(days=1))
    member = CampaignMember
    arms = dict(
        s.execute(
            select(member.arm, func.count()).where(member.campaign_id == campaign_id).group_by(member.arm)
        ).all()
    )
    out.arms = {"treated": int(arms.get("treated", 0)), "control": int(arms.get("control", 0))}
    latest = (
        select(CampaignVerdict.customer_id, func.max(CampaignVerdict.day).label("d"))
        .where(CampaignVerdict.campaign_id == campaign_id)
        .group_by(CampaignVerdict.customer_id)
        .subquery()
    )
    eligible = s.scalar(
        select(func.count())
        .select_from(CampaignVerdict)
        .join(
            latest,
            and_(CampaignVerdict.customer_id == latest.c.customer_id, CampaignVerdict.day == latest.c.d),
        )
        .where(CampaignVerdict.campaign_id == campaign_id, CampaignVerdict.verdict.in_(PASSED))
    )
    mine = Task.campaign_id == campaign_id
    tasked = s.scalar(
        select(func.count(func.distinct(Task.customer_id))).where(mine, Task.status != "withdrawn")
    )
    worked = (
        select(Outcome.customer_id, Outcome.outcome, Outcome.amount, Task.manager_id)
        .join(Task, Task.task_id == Outcome.task_id)
        .where(mine)
        .subquery()
    )
    reached = s.scalar(
        select(func.count(func.distinct(worked.c.customer_id))).where(worked.c.outcome.in_(CONTACTED))
    )
    converted = s.scalar(
        select(func.count(func.distinct(worked.c.customer_id))).where(worked.c.outcome == "sold")
    )
    out.funnel = {
        "group": c.members_total,
        "treated": out.arms["treated"],
        "eligible": int(eligible or 0),
        "tasked": int(tasked or 0),
        "reached": int(reached or 0),
        "converted": int(converted or 0),
    }
    out.by_manager = _progress(s, campaign_id, by_branch=False)
    out.by_branch = _progress(s, campaign_id, by_branch=True)
    _uplift(s, out, start, end)
    out.achieved = {
        "reached": Decimal(out.funnel["reached"]),
        "sold": Decimal(sum(p.sold for p in out.by_manager)),
        "amount": sum((p.amount for p in out.by_manager), Decimal(0)),
        "aum": out.aum_raised,
    }[c.target_measure]
    return out


def _start(d: date) -> datetime:
    return datetime.combine(d, time(0, 0), SHANGHAI)


def _progress(s: Session, campaign_id: str, by_branch: bool) -> list[Progress]:
    """Members, tasks, reach and sales of the campaign per manager (or unit)."""
    m = CampaignMember
    key = Staff.branch_id if by_branch else m.manager_id
    rows: dict[str, Progress] = {}
    for k, n in s.execute(
        select(key, func.count())
        .select_from(m)
        .join(Staff, Staff.manager_id == m.manager_id, isouter=True)
        .where(m.campaign_id == campaign_id, m.arm == "treated")
        .group_by(key)
    ).all():
        rows[str(k)] = Progress(str(k), str(k), members=int(n))
    tkey = Staff.branch_id if by_branch else Task.manager_id
    for k, n in s.execute(
        select(tkey, func.count(func.distinct(Task.customer_id)))
        .join(Staff, Staff.manager_id == Task.manager_id, isouter=True)
        .where(Task.campaign_id == campaign_id, Task.status != "withdrawn")
        .group_by(tkey)
    ).all():
        rows.setdefault(str(k), Progress(str(k), str(k))).tasked = int(n)
    reached = func.count(func.distinct(case((Outcome.outcome.in_(CONTACTED), Outcome.customer_id))))
    for k, n in s.execute(
        select(tkey, reached)
        .join(Task, Task.task_id == Outcome.task_id)
        .join(Staff, Staff.manager_id == Task.manager_id, isouter=True)
        .where(Task.campaign_id == campaign_id)
        .group_by(tkey)
    ).all():
        rows.setdefault(str(k), Progress(str(k), str(k))).reached = int(n)
    # sales one by one: amounts add up exactly as Decimals, whatever the database
    for k, amount in s.execute(
        select(tkey, Outcome.amount)
        .join(Task, Task.task_id == Outcome.task_id)
        .join(Staff, Staff.manager_id == Task.manager_id, isouter=True)
        .where(Task.campaign_id == campaign_id, Outcome.outcome == "sold")
    ).all():
        p = rows.setdefault(str(k), Progress(str(k), str(k)))
        p.sold += 1
        p.amount += amount or Decimal(0)
    names: dict[str, str] = dict(
        s.execute(select(Branch.branch_id, Branch.name)).all()  # type: ignore[arg-type]
        if by_branch
        else s.execute(select(Staff.manager_id, Staff.name)).all()
    )
    for p in rows.values():
        p.name = names.get(p.key, p.key)
    return sorted(rows.values(), key=lambda p: (-p.sold, -p.reached, p.key))


def _uplift(s: Session, out: CampaignResults, start: datetime, end: datetime) -> None:
    """Per arm, in one aggregate: members, converters, and the sum and sum of squares
    of each member's AUM change (all the intervals need, at any campaign size)."""
    m = CampaignMember
    sales = (
        select(Outcome.customer_id)
        .where(Outcome.outcome == "sold", Outcome.at >= start, Outcome.at < end)
        .group_by(Outcome.customer_id)
        .subquery()
    )
    change = func.coalesce(Customer.aum, 0) - func.coalesce(m.aum_start, 0)
    sums = s.execute(
        select(
            m.arm,
            func.count(),
            func.count(sales.c.customer_id),
            func.sum(change),
            func.sum(change * change),
        )
        .join(Customer, Customer.customer_id == m.customer_id, isouter=True)
        .join(sales, sales.c.customer_id == m.customer_id, isouter=True)
        .where(m.campaign_id == out.campaign.campaign_id)
        .group_by(m.arm)
    ).all()
    arms = {arm: (int(n), int(k or 0), float(total or 0), float(sq or 0)) for arm, n, k, total, sq in sums}
    # exact where the database keeps NUMERIC; SQLite adds its text amounts as floats: cents kept
    raised = next((total for arm, _, _, total, _ in sums if arm == "treated"), None)
    out.aum_raised = Decimal(str(raised or 0)).quantize(Decimal("0.01"))
    n_t, k_t, sum_t, sq_t = arms.get("treated", (0, 0, 0.0, 0.0))
    n_c, k_c, sum_c, sq_c = arms.get("control", (0, 0, 0.0, 0.0))
    out.conversion = {"treated": k_t / n_t if n_t else 0.0, "control": k_c / n_c if n_c else 0.0}
    out.conversion_uplift = proportion_uplift(k_t, n_t, k_c, n_c)
    out.aum_uplift = welch_uplift(Moments(n_t, sum_t, sq_t), Moments(n_c, sum_c, sq_c))
    out.incremental_aum = scaled(out.aum_uplift, n_t)


#: a campaign's status as the bank reads it
STATUS_ZH = {"active": "进行中", "paused": "已暂停", "ended": "已结束"}
FUNNEL_ZH = {
    "group": "客群",
    "treated": "实验组",
    "eligible": "合规可联系",
    "tasked": "已派任务",
    "reached": "已触达",
    "converted": "已成交",
}


def to_excel(r: CampaignResults, action_names: dict[str, str] | None = None) -> bytes:
    """The campaign's results as a workbook; ``action_names``: the playbook's
    Chinese names of actions."""
    wb, ws = sheets.workbook()
    ws.title = "活动概览"
    c = r.campaign
    sheets.append(ws, ["项目", "数值"], header=True)
    for label, value in (
        ("活动", c.name),
        ("编号", c.campaign_id),
        ("客群", r.group.name if r.group else ""),
        ("动作", (action_names or {}).get(c.action, c.action)),
        ("渠道", "、".join(c.channels)),
        ("期间", f"{c.starts_on} ~ {c.ends_on}"),
        ("状态", STATUS_ZH.get(c.status, c.status)),
        ("目标", f"{MEASURES[c.target_measure]} {c.target_value}"),
        ("完成", r.achieved),
        ("完成率", round(r.target_share, 4)),
        ("对照组比例", c.control_share),
    ):
        sheets.append(ws, [label, value], percent=[1] if label in ("完成率", "对照组比例") else [])
    ws.append([])
    sheets.append(ws, ["漏斗", "客户数"], header=True)
    for k, v in r.funnel.items():
        sheets.append(ws, [FUNNEL_ZH.get(k, k), v])
    ws.append([])
    sheets.append(ws, ["效果(实验组-对照组)", "估计", "95%下限", "95%上限"], header=True)
    for label, e, rate in (
        ("成交率提升", r.conversion_uplift, True),
        ("人均AUM变化提升(元)", r.aum_uplift, False),
        ("增量AUM(元)", r.incremental_aum, False),
    ):
        if e is not None:
            sheets.append(
                ws,
                [label, round(e.value, 6), round(e.low, 6), round(e.high, 6)],
                percent=[1, 2, 3] if rate else [],
            )
    sheets.finish(ws)
    for title, rows in (("按机构", r.by_branch), ("按客户经理", r.by_manager)):
        sheet = wb.create_sheet(title)
        sheets.append(
            sheet, ["编号", "名称", "实验组客户", "已派任务", "触达", "成交", "金额(元)"], header=True
        )
        for p in rows:
            sheets.append(sheet, [p.key, p.name, p.members, p.tasked, p.reached, p.sold, p.amount])
        sheets.finish(sheet)
    return sheets.to_bytes(wb)
