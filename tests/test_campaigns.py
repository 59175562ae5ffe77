"""Customer groups, campaigns, control groups, uplift and the branch floor, on the
small bank (operational store on SQLite and on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from kequn import warehouse
from kequn.campaign import floor
from kequn.campaign.campaigns import CampaignSpec, check_spec, launch, pause, resume
from kequn.campaign.control import assign_arms
from kequn.campaign.groups import preview, save_group
from kequn.campaign.results import results
from kequn.campaign.simulate import PlantedEffect, plant_campaign_effect, planted_outcomes
from kequn.campaign.uplift import mean_uplift, proportion_uplift
from kequn.core.clock import SHANGHAI
from kequn.core.errors import KequnError
from kequn.decide.batch import decide
from kequn.decide.campaign_tasks import task_campaign
from kequn.pipeline import groups
from kequn.pipeline.catalog import list_runs
from kequn.playbook import load_playbook
from kequn.playbook.expr import ExpressionError
from kequn.store import open_store
from kequn.store.campaign_models import Campaign, CampaignMember, CampaignVerdict, CheckIn
from kequn.store.cards import Cards
from kequn.store.models import ContactPreference, Customer, Outcome, Staff, Task, TimelineEntry
from kequn.warehouse import copy_store
from tests.conftest import DAY, _pg_scratch

pytestmark = pytest.mark.xdist_group("campaigns")
PB = load_playbook()
NOW = datetime.combine(DAY, time(9, 30), SHANGHAI)


# groups on the analytical store ---------------------------------------------------------

ATOMS = st.sampled_from(
    [
        "age >= 60",
        "age < 30",
        "aum > 50000",
        "aum_month_end <= 5000",
        "tier = 'mass'",
        "tier IN ('affluent', 'wealth', 'private')",
        "list_contains(segments, 'silver')",
        "list_contains(segments, 'payroll')",
        "health_score < 55",
        "near_threshold",
        "risk_level IN ('C1', 'C2')",
        "risk_level IS NULL",
        "lifecycle = 'dormant'",
        "hukou_local = FALSE",
        "salary_months >= 2",
        "fund_balance > 0",
    ]
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map(lambda p: f"({p[0]}) AND ({p[1]})"),
        st.tuples(children, children).map(lambda p: f"({p[0]}) OR ({p[1]})"),
        children.map(lambda c: f"NOT ({c})"),
    )


PREDICATES = st.recursive(ATOMS, _combine, max_leaves=5)


@pytest.fixture(scope="module")
def profiles(run_store: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, object]]:
    duck = warehouse.reader(run_store, "all")
    yield duck, list_runs(duck)[-1]
    duck.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=PREDICATES, bounded=st.booleans())
def test_group_membership_equals_the_predicate_evaluated_in_sql(profiles, text: str, bounded: bool) -> None:  # type: ignore[no-untyped-def]
    duck, run = profiles
    units = None
    if bounded:
        units = [
            r[0]
            for r in duck.execute(
                f"SELECT DISTINCT home_branch_id FROM {run.schema}.profiles ORDER BY 1 LIMIT 3"
            ).fetchall()
        ]
    mine = set(groups.members(duck, run, groups.parse_group(text), units)["customer_id"])
    where = f"({text})" + (f" AND home_branch_id IN ({', '.join(repr(u) for u in units)})" if units else "")
    direct = {
        r[0] for r in duck.execute(f"SELECT customer_id FROM {run.schema}.profiles WHERE {where}").fetchall()
    }
    assert mine == direct
    assert groups.count(duck, run, groups.parse_group(text), units) == len(direct)


def test_group_stats_and_overlap_agree_with_sql(profiles) -> None:  # type: ignore[no-untyped-def]
    duck, run = profiles
    expr = groups.parse_group("aum > 20000")
    s = groups.stats(duck, run, expr)
    rows = dict(
        duck.execute(
            f"SELECT tier, count(*) FROM {run.schema}.profiles WHERE aum > 20000 GROUP BY 1"
        ).fetchall()
    )
    assert s.tier_mix == rows and s.size == sum(rows.values()) > 0
    both = duck.execute(
        f"SELECT count(*) FROM {run.schema}.profiles WHERE aum > 20000 AND age >= 60"
    ).fetchone()[0]
    assert groups.overlap(duck, run, expr, {"silver": groups.parse_group("age >= 60")}) == {"silver": both}
    funds = groups.count(duck, run, groups.parse_group("list_contains(product_types, 'fund')"))
    snap = "snap_" + run.snapshot_id.replace("-", "")
    held = duck.execute(
        f"SELECT count(DISTINCT h.customer_id) FROM {snap}.holdings h "
        f"JOIN {snap}.products p USING (product_id) WHERE p.type = 'fund'"
    ).fetchone()[0]
    assert funds == held > 0


@pytest.mark.parametrize(
    "text, reason",
    [
        ("age >= ", "cannot parse"),
        ("salary > 1", "unknown column"),
        ("(SELECT 1) = 1", "subqueries"),
        ("read_csv('x') IS NULL", "not allowed"),
        ("age > 1; DROP TABLE x", "statements"),
    ],
)
def test_a_bad_group_condition_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=reason):
        groups.parse_group(text)


# control groups ---------------------------------------------------------------------------

MEMBERS = st.lists(
    st.tuples(st.sampled_from(["mass", "affluent", "wealth"]), st.sampled_from(["B1", "B2", "B3", "B4"])),
    min_size=1,
    max_size=400,
)


@settings(max_examples=80, deadline=None)
@given(members=MEMBERS, seed=st.integers(0, 2**31 - 1), share=st.floats(0.0, 0.5))
def test_control_draw_is_stratified_and_deterministic(
    members: list[tuple[str, str]], seed: int, share: float
) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(len(members))],
            "tier": [m[0] for m in members],
            "home_branch_id": [m[1] for m in members],
        }
    )
    a = assign_arms(frame, seed, share)
    assert a.equals(assign_arms(frame.sample(frac=1, random_state=1).sort_index(), seed, share))
    for _, stratum in a.groupby("stratum"):
        control = (stratum["arm"] == "control").sum()
        # each stratum gives up its share, rounded down or up
        assert np.floor(len(stratum) * share) <= control <= np.ceil(len(stratum) * share)


def test_control_share_is_right_overall_and_another_seed_draws_others() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(20_000)],
            "tier": ["mass"] * 20_000,
            "home_branch_id": [f"B{i % 997}" for i in range(20_000)],
        }
    )
    a, b = assign_arms(frame, 1, 0.1), assign_arms(frame, 2, 0.1)
    assert abs((a["arm"] == "control").mean() - 0.1) < 0.01  # 997 strata of ~20: rounding evens out
    assert (a["arm"] != b["arm"]).sum() > 1000


# uplift -----------------------------------------------------------------------------------


def _coverage(lift: float, aum_lift: float, seeds: range) -> tuple[float, float]:
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(3000)],
            "tier": ["mass", "affluent", "wealth"] * 1000,
            "home_branch_id": [f"B{i % 7}" for i in range(3000)],
        }
    )
    hits_conv = hits_aum = 0
    for seed in seeds:
        arms = assign_arms(frame, seed, 0.3)
        arms["aum_start"] = 100_000.0
        out = planted_outcomes(arms, PlantedEffect(base_rate=0.05, lift=lift, aum_lift=aum_lift), seed)
        t, c = out[out["arm"] == "treated"], out[out["arm"] == "control"]
        conv = proportion_uplift(int(t["sold"].sum()), len(t), int(c["sold"].sum()), len(c))
        aum = mean_uplift((t["aum_end"] - t["aum_start"]).tolist(), (c["aum_end"] - c["aum_start"]).tolist())
        hits_conv += conv.covers(lift)
        hits_aum += aum.covers(aum_lift)
    n = len(seeds)
    return hits_conv / n, hits_aum / n


def test_uplift_intervals_cover_a_planted_effect_in_most_seeds() -> None:
    conv, aum = _coverage(lift=0.03, aum_lift=5_000.0, seeds=range(200))
    # 95% intervals: over 200 seeds, coverage well above chance and near nominal
    assert 0.9 <= conv <= 0.995 and 0.9 <= aum <= 0.995, (conv, aum)


def test_uplift_intervals_cover_zero_when_nothing_was_planted() -> None:
    conv, aum = _coverage(lift=0.0, aum_lift=0.0, seeds=range(1000, 1200))
    assert 0.9 <= conv <= 0.995 and 0.9 <= aum <= 0.995, (conv, aum)


def test_uplift_finds_a_large_effect() -> None:
    e = proportion_uplift(300, 1000, 50, 1000)
    assert e.low > 0.2 and e.high < 0.3
    from kequn.campaign.uplift import Moments

    sample = [120_000.5, 98_000.0, 101_500.25, 87_250.75]
    assert Moments.of(sample).variance == pytest.approx(float(np.var(sample, ddof=1)), rel=1e-9)
    m = mean_uplift([10.0, 12, 11, 13, 12], [1.0, 2, 1, 2, 1])
    assert m.low > 8 and m.covers(10.6)


# campaigns in the operational store -----------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bank(
    request: pytest.FixtureRequest, run_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, object]]:
    folder = tmp_path_factory.mktemp("campaigns")
    store = folder / "bank.duckdb"
    copy_store(run_store, store)
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'ops.sqlite'}"
    else:
        url = _pg_scratch("kequn_campaigns")
    decide(store, url, day=DAY, replace=True)
    ops = open_store(url)
    yield store, ops
    ops.dispose()
    if request.param == "postgresql":
        import psycopg

        from tests.conftest import PG_ADMIN

        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def _group(store: Path, ops, name: str, text: str, unit: str | None = None) -> int:  # type: ignore[no-untyped-def]
    with ops.session() as s:
        from kequn.campaign.groups import unit_branches

        shown = preview(store, text, unit_branches(s, unit))
        return save_group(s, name, text, unit, "hq", NOW, shown).group_id


def _spec(group_id: int, **kw: object) -> CampaignSpec:
    base = dict(
        name="开门红",
        group_id=group_id,
        action="campaign_offer",
        channels=("phone", "wechat", "sms"),
        starts_on=DAY,
        ends_on=DAY + timedelta(days=30),
        target_measure="sold",
        target_value=Decimal(10),
        priority=0.8,
        control_share=0.2,
        seed=11,
    )
    base.update(kw)
    return CampaignSpec(**base)  # type: ignore[arg-type]


def test_a_campaign_spec_is_checked() -> None:
    bad = _spec(1, action="nope", ends_on=DAY - timedelta(days=1), target_measure="x", control_share=0.9)
    problems = " ".join(check_spec(bad, PB))
    for word in ("action", "period", "target", "control share"):
        assert word in problems
    assert "not allowed" in " ".join(check_spec(_spec(1, channels=("visit", "app")), PB))
    assert check_spec(_spec(1), PB) == []
    # an action owed to the customer (service, compliance) is not campaigned, whatever the form sends
    owed = next(a for a in PB.playbook.actions if a.kind != "marketing" and a.name != "campaign_offer")
    assert "not one a campaign may carry" in " ".join(
        check_spec(_spec(1, action=owed.name, channels=tuple(owed.channels[:1])), PB)
    )


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    share=st.sampled_from([0.1, 0.3, 0.5]),
    seed=st.integers(0, 1000),
    text=st.sampled_from(
        ["aum > 10000", "age >= 50", "tier <> 'mass' OR list_contains(segments, 'payroll')"]
    ),
)
def test_control_members_never_get_a_campaign_task(bank, share: float, seed: int, text: str) -> None:  # type: ignore[no-untyped-def]
    store, ops = bank
    gid = _group(store, ops, f"g{seed}{share}", text)
    done = launch(store, ops, _spec(gid, control_share=share, seed=seed), "hq", "hq", PB, NOW)
    cid = done.campaign.campaign_id
    # the nightly decision of the next day proposes the treated members left
    decide(store, ops.url, day=DAY + timedelta(days=1), replace=True)
    with ops.session() as s:
        control = set(
            s.scalars(
                select(CampaignMember.customer_id).where(
                    CampaignMember.campaign_id == cid, CampaignMember.arm == "control"
                )
            )
        )
        tasked = set(s.scalars(select(Task.customer_id).where(Task.campaign_id == cid)))
        assert control and tasked
        assert not control & tasked
        members = set(s.scalars(select(CampaignMember.customer_id).where(CampaignMember.campaign_id == cid)))
        assert tasked <= members
    pause(ops, cid, "hq", "hq", NOW)


def test_campaign_tasks_keep_every_contact_rule(bank) -> None:  # type: ignore[no-untyped-def]
    store, ops = bank
    gid = _group(store, ops, "rules", "aum > 5000")
    with ops.session() as s:
        # a treated-to-be member who asked not to be contacted
        quiet = s.scalar(
            select(Customer.customer_id)
            .where(Customer.aum > 5000, Customer.owner_manager_id.is_not(None))
            .order_by(Customer.customer_id)
        )
        s.merge(
            ContactPreference(
                customer_id=quiet,
                do_not_contact=True,
                personalised_opt_out=False,
                updated_at=NOW,
                source="test",
            )
        )
    done = launch(store, ops, _spec(gid, control_share=0.0, seed=5), "hq", "hq", PB, NOW)
    cid = done.campaign.campaign_id
    with ops.session() as s:
        assert s.scalar(select(func.count()).where(Task.campaign_id == cid, Task.customer_id == quiet)) == 0
        verdict = s.scalar(
            select(CampaignVerdict.verdict).where(
                CampaignVerdict.campaign_id == cid, CampaignVerdict.customer_id == quiet
            )
        )
        assert verdict == "within_contact_policy:do_not_contact"
        # capacity: no manager has more tasks on a channel than the channel allows
        for manager, channel, n in s.execute(
            select(Task.manager_id, Task.channel, func.count())
            .where(Task.as_of == DAY, Task.status.in_(["open", "done"]))
            .group_by(Task.manager_id, Task.channel)
        ).all():
            staff = s.get(Staff, manager)
            if channel != "app" and staff is not None:
                assert n <= getattr(staff, f"capacity_{channel}"), (manager, channel, n)
        # every campaign task uses one of the campaign's channels and carries its talk track and explanation
        for t in s.scalars(select(Task).where(Task.campaign_id == cid)):
            assert t.channel in ("phone", "wechat", "sms")
            assert t.trigger == f"campaign:{cid}" and t.explanation["campaign"] == cid
            assert t.explanation["features_used"] == ["aum"]
    pause(ops, cid, "hq", "hq", NOW)


def test_a_paused_campaign_makes_no_new_tasks(bank) -> None:  # type: ignore[no-untyped-def]
    store, ops = bank
    gid = _group(store, ops, "paused", "age >= 40")
    done = launch(store, ops, _spec(gid, seed=3), "hq", "hq", PB, NOW)
    cid = done.campaign.campaign_id
    assert done.tasking is not None and done.tasking.tasks > 0
    withdrawn = pause(ops, cid, "hq", "hq", NOW)
    assert withdrawn == done.tasking.tasks
    with ops.session() as s:
        assert s.scalar(select(func.count()).where(Task.campaign_id == cid, Task.status == "open")) == 0
    assert task_campaign(store, ops, cid, PB, NOW).proposed == 0
    decide(store, ops.url, day=DAY + timedelta(days=2), replace=True)
    with ops.session() as s:
        assert s.scalar(select(func.count()).where(Task.campaign_id == cid, Task.status != "withdrawn")) == 0
    again = resume(store, ops, cid, "hq", "hq", PB, NOW)
    assert again is not None and again.proposed > 0
    pause(ops, cid, "hq", "hq", NOW)


def test_a_simulated_campaign_estimates_its_planted_effect(bank) -> None:  # type: ignore[no-untyped-def]
    store, ops = bank
    gid = _group(store, ops, "everyone", "aum >= 0")
    done = launch(store, ops, _spec(gid, control_share=0.5, seed=21), "hq", "hq", PB, NOW)
    cid = done.campaign.campaign_id
    pause(ops, cid, "hq", "hq", NOW)  # the planted outcomes are the only sales
    with ops.session() as s:
        s.execute(Outcome.__table__.delete().where(Outcome.at >= NOW - timedelta(days=1)))
    plant_campaign_effect(
        ops,
        cid,
        PlantedEffect(base_rate=0.05, lift=0.10, aum_drift_sd=1000.0, aum_lift=3000.0),
        seed=4,
        at=NOW + timedelta(hours=2),
    )
    with ops.session() as s:
        r = results(s, cid, DAY)
    assert r is not None and r.conversion_uplift is not None and r.aum_uplift is not None
    assert r.conversion_uplift.covers(0.10) and r.conversion_uplift.low > 0
    assert r.aum_uplift.covers(3000.0) and r.aum_uplift.low > 0
    assert r.incremental_aum is not None and r.incremental_aum.covers(3000.0 * r.arms["treated"])
    assert r.funnel["group"] == r.arms["treated"] + r.arms["control"]
    with ops.session() as s:
        raised = sum(
            (aum - start)
            for aum, start in s.execute(
                select(Customer.aum, CampaignMember.aum_start)
                .join(CampaignMember, CampaignMember.customer_id == Customer.customer_id)
                .where(CampaignMember.campaign_id == cid, CampaignMember.arm == "treated")
            )
        )
    assert r.aum_raised == raised  # to the cent, on either database


# the branch floor -------------------------------------------------------------------------


def test_check_in_referral_and_the_referral_rate(bank) -> None:  # type: ignore[no-untyped-def]
    store, ops = bank
    cards = Cards(store)
    with ops.session() as s:
        manager = s.scalar(
            select(Staff).where(Staff.role == "wealth_manager", Staff.active).order_by(Staff.manager_id)
        )
        unit = manager.branch_id
        customers = list(
            s.scalars(select(Customer.customer_id).where(Customer.home_branch_id == unit).limit(3))
        )
        before = floor.floor_figures(s, [unit], DAY, DAY)
    views = [floor.check_in(ops, cards, PB, c, unit, "lobby1", "lobby_manager", NOW) for c in customers]
    assert all(v.summary["name"] is None or "*" in v.summary["name"] for v in views)
    assert all("aum" not in v.summary for v in views)  # bands only
    assert all(v.duty_manager_id for v in views)
    with pytest.raises(KequnError):
        floor.check_in(ops, cards, PB, customers[0], unit, "m1", "wealth_manager", NOW)
    _referral, made = floor.refer(
        ops, cards, PB, views[0].checkin_id, manager.manager_id, "lobby1", "lobby_manager", NOW, "想买理财"
    )
    assert (
        made.task is not None
        and made.task.manager_id == manager.manager_id
        and made.task.source == "referral"
    )
    with pytest.raises(KequnError):  # someone else's check-in
        floor.refer(ops, cards, PB, views[1].checkin_id, manager.manager_id, "lobby2", "lobby_manager", NOW)
    with ops.session() as s:
        after = floor.floor_figures(s, [unit], DAY, DAY)
        assert s.get(Task, made.task.task_id) is not None
        assert s.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.staff_login == "lobby1")) == 3
    assert after.checkins["lobby"] == before.checkins.get("lobby", 0) + 3
    assert after.referrals["lobby"] == before.referrals.get("lobby", 0) + 1
    assert after.rate("lobby") != before.rate("lobby")


def test_micro_salon_leads_become_tasks_within_the_rules_and_visits_reach_the_timeline(bank) -> None:  # type: ignore[no-untyped-def]
    store, ops = bank
    cards = Cards(store)
    with ops.session() as s:
        manager = s.scalar(
            select(Staff)
            .where(Staff.role == "wealth_manager", Staff.active)
            .order_by(Staff.manager_id.desc())
        )
        leads = list(
            s.scalars(
                select(Customer.customer_id)
                .where(Customer.owner_manager_id.is_not(None))
                .order_by(Customer.aum.desc())
                .limit(2)
            )
        )
        s.merge(
            ContactPreference(
                customer_id=leads[1],
                do_not_contact=True,
                personalised_opt_out=False,
                updated_at=NOW,
                source="test",
            )
        )
    salon, made = floor.log_salon(
        ops, cards, PB, manager.manager_id, "养老金", 9, leads, 1, Decimal("80000"), NOW
    )
    by_customer = dict(zip(sorted(leads), made, strict=True))
    # a lead who asked not to be contacted gets no task (whichever rule stops it first)
    quiet = by_customer[leads[1]]
    assert quiet.task is None and not quiet.verdict.ok
    assert quiet.verdict.reason in ("do_not_contact", "personalised_opt_out", "no_consent_for_channel")
    with pytest.raises(KequnError):
        floor.log_salon(ops, cards, PB, manager.manager_id, "x", 1, ["NOPE"], 0, Decimal(0), NOW)
    visit = floor.log_visit(ops, manager.manager_id, "employer", "太原某医院", leads, 3, 1, NOW)
    with ops.session() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(TimelineEntry)
                .where(TimelineEntry.kind == "outbound_visit", TimelineEntry.customer_id.in_(leads))
            )
            >= 2
        )
        f = floor.floor_figures(s, [manager.branch_id], DAY, DAY)
    assert f.salons >= 1 and f.salon_leads >= 2 and f.salon_amount >= Decimal("80000") and f.visits >= 1
    assert visit.customers == sorted(leads)
    assert s is not None and salon.salon_id


def test_campaign_rows_exist_once(bank) -> None:  # type: ignore[no-untyped-def]
    _, ops = bank
    with ops.session() as s:
        ids = list(s.scalars(select(Campaign.campaign_id)))
    assert len(ids) == len(set(ids)) and all(i.startswith(f"CMP{NOW:%Y%m%d}") for i in ids)


def test_group_counts_cannot_leave_their_unit(bank, profiles) -> None:  # type: ignore[no-untyped-def]
    _store, ops = bank
    duck, run = profiles
    with ops.session() as s:
        unit = s.scalar(
            select(Staff.branch_id).where(Staff.role == "wealth_manager").order_by(Staff.branch_id)
        )
        from kequn.campaign.groups import unit_branches

        units = unit_branches(s, unit)
    mine = groups.members(duck, run, groups.parse_group("aum >= 0"), units)
    assert set(mine["home_branch_id"]) <= set(units or []) and len(mine) > 0
    assert len(mine) < groups.count(duck, run, groups.parse_group("aum >= 0"))


def test_day_helpers() -> None:
    assert date(2026, 11, 21) == DAY


def test_groups_in_a_file_are_checked_line_by_line(tmp_path: Path) -> None:
    from kequn.campaign.groups import read_group_file
    from kequn.core.errors import ConfigError

    example = read_group_file(Path(__file__).parents[1] / "docs" / "groups.example.toml")
    assert {"代发工资客群", "老年客群", "新市民"} <= {g.name for g in example}
    bad = tmp_path / "groups.toml"
    bad.write_text(
        '[[groups]]\nname = "x"\nwhen = "age >"\n\n[[groups]]\nname = "y"\nwhen = "salary > 1"\ncolour = 1\n'
        '\n[[groups]]\nname = "x"\nwhen = "age > 1"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        read_group_file(bad)
    found = {(line, reason.split(":")[0]) for _, line, reason in refused.value.problems}
    assert (3, "group 'x'") in found  # cannot parse
    assert (7, "group 'y'") in found  # unknown column
    assert (8, "unknown key 'colour'") in found
    assert any(line == 11 and "twice" in reason for _, line, reason in refused.value.problems)
