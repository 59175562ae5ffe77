"""Propensity learnt from the bank's own history.

The synthetic bank's past contacts succeed by a hidden function of the
customer's own attributes (declared in its mapping), their age, the channel,
the month, the deposit rate and their contact history; no model is given it.
Trained on the earlier contacts, Kequn's model comes within 0.02 of the AUC of
the true chances on the later ones. What a row is given is what was known
before it: adding the future changes no row. A worse model is kept but not
put in force; a rollback restores the one before."""

from __future__ import annotations

import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import select

from kequn.core.clock import SHANGHAI
from kequn.decide.batch import decide
from kequn.ingest import ingest
from kequn.ingest.history import import_history
from kequn.learn import registry
from kequn.learn.examples import examples
from kequn.learn.train import train
from kequn.pipeline import run_pipeline
from kequn.playbook import load_playbook
from kequn.store import open_store
from kequn.store.models import DecisionRun, PropensityModel, Task
from kequn.synth import SynthOptions, synthesize
from kequn.synth.history import TRUTH_FILE

from .conftest import one_event_per_manager

PB = load_playbook()
AS_OF = date(2026, 12, 1)
NOW = datetime.combine(AS_OF + timedelta(days=1), time(9), SHANGHAI)
pytestmark = pytest.mark.xdist_group("learn")


def _bank(root: Path, customers: int, months: int = 24, seed: int = 7) -> Path:
    out = root / "extract"
    synthesize(
        SynthOptions(customers=customers, seed=seed, out=out, as_of=AS_OF, months=1, history_months=months)
    )
    ingest(out, root / "bank.duckdb", mapping_file=out / "mapping.toml")
    return out


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("learn-big")
    _bank(root, 20_000)
    return root


def test_train_comes_within_two_points_of_the_true_chances_on_the_later_period(big: Path) -> None:
    ops = open_store(f"sqlite:///{big / 'ops.sqlite'}")
    try:
        report = train(big / "bank.duckdb", ops, PB, NOW)
    finally:
        ops.dispose()
    assert report.activated and report.later["model"]["roc_auc"] > report.later["priors"]["roc_auc"] + 0.1
    # the true chance of every later contact, from the generator's own side file
    contacts = pd.read_csv(big / "extract" / "contacts.csv")
    truth = contacts.merge(pd.read_csv(big / "extract" / TRUTH_FILE), on="contact_id")
    truth["ts"] = pd.to_datetime(truth["ts"]).dt.tz_localize("Asia/Shanghai")
    first_later = pd.Timestamp(report.periods["later"][0], tz="Asia/Shanghai")
    later = truth[truth["ts"] >= first_later]
    y = later["outcome"].isin(["interested", "sold"]).to_numpy()
    assert abs(len(later) - report.later["model"]["rows"]) < 0.02 * len(later)
    best = roc_auc_score(y, later["p"])
    assert report.later["model"]["roc_auc"] >= best - 0.02, (report.later["model"]["roc_auc"], best)
    # every measure the issue names is there, per action too
    m = report.later["model"]
    assert {"roc_auc", "pr_auc", "brier", "lift_top_decile", "calibration", "per_action"} <= set(m)
    assert m["lift_top_decile"] > 2 and len(m["calibration"]) == 10 and m["per_action"]
    assert report.stratified["roc_auc"] is not None
    # the bank's own attributes and the contact history are among the inputs
    assert {"education", "marital", "credit_default", "contacts_30d", "last_outcome"} <= set(report.features)


def test_adding_the_future_changes_no_row(tmp_path: Path) -> None:
    """Each row is given what was known before its contact: a later snapshot that
    spells out every outcome, and later outcomes, change nothing of the rows."""
    root = tmp_path / "bank"
    root.mkdir()
    extract = _bank(root, 1_500, months=12)
    store = root / "bank.duckdb"
    run_pipeline(store)
    ops = open_store(f"sqlite:///{root / 'ops.sqlite'}")
    try:
        with ops.engine.connect() as con:
            before = examples(store, con).frame
        # tomorrow's extract knows how every contact ended, as an attribute of the customer
        future = root / "future"
        shutil.copytree(extract, future)
        contacts = pd.read_csv(future / "contacts.csv")
        last = contacts.sort_values("ts").groupby("customer_id")["outcome"].last()
        customers = pd.read_csv(future / "customers.csv", dtype=str, keep_default_na=False)
        customers["outcome_known"] = customers["customer_id"].map(last).fillna("none")
        customers.to_csv(future / "customers.csv", index=False)
        mapping = (future / "mapping.toml").read_text(encoding="utf-8")
        (future / "mapping.toml").write_text(
            mapping + '\n[tables.customers.attributes.outcome_known]\ntype = "str"\n', encoding="utf-8"
        )
        ingest(future, store, AS_OF + timedelta(days=1), future / "mapping.toml")
        run_pipeline(store)
        with ops.engine.begin() as con:  # and outcomes logged after every past contact
            for cid in sorted(set(contacts["customer_id"]))[:200]:
                con.exec_driver_sql(
                    "INSERT INTO outcomes (idempotency_key, customer_id, manager_id, action, kind, channel, "
                    "outcome, at) VALUES (?, ?, 'M1', 'campaign_offer', 'marketing', 'phone', 'sold', "
                    "'2026-12-02 02:00:00.000000')",
                    (f"late-{cid}", cid),
                )
        with ops.engine.connect() as con:
            after = examples(store, con)
    finally:
        ops.dispose()
    old = after.frame[after.frame["ts"] < pd.Timestamp("2026-12-02", tz="UTC")].reset_index(drop=True)
    assert len(old) == len(before) and len(after.frame) == len(before) + 200
    assert "outcome_known" not in after.named  # known to no row before its contact
    columns = [c for c in before.columns if c != "key"]
    pd.testing.assert_frame_equal(old[columns], before[columns].reset_index(drop=True), check_dtype=False)


def test_a_worse_model_is_not_put_in_force_and_a_rollback_restores_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "bank"
    root.mkdir()
    _bank(root, 3_000, months=18)
    store = root / "bank.duckdb"
    ops = open_store(f"sqlite:///{root / 'ops.sqlite'}")
    try:
        good = train(store, ops, PB, NOW)
        assert good.activated and registry.active(ops).version == good.version  # type: ignore[union-attr]
        # a model that learnt from labels shuffled across the rows is worse than the one in force
        import kequn.learn.train as learning

        real = learning.examples

        def shuffled(*args: object) -> object:
            ex = real(*args)  # type: ignore[arg-type]
            ex.frame["label"] = np.random.default_rng(3).permutation(ex.frame["label"].to_numpy())
            return ex

        monkeypatch.setattr(learning, "examples", shuffled)
        worse = train(store, ops, PB, NOW + timedelta(minutes=5))
        assert not worse.activated and "does not beat" in worse.reason
        assert registry.active(ops).version == good.version  # type: ignore[union-attr]
        with ops.session() as s:
            assert s.get(PropensityModel, worse.version).status == "refused"  # type: ignore[union-attr]
            # a person puts the worse one in force anyway; the rollback restores the good one
            assert registry.activate(s, worse.version, "test", NOW) == good.version
        assert registry.active(ops).version == worse.version  # type: ignore[union-attr]
        with ops.session() as s:
            assert registry.rollback(s, "test", NOW) == (worse.version, good.version)
        assert registry.active(ops).version == good.version  # type: ignore[union-attr]
        # and the night's decision scores with it
        run_pipeline(store)
        report = decide(store, f"sqlite:///{root / 'ops.sqlite'}")
        assert report.model_version == good.version
        with ops.session() as s:
            assert s.scalar(select(DecisionRun.model_version)) == good.version
            # each task the model spoke for says what moved its chance most, in a banker's words
            learnt = registry.load(s, good.version).actions
            tasks = s.scalars(select(Task).where(Task.as_of == report.day)).all()
            spoken = [t for t in tasks if t.action in learnt and not t.campaign_id]
            assert spoken, "the model speaks for some of the night's tasks"
            for t in tasks:
                why = (t.explanation or {}).get("propensity_reasons") or []
                if t in spoken:
                    assert why and len(why) <= 3 and all(r["label"] and r["effect"] for r in why), why
                    assert t.propensity != next(a.prior for a in PB.playbook.actions if a.name == t.action)
                else:
                    assert why == []
        # events decided in a batch are scored by the model as each one alone is
        _batch_scores_as_alone(store, ops)
        with ops.session() as s:
            assert registry.rollback(s, "test", NOW) == (good.version, None)  # back to the priors
        assert registry.active(ops) is None
    finally:
        ops.dispose()


def _batch_scores_as_alone(store: Path, ops) -> None:  # type: ignore[no-untyped-def]
    """Customers of different managers (no room shared), each with an event: the
    model in force gives each pair of the batch the chance, priority and reasons
    it gives the event alone."""
    from kequn.decide import realtime
    from kequn.decide.realtime import decide_events
    from kequn.store.cards import Cards

    model = registry.active(ops)
    assert model is not None
    cards = Cards(store)
    try:
        with ops.sessions() as s:
            events = one_event_per_manager(s, 30)

            def seen(results) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
                return [
                    (
                        sorted((p.action, p.stage, p.reason, round(p.priority, 9)) for p in r.pairs),
                        None if r.task is None else (r.task.action, round(r.task.propensity, 9)),
                        None if r.task is None else r.task.explanation.get("propensity_reasons"),
                    )
                    for r in results
                ]

            together = seen(decide_events(s, cards, events, PB, model, NOW))
            s.rollback()
            alone = [seen(decide_events(s, cards, [e], PB, model, NOW))[0] for e in events]
            s.rollback()
            # an event reads the profile's columns it decides on: the model's
            # inputs among them, or its chances would differ from the whole card's
            with patch.object(realtime, "read_to_judge", lambda pb: None):
                whole = seen(decide_events(s, cards, events, PB, model, NOW))
            s.rollback()
    finally:
        cards.close()
    assert together == alone == whole
    learnt = set(model.actions)
    assert any(task and task[0] in learnt for _, task, _ in together), "the model scores some event's task"


def test_a_banks_own_history_is_imported_through_its_mapping(tmp_path: Path) -> None:
    """A call centre's export in GBK, with its own headers, outcome codes and
    attributes: mapped, checked, the bad rows quarantined with their reason."""
    folder = tmp_path / "history"
    folder.mkdir()
    rows = [
        "客户号,呼叫时间,渠道,活动代码,结果,职业,年龄,利率",
        "C1,2025-03-01 10:00:00,电话,KMH,Y,教师,45,1.95",
        "C2,2025-03-01 10:05:00,电话,KMH,N,工人,38,1.95",
        "C3,2025-03-02 11:00:00,短信,KMH,X,医生,51,1.95",  # an outcome code the mapping does not know
        "C4,2025-03-02 11:30:00,电话,KMH,N,农民,abc,1.95",  # an age that is no number
        "C5,2099-01-01 09:00:00,电话,KMH,Y,教师,30,1.95",  # in the future
    ]
    (folder / "contacts.csv").write_bytes("\n".join(rows).encode("gbk"))
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        """version = 1
encoding = "gbk"
[tables.contacts]
columns = { customer_id = "客户号", ts = "呼叫时间", channel = "渠道", action = "活动代码", outcome = "结果" }
values = { channel = { "电话" = "phone", "短信" = "sms" }, outcome = { "Y" = "sold", "N" = "declined" } }
[tables.contacts.attributes.job]
column = "职业"
label = "职业"
[tables.contacts.attributes.age]
column = "年龄"
type = "int"
label = "年龄"
[tables.contacts.attributes.rate]
column = "利率"
type = "number"
label = "利率"
""",
        encoding="utf-8",
    )
    name, counts = import_history(folder, tmp_path / "bank.duckdb", mapping)
    assert counts.read == 5 and counts.accepted == 2 and counts.quarantined == 3
    assert counts.reasons == {"unknown_code": 1, "unparseable_number": 1, "future_date": 1}
    from kequn import warehouse

    con = warehouse.reader(tmp_path / "bank.duckdb", [name])
    try:
        kept = con.execute(
            f"SELECT customer_id, outcome, channel, job, age, rate FROM {name}.contacts ORDER BY 1"
        ).fetchall()
        bad = con.execute(f"SELECT line, field, reason FROM {name}.quarantine ORDER BY line").fetchall()
    finally:
        con.close()
    assert kept == [("C1", "sold", "phone", "教师", 45, 1.95), ("C2", "declined", "phone", "工人", 38, 1.95)]
    assert bad == [(4, "outcome", "unknown_code"), (5, "age", "unparseable_number"), (6, "ts", "future_date")]


def test_the_banks_own_attributes_reach_the_customer_page(tmp_path: Path) -> None:
    """Declared in the mapping, kept with the snapshot, carried by the run's
    profiles: a customer's own attributes are on their page, by their labels."""
    from kequn.store.cards import Cards
    from kequn.store.models import Customer
    from kequn.web.security import Viewer
    from kequn.web.services.customer import customer_360

    root = tmp_path / "bank"
    root.mkdir()
    extract = _bank(root, 800, months=6)
    store = root / "bank.duckdb"
    run_pipeline(store)
    url = f"sqlite:///{root / 'ops.sqlite'}"
    decide(store, url)
    wanted = pd.read_csv(extract / "customers.csv", dtype=str).set_index("customer_id")
    hq = Viewer(1, "hq", "HQ", "hq", None, None, None, "t", "s")
    ops = open_store(url)
    cards = Cards(store)
    try:
        with ops.session() as s:
            assert cards.attributes(s) == {
                "marital": "婚姻状况",
                "education": "学历",
                "housing_loan": "住房贷款",
                "credit_default": "征信违约记录",
            }
            cid = s.scalars(select(Customer.customer_id).order_by(Customer.customer_id)).first()
            page = customer_360(s, cards, hq, cid, PB)
    finally:
        cards.close()
        ops.dispose()
    # and a group's condition may name them
    from kequn.campaign.groups import preview

    found = preview(store, "marital = 'single' AND NOT housing_loan", None)
    assert found.error is None, found.error
    assert found.stats is not None and found.stats.size == int(
        ((wanted["marital"] == "single") & (wanted["housing_loan"] == "false")).sum()
    )
    assert preview(store, "marriage = 'single'", None).error  # an attribute the bank has not
    assert page is not None
    shown = dict(page.attributes)
    assert shown["婚姻状况"] == wanted.loc[cid, "marital"] and shown["学历"] == wanted.loc[cid, "education"]
    assert shown["住房贷款"] is (wanted.loc[cid, "housing_loan"] == "true")
