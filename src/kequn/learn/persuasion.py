"""Uplift from the bank's own campaigns: who is persuadable for an action.

Every campaign of an action with a control arm is a randomised experiment: its
members, drawn at launch into treated and control, are the rows; whether a
member bought in the campaign's period (any sale, as the campaign's results
count it) is the outcome; what the launch's run knew of them (the profile
facts and the bank's own attributes) are the inputs. ``kequn uplift`` learns
one model per action (``kequn.learn.uplift``) and keeps it as text; a new
campaign of that action may then take its group's most persuadable members,
and the arbitration ranks that campaign's pairs on uplift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from kequn import warehouse
from kequn.core.clock import SHANGHAI
from kequn.learn.features import FACTS
from kequn.learn.model import Spec, spec_for
from kequn.learn.uplift import UpliftModel, learn
from kequn.store import Store
from kequn.store.campaign_models import Campaign, CampaignMember
from kequn.store.models import Outcome
from kequn.store.models import UpliftModel as StoredUplift

#: members an action's campaigns need, in each arm, to learn from
MIN_ARM = 100


@dataclass
class Learnt:
    action: str
    version: str | None
    members: int
    metrics: dict[str, Any]
    reason: str = ""


def _profiles(store: Path, run_ids: list[str], customers: pd.DataFrame) -> pd.DataFrame:
    """Each member's profile values (facts and the bank's attributes) from the
    run their campaign was launched on: ``customers`` holds row, customer_id, run_id."""
    con = warehouse.reader(store, [f"run_{r}" for r in sorted(set(run_ids))])
    try:
        return profiles_on(con, run_ids, customers)
    finally:
        con.close()


def profiles_on(con: Any, run_ids: list[str], customers: pd.DataFrame) -> pd.DataFrame:
    """``_profiles`` on a connection that has the runs attached."""
    con.register("k_members", customers)
    try:
        parts = []
        for r in sorted(set(run_ids)):
            cols = {c[0] for c in con.execute(f"DESCRIBE run_{r}.profiles").fetchall()}
            named = [c for c in (*FACTS, *_attributes(con, f"run_{r}")) if c in cols]
            picked = ", ".join(f'p."{c}"' for c in named)
            parts.append(
                f"SELECT m.row, {picked} FROM k_members m JOIN run_{r}.profiles p USING (customer_id) "
                f"WHERE m.run_id = '{r}'"
            )
        found = con.execute(" UNION ALL BY NAME ".join(parts)).df()
    finally:
        con.unregister("k_members")
    return customers[["row"]].merge(found, on="row", how="left").drop(columns=["row"])


def _attributes(con: Any, run_schema: str) -> list[str]:
    """The bank's own attributes the run keeps beside its profile (its summary names them)."""
    try:
        row = con.execute("SELECT summary FROM kequn_runs WHERE schema_name = ?", [run_schema]).fetchone()
    except duckdb.Error:  # a connection without the catalog
        return []
    summary = json.loads(row[0]) if row and isinstance(row[0], str) else (row[0] if row else None) or {}
    return list(summary.get("attributes") or [])


def experiments(store: Path, ops: Store, action: str, today: date) -> tuple[pd.DataFrame, list[str]]:
    """Every member of the action's campaigns with a control arm: their arm,
    whether they bought in the campaign's period, their profile at launch."""
    with ops.session() as s:
        campaigns = list(
            s.scalars(select(Campaign).where(Campaign.action == action, Campaign.starts_on <= today))
        )
        rows = []
        for c in campaigns:
            if not c.run_id:
                continue
            end = min(c.ends_on, today)
            since = datetime.combine(c.starts_on, time(0), SHANGHAI)
            until = datetime.combine(end + timedelta(days=1), time(0), SHANGHAI)
            bought = set(
                s.scalars(
                    select(Outcome.customer_id).where(
                        Outcome.outcome == "sold",
                        Outcome.at >= since,
                        Outcome.at < until,
                        Outcome.customer_id.in_(
                            select(CampaignMember.customer_id).where(
                                CampaignMember.campaign_id == c.campaign_id
                            )
                        ),
                    )
                )
            )
            for m in s.scalars(select(CampaignMember).where(CampaignMember.campaign_id == c.campaign_id)):
                rows.append(
                    (
                        c.campaign_id,
                        c.run_id,
                        m.customer_id,
                        int(m.arm == "treated"),
                        int(m.customer_id in bought),
                    )
                )
    frame = pd.DataFrame(rows, columns=["campaign_id", "run_id", "customer_id", "treated", "bought"])
    used = sorted(frame["campaign_id"].unique().tolist()) if len(frame) else []
    if frame.empty:
        return frame, used
    frame["row"] = np.arange(len(frame))
    values = _profiles(store, frame["run_id"].tolist(), frame[["row", "customer_id", "run_id"]])
    return pd.concat([frame.reset_index(drop=True), values.reset_index(drop=True)], axis=1), used


def learn_action(store: Path, ops: Store, action: str, now: datetime, seed: int = 7) -> Learnt:
    frame, campaigns = experiments(store, ops, action, now.date())
    treated = frame["treated"].to_numpy() if len(frame) else np.zeros(0, dtype=int)
    if min(int(treated.sum()), int(len(treated) - treated.sum())) < MIN_ARM:
        return Learnt(
            action, None, len(frame), {}, f"fewer than {MIN_ARM} members in an arm of its campaigns"
        )
    named = [
        c
        for c in frame.columns
        if c not in ("campaign_id", "run_id", "customer_id", "treated", "bought", "row")
    ]
    spec = spec_for(frame[named], {n: n for n in named})
    model = learn(frame[named], treated, frame["bought"].to_numpy(), spec, seed)
    version = f"{action}-{now:%Y%m%d%H%M%S}"
    with ops.session() as s:
        for old in s.scalars(select(StoredUplift).where(StoredUplift.action == action, StoredUplift.active)):
            old.active = False
        s.add(
            StoredUplift(
                version=version,
                action=action,
                learner=model.learner,
                trained_at=now,
                members=len(frame),
                campaigns=campaigns,
                texts=model.texts,
                spec=json.loads(model.spec.to_json()),
                metrics=model.metrics,
                active=True,
            )
        )
    return Learnt(action, version, len(frame), model.metrics)


def active_uplifts(con: Connection) -> dict[str, UpliftModel]:
    """The uplift model in force for each action that has one."""
    with Session(bind=con) as s:
        rows = s.scalars(
            select(StoredUplift).where(StoredUplift.active).order_by(StoredUplift.trained_at)
        ).all()
        return {
            r.action: UpliftModel(r.learner, Spec.from_json(r.spec), list(r.texts), dict(r.metrics))
            for r in rows
        }


def active_uplift(ops: Store, action: str) -> tuple[str, UpliftModel] | None:
    with ops.session() as s:
        row = s.scalars(
            select(StoredUplift)
            .where(StoredUplift.action == action, StoredUplift.active)
            .order_by(StoredUplift.trained_at.desc())
        ).first()
        if row is None:
            return None
        return row.version, UpliftModel(
            row.learner, Spec.from_json(row.spec), list(row.texts), dict(row.metrics)
        )


def persuadable(store: Path, model: UpliftModel, run_id: str, customer_ids: list[str]) -> np.ndarray:
    """Each customer's uplift by ``model``, from the profile of run ``run_id``."""
    if not customer_ids:
        return np.zeros(0)
    members = pd.DataFrame(
        {"row": np.arange(len(customer_ids)), "customer_id": customer_ids, "run_id": run_id}
    )
    return model.predict(_profiles(store, [run_id], members))
