"""Campaigns (营销活动): a saved group, one action with its talk track, the
channels, a period and a target. Launching draws the control group, stores the
members and makes today's tasks at once; the nightly decision keeps proposing
untasked treated members while the campaign runs. Pausing stops new tasks and
withdraws the open ones."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from kequn.campaign.control import assign_arms
from kequn.campaign.groups import latest_runs, open_analytics, unit_branches
from kequn.core.errors import KequnError
from kequn.decide.campaign_hits import CampaignBrief
from kequn.decide.campaign_tasks import CampaignTasking, plan_campaign, task_campaign
from kequn.learn.persuasion import active_uplift, persuadable
from kequn.pipeline import groups
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, record
from kequn.store import Store
from kequn.store.bulk import load_rows
from kequn.store.campaign_models import Campaign, CustomerGroup
from kequn.store.models import Task

MEASURES = {"reached": "触达客户数", "sold": "成交笔数", "amount": "销售金额(元)", "aum": "实验组AUM提升(元)"}
MAX_CONTROL = 0.5


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    group_id: int
    action: str
    channels: tuple[str, ...]
    starts_on: date
    ends_on: date
    target_measure: str
    target_value: Decimal
    priority: float = 0.5
    control_share: float = 0.1
    seed: int | None = None
    talk_track: str | None = None
    #: take only this share of the group, its most persuadable members by the
    #: action's uplift model (None: the whole group)
    persuadable_share: float | None = None


def campaign_actions(pb: LoadedPlaybook) -> list[Any]:
    """The actions a campaign may carry: marketing ones and the generic offer
    (a service or compliance action is owed to a customer, not campaigned)."""
    return [a for a in pb.playbook.actions if a.kind == "marketing" or a.name == "campaign_offer"]


def check_spec(spec: CampaignSpec, pb: LoadedPlaybook) -> list[str]:
    """Every reason the campaign cannot run as specified (empty: it can)."""
    problems = []
    actions = {a.name: a for a in pb.playbook.actions}
    action = actions.get(spec.action)
    if not spec.name.strip() or len(spec.name) > 80:
        problems.append("name: 1 to 80 characters")
    if action is None:
        problems.append(f"action: {spec.action!r} is not an action of the playbook")
    elif action not in campaign_actions(pb):
        problems.append(f"action: {spec.action!r} is a {action.kind} action, not one a campaign may carry")
    else:
        if not spec.channels:
            problems.append("channels: choose at least one")
        wrong = [c for c in spec.channels if c not in action.channels]
        if wrong:
            problems.append(f"channels: {', '.join(wrong)} not allowed for {spec.action}")
    if spec.ends_on < spec.starts_on:
        problems.append("period: the end is before the start")
    if spec.target_measure not in MEASURES:
        problems.append(f"target: measure one of {', '.join(MEASURES)}")
    try:
        if Decimal(spec.target_value) <= 0:
            problems.append("target: a positive number")
    except InvalidOperation:
        problems.append("target: a number")
    if not 0 < spec.priority <= 1:
        problems.append("priority: above 0, at most 1")
    if not 0 <= spec.control_share <= MAX_CONTROL:
        problems.append(f"control share: from 0 to {MAX_CONTROL}")
    if spec.persuadable_share is not None and not 0 < spec.persuadable_share <= 1:
        problems.append("persuadable share: above 0 and at most 1")
    return problems


def _next_id(s: Session, day: date) -> str:
    prefix = f"CMP{day:%Y%m%d}"
    n = s.scalar(select(func.count()).select_from(Campaign).where(Campaign.campaign_id.like(prefix + "%")))
    return f"{prefix}{(n or 0) + 1:03d}"


def _most_persuadable(
    analytics: Path, ops: Store, spec: CampaignSpec, members: pd.DataFrame, run_id: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The share of the group whose uplift for the action is highest (the arms
    are then drawn from them, so the control arm measures the same people)."""
    found = active_uplift(ops, spec.action)
    if found is None:
        raise KequnError(
            f"no uplift model for {spec.action} yet: it is learnt from this action's earlier campaigns "
            "with a control arm (`kequn uplift`)"
        )
    version, model = found
    score = persuadable(analytics, model, run_id, members["customer_id"].astype(str).tolist())
    keep = max(1, int(np.ceil(len(members) * float(spec.persuadable_share or 1))))
    order = np.argsort(-score, kind="stable")[:keep]
    kept = members.iloc[np.sort(order)].reset_index(drop=True)
    return kept, {
        "share": spec.persuadable_share,
        "model": version,
        "of": len(members),
        "mean_uplift": round(float(score[order].mean()), 4),
        "mean_uplift_group": round(float(score.mean()), 4),
    }


@dataclass
class Launched:
    campaign: Campaign
    treated: int
    control: int
    tasking: CampaignTasking | None


def launch(
    analytics: Path,
    ops: Store,
    spec: CampaignSpec,
    by: str,
    role: str,
    pb: LoadedPlaybook,
    now: datetime,
) -> Launched:
    """Draws the arms, stores the campaign and its members, and makes today's tasks."""
    problems = check_spec(spec, pb)
    if problems:
        raise KequnError("; ".join(problems))
    with ops.session() as s:
        group = s.get(CustomerGroup, spec.group_id)
        if group is None:
            raise KequnError(f"unknown group {spec.group_id}")
        branches = unit_branches(s, group.branch_id)
    duck = open_analytics(analytics)
    try:
        run, _ = latest_runs(duck)
        expression = groups.parse_group(group.expression, groups.run_attributes(duck, run))
        members = groups.members(duck, run, expression, branches)
    finally:
        duck.close()
    if members.empty:
        raise KequnError(f"group {group.name!r} has no members on run {run.run_id}")
    targeting = None
    if spec.persuadable_share is not None:
        members, targeting = _most_persuadable(analytics, ops, spec, members, run.run_id)
    seed = spec.seed if spec.seed is not None else random.SystemRandom().randrange(2**31)
    arms = assign_arms(members, seed, spec.control_share)
    with ops.session() as s:
        campaign_id = _next_id(s, now.date())
    treated = int((arms["arm"] == "treated").sum())
    # today's tasks are planned before anything is stored, and stored with the
    # campaign in one transaction: a launch that fails leaves no campaign behind
    tasking = None
    if spec.starts_on <= now.date() <= spec.ends_on:
        tasking = plan_campaign(
            analytics,
            ops,
            campaign_id,
            pb,
            now,
            members=arms[arms["arm"] == "treated"][["customer_id"]],
            action=spec.action,
            channels=list(spec.channels),
            priority=spec.priority,
            brief=CampaignBrief(
                campaign_id,
                spec.name.strip(),
                spec.talk_track or None,
                sorted(expression.columns),
            ),
        )
    with ops.session() as s:
        campaign = Campaign(
            campaign_id=campaign_id,
            name=spec.name.strip(),
            group_id=group.group_id,
            branch_id=group.branch_id,
            action=spec.action,
            talk_track=spec.talk_track or None,
            channels=list(spec.channels),
            starts_on=spec.starts_on,
            ends_on=spec.ends_on,
            priority=spec.priority,
            target_measure=spec.target_measure,
            target_value=Decimal(spec.target_value),
            control_share=spec.control_share,
            seed=seed,
            status="active",
            created_by=by,
            created_at=now,
            run_id=run.run_id,
            members_total=len(members),
            targeting=targeting,
        )
        s.add(campaign)
        s.flush()
        aum = dict(zip(members["customer_id"], members["aum"], strict=True))
        load_rows(
            s.connection(),
            "campaign_members",
            ["campaign_id", "customer_id", "arm", "stratum", "manager_id", "aum_start"],
            [
                (
                    campaign_id,
                    a.customer_id,
                    a.arm,
                    a.stratum[:60],
                    None,
                    Decimal(str(round(float(aum[a.customer_id] or 0), 2))),
                )
                for a in arms.itertuples()
            ],
        )
        # each member's manager at launch, for progress by manager
        s.execute(
            text("""
            UPDATE campaign_members SET manager_id = (
                SELECT c.owner_manager_id FROM customers c WHERE c.customer_id = campaign_members.customer_id)
            WHERE campaign_id = :cid"""),
            {"cid": campaign_id},
        )
        record(
            s,
            [
                Event(
                    by,
                    role,
                    "campaign_launch",
                    None,
                    {
                        "campaign": campaign_id,
                        "group": group.name,
                        "group_version": group.version,
                        "members": len(arms),
                        "control": len(arms) - treated,
                        "seed": seed,
                    },
                    now,
                )
            ],
        )
        if tasking is not None and tasking.write is not None:
            s.flush()
            tasking.write(s.connection())
    return Launched(campaign, treated, len(arms) - treated, tasking)


def _mark(s: Session, campaign_id: str, status: str, now: datetime) -> Campaign:
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        raise KequnError(f"unknown campaign {campaign_id!r}")
    campaign.status = status
    campaign.paused_at = now if status == "paused" else None
    return campaign


def pause(ops: Store, campaign_id: str, by: str, role: str, now: datetime) -> int:
    """Pauses a campaign: no new tasks from it, and its open ones withdrawn now.
    Returns how many were withdrawn."""
    with ops.session() as s:
        _mark(s, campaign_id, "paused", now)
        withdrawn = s.execute(  # type: ignore[attr-defined]  # an UPDATE's result has a rowcount
            update(Task)
            .where(Task.campaign_id == campaign_id, Task.status == "open")
            .values(status="withdrawn", updated_at=now, version=Task.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        record(
            s,
            [Event(by, role, "campaign_pause", None, {"campaign": campaign_id, "withdrawn": withdrawn}, now)],
        )
    return int(withdrawn or 0)


def resume(
    analytics: Path, ops: Store, campaign_id: str, by: str, role: str, pb: LoadedPlaybook, now: datetime
) -> CampaignTasking | None:
    """Resumes a paused campaign and, within its period, tasks its members at once."""
    with ops.session() as s:
        campaign = _mark(s, campaign_id, "active", now)
        record(s, [Event(by, role, "campaign_resume", None, {"campaign": campaign_id}, now)])
        running = campaign.starts_on <= now.date() <= campaign.ends_on
    return task_campaign(analytics, ops, campaign_id, pb, now) if running else None
