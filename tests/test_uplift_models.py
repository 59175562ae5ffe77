"""Who is persuadable, learnt from campaigns' control arms.

A planted effect that only some customers have (the older customers of the
higher tiers buy when contacted; the others buy or not whatever is done): the
learnt uplift orders held-out members far better than a random ordering, seed
after seed. Through the stores: a campaign's arms and its members' sales teach
the action's model, a new campaign takes its group's most persuadable share,
and the night's arbitration ranks that campaign's pairs on uplift."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from kequn import warehouse
from kequn.campaign.campaigns import CampaignSpec, launch
from kequn.campaign.groups import preview, save_group, unit_branches
from kequn.core.clock import SHANGHAI
from kequn.decide.batch import decide
from kequn.learn.model import spec_for
from kequn.learn.persuasion import active_uplift, learn_action, persuadable
from kequn.learn.uplift import learn
from kequn.playbook import load_playbook
from kequn.store import open_store
from kequn.store.campaign_models import Campaign, CampaignMember
from kequn.store.models import Outcome, Task
from kequn.warehouse import copy_store
from tests.conftest import DAY

PB = load_playbook()
NOW = datetime.combine(DAY, time(9, 30), SHANGHAI)
pytestmark = pytest.mark.xdist_group("uplift")


def _planted(seed: int, n: int = 4000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "age": rng.integers(20, 80, n),
            "tier": rng.choice(["mass", "affluent", "wealth"], n),
            "aum_month_end": rng.lognormal(11, 1, n),
            "marital": rng.choice(["married", "single"], n),
        }
    )
    treated = rng.integers(0, 2, n)
    persuadable_ = (f["age"] >= 55) & (f["tier"] != "mass")
    chance = 0.05 + 0.03 * (f["marital"] == "single") + treated * np.where(persuadable_, 0.15, 0.0)
    return f, treated, (rng.random(n) < chance).astype(int)


def test_the_learnt_uplift_orders_held_out_members_far_better_than_chance_seed_after_seed() -> None:
    learnt, random_ = [], []
    for seed in range(6):
        f, t, y = _planted(seed)
        model = learn(f, t, y, spec_for(f, {c: c for c in f.columns}), seed)
        m = model.metrics
        assert {"two_model", "class_transformation", "random"} <= set(m)
        assert m[m["learner"]]["qini"] > m["random"]["qini"] + 0.03, (seed, m)
        learnt.append(m[m["learner"]]["qini"])
        random_.append(m["random"]["qini"])
        # the persuadable are the ones ranked first
        score = model.predict(f)
        top = np.argsort(-score)[: len(f) // 5]
        assert ((f["age"].to_numpy()[top] >= 55) & (f["tier"].to_numpy()[top] != "mass")).mean() > 0.6
    assert np.mean(learnt) > 0.08 > 0.02 > abs(np.mean(random_))


def test_a_campaign_teaches_its_action_who_is_persuadable_and_the_next_takes_them(
    run_store: Path, tmp_path: Path
) -> None:
    store = copy_store(run_store, tmp_path / "bank.duckdb")
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    decide(store, url, day=DAY, replace=True)
    ops = open_store(url)
    try:
        with ops.session() as s:
            text = "age >= 18"
            group = save_group(
                s, "全部客户", text, None, "hq", NOW, preview(store, text, unit_branches(s, None))
            )
        spec = CampaignSpec(
            "往年活动",
            group.group_id,
            "campaign_offer",
            ("phone",),
            DAY,
            DAY + timedelta(days=20),
            "sold",
            Decimal(10),
            0.5,
            0.5,
            3,
        )
        first = launch(store, ops, spec, "hq", "hq", PB, NOW)
        # the members' sales in the period: the older customers of the higher tiers
        # buy when contacted; everyone else buys now and then whatever is done
        con = warehouse.reader(store)
        profile = con.execute("SELECT customer_id, age, tier FROM profiles").df().set_index("customer_id")
        con.close()
        rng = np.random.default_rng(5)
        with ops.session() as s:
            members = s.execute(
                select(CampaignMember.customer_id, CampaignMember.arm).where(
                    CampaignMember.campaign_id == first.campaign.campaign_id
                )
            ).all()
            for i, (cid, arm) in enumerate(members):
                p = profile.loc[cid]
                lift = 0.5 if (p.age >= 55 and p.tier != "mass" and arm == "treated") else 0.0
                if rng.random() < 0.04 + lift:
                    s.add(
                        Outcome(
                            idempotency_key=f"u{i}",
                            customer_id=cid,
                            manager_id="M",
                            action="campaign_offer",
                            kind="marketing",
                            channel="phone",
                            outcome="sold",
                            amount=Decimal(1000),
                            at=NOW + timedelta(days=2),
                        )
                    )
        learnt = learn_action(store, ops, "campaign_offer", NOW + timedelta(days=25))
        assert learnt.version is not None, learnt.reason
        m = learnt.metrics
        assert m[m["learner"]]["qini"] > m["random"]["qini"]
        found = active_uplift(ops, "campaign_offer")
        assert found is not None and found[0] == learnt.version
        # the next campaign takes the group's most persuadable third
        run_id = first.campaign.run_id
        assert run_id is not None
        later = launch(
            store,
            ops,
            CampaignSpec(
                "今年活动",
                group.group_id,
                "campaign_offer",
                ("phone",),
                DAY,
                DAY + timedelta(days=20),
                "sold",
                Decimal(10),
                0.5,
                0.2,
                4,
                None,
                0.3,
            ),
            "hq",
            "hq",
            PB,
            NOW,
        )
        t = later.campaign.targeting
        assert t is not None and t["model"] == learnt.version and t["share"] == 0.3
        assert later.treated + later.control == int(np.ceil(t["of"] * 0.3))
        assert t["mean_uplift"] > t["mean_uplift_group"]
        with ops.session() as s:
            chosen = list(
                s.scalars(
                    select(CampaignMember.customer_id).where(
                        CampaignMember.campaign_id == later.campaign.campaign_id
                    )
                )
            )
        ages = profile.loc[chosen]
        assert ((ages.age >= 55) & (ages.tier != "mass")).mean() > (
            (profile.age >= 55) & (profile.tier != "mass")
        ).mean() + 0.2
        # the night ranks that campaign's pairs on what contacting them changes
        scores = persuadable(store, found[1], run_id, chosen)
        decide(store, url, day=DAY + timedelta(days=1))
        with ops.session() as s:
            tasked = s.execute(
                select(Task.customer_id, Task.propensity).where(
                    Task.campaign_id == later.campaign.campaign_id, Task.as_of == DAY + timedelta(days=1)
                )
            ).all()
            assert s.get(Campaign, later.campaign.campaign_id) is not None
        by_customer = dict(zip(chosen, scores, strict=True))
        assert tasked and all(abs(p - max(min(by_customer[c], 1.0), 0.001)) < 1e-6 for c, p in tasked), (
            tasked[:5]
        )
    finally:
        ops.dispose()
