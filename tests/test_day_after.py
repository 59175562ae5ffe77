"""The day after: a simulated history (as the demo makes one), outcomes logged
through the workbench's own API, then the next day's decide and a campaign
launch — on SQLite and on PostgreSQL. Every moment in the store, whichever path
wrote it, reads back as one kind of time."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from kequn.campaign.campaigns import CampaignSpec, launch
from kequn.campaign.groups import preview, save_group
from kequn.core.clock import SHANGHAI
from kequn.decide.batch import decide
from kequn.decide.simulate import simulate_history
from kequn.playbook import load_playbook
from kequn.rules.contact import CONTACTED
from kequn.store import open_store
from kequn.store.campaign_models import Campaign
from kequn.store.cards import Cards
from kequn.store.models import Base, Instant, Outcome, Task
from kequn.warehouse import copy_store
from kequn.web.app import create_app
from kequn.web.services.users import create_user
from kequn.web.settings import Settings

from .conftest import AS_OF

PB = load_playbook()
DAY = AS_OF + timedelta(days=1)
SQLITE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def test_the_next_day_decides_and_launches_after_outcomes_from_the_web(
    run_store: Path, tmp_path: Path, store_url: str
) -> None:
    store = copy_store(run_store, tmp_path / "bank.duckdb")
    first = decide(store, store_url, day=DAY)
    ops = open_store(store_url)
    simulate_history(ops, Cards(store), PB, AS_OF, days=5, contacts_per_day=40)
    with ops.session() as s:
        task = s.scalars(
            select(Task).where(Task.as_of == DAY, Task.status == "open").order_by(Task.task_id)
        ).first()
        assert task is not None
        manager = s.execute(
            text("SELECT role FROM staff WHERE manager_id = :m"), {"m": task.manager_id}
        ).scalar_one()
        create_user(s, "rm", "pw-day-after-1", manager, datetime.now(SHANGHAI), task.manager_id, None)
    app = create_app(
        Settings(store_url=store_url, analytics=str(store), secret_key="d" * 32, day=DAY.isoformat())
    )
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        form = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        assert (
            c.post(
                "/login", data={"login": "rm", "password": "pw-day-after-1", "csrf_token": token.group(1)}
            ).status_code
            == 303
        )
        page = c.get("/my-day")
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
        assert csrf
        logged = c.post(
            f"/api/tasks/{task.task_id}/outcome",
            json={"outcome": "sold", "key": uuid.uuid4().hex, "product_id": "DD0001", "amount": "12000.50"},
            headers={"X-CSRF-Token": csrf.group(1)},
        )
        assert logged.status_code == 200, logged.text
    app.state.store.dispose()
    # the next day, on the same bank: the outcome and the simulated history meet in one decide
    second = decide(store, store_url, day=DAY + timedelta(days=1))
    assert second.run_id != first.run_id and sum(second.tasks_by_channel.values()) > 0
    # no action that reached its customer in the days before is raised for them again
    midnight = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), SHANGHAI)
    with ops.session() as s:
        reached = set(
            s.execute(
                select(Outcome.customer_id, Outcome.action).where(
                    Outcome.outcome.in_(CONTACTED),
                    # the one logged through the web is stamped with today's clock, after the bank's day
                    Outcome.at >= midnight - timedelta(days=PB.playbook.contact.recontact_days - 1),
                )
            ).all()
        )
        raised = set(
            s.execute(
                select(Task.customer_id, Task.action).where(Task.as_of == DAY + timedelta(days=1))
            ).all()
        )
    assert (task.customer_id, task.action) in reached and len(reached) > 20
    assert not reached & raised
    assert second.dropped.get("within_contact_policy:contacted_recently", 0) > 0, second.dropped
    with ops.session() as s:
        group = save_group(
            s,
            "日后客群",
            "age >= 50",
            None,
            "test",
            datetime.now(SHANGHAI),
            preview(store, "age >= 50", None),
        )
    moment = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), SHANGHAI) + timedelta(hours=9)
    spec = CampaignSpec(
        "次日活动",
        group.group_id,
        "campaign_offer",
        ("phone", "sms"),
        moment.date(),
        moment.date() + timedelta(days=9),
        "sold",
        Decimal(10),
    )
    launched = launch(store, ops, spec, "test", "hq", PB, moment)
    assert launched.tasking is not None and launched.tasking.tasks > 0
    with ops.session() as s:
        assert s.get(Campaign, launched.campaign.campaign_id) is not None
        made = s.scalar(
            text("SELECT count(*) FROM tasks WHERE campaign_id = :c").bindparams(
                c=launched.campaign.campaign_id
            )
        )
        assert made == launched.tasking.tasks
    # one kind of time, whichever path wrote it
    if store_url.startswith("sqlite"):
        tables = set(inspect(ops.engine).get_table_names())
        with ops.engine.connect() as con:
            for table in Base.metadata.sorted_tables:
                if table.name not in tables:
                    continue
                for column in table.columns:
                    if isinstance(column.type, Instant):
                        for (value,) in con.execute(
                            text(f"SELECT {column.name} FROM {table.name} WHERE {column.name} IS NOT NULL")
                        ):
                            assert SQLITE_TIME.match(value), (table.name, column.name, value)
    ops.dispose()


def test_a_launch_that_fails_leaves_no_campaign(
    run_store: Path, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = copy_store(run_store, tmp_path / "bank.duckdb")
    decide(store, store_url, day=DAY)
    ops = open_store(store_url)
    with ops.session() as s:
        group = save_group(
            s,
            "失败客群",
            "age >= 30",
            None,
            "test",
            datetime.now(SHANGHAI),
            preview(store, "age >= 30", None),
        )
    import kequn.decide.campaign_tasks as tasking

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the task writer failed")

    monkeypatch.setattr(tasking, "record_verdicts", broken)
    moment = datetime.combine(DAY, datetime.min.time(), SHANGHAI) + timedelta(hours=9)
    spec = CampaignSpec(
        "半途", group.group_id, "campaign_offer", ("phone",), DAY, DAY + timedelta(days=5), "sold", Decimal(5)
    )
    with pytest.raises(RuntimeError):
        launch(store, ops, spec, "test", "hq", PB, moment)
    with ops.session() as s:
        assert s.scalar(text("SELECT count(*) FROM campaigns")) == 0
        assert s.scalar(text("SELECT count(*) FROM campaign_members")) == 0
        assert s.scalar(text("SELECT count(*) FROM tasks WHERE source = 'campaign'")) == 0
    ops.dispose()
