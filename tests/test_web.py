"""The workbench over HTTP (no browser): sign-in, roles and reach, My day and
outcomes. Runs on SQLite and on PostgreSQL. (The customer's page, reports,
dashboards and both languages: ``test_web_pages``; the trail, unmasking and
refusals: ``test_web_privacy``.)"""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from kequn.core.errors import KequnError
from kequn.store import open_store
from kequn.store.models import Customer, Outcome, Product, Task, User
from kequn.web.app import create_app
from kequn.web.security import hasher
from kequn.web.settings import Settings
from tests.conftest import DAY, PASSWORD, Workbench
from tests.web_client import (
    client,
    csrf,
    first_open_task,
    one_customer,
    ops_session,
    pre_token,
    signed_in,
)

pytestmark = pytest.mark.xdist_group("web")


# sign-in ------------------------------------------------------------------


def test_pages_need_sign_in(app) -> None:  # type: ignore[no-untyped-def]
    c = client(app)
    assert c.get("/my-day").headers["location"] == "/login"
    assert c.get("/api/my-day").status_code == 401


def test_sign_in_without_the_csrf_token_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    c = client(app)
    pre_token(c)
    r = c.post("/login", data={"login": "manager", "password": PASSWORD})
    assert r.status_code == 403
    r = c.post("/login", data={"login": "manager", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403
    assert "kequn_session" not in c.cookies


def test_the_session_cookie_is_secure_http_only(app) -> None:  # type: ignore[no-untyped-def]
    c = client(app)
    r = c.post("/login", data={"login": "teller", "password": PASSWORD, "csrf_token": pre_token(c)})
    cookie = r.headers["set-cookie"].lower()
    assert "kequn_session=" in cookie and "httponly" in cookie and "secure" in cookie


def test_repeated_failures_lock_the_account(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    c = client(app)
    for _ in range(3):
        r = c.post(
            "/login", data={"login": "head2", "password": "wrong-password!", "csrf_token": pre_token(c)}
        )
        assert r.status_code == 401
    # now even the right password is refused until the lock ends
    r = c.post("/login", data={"login": "head2", "password": PASSWORD, "csrf_token": pre_token(c)})
    # in the same words as a wrong password: a lock-out does not tell that the login exists
    assert r.status_code == 401 and "锁定" in r.text
    unknown = c.post(
        "/login", data={"login": "nobody-here", "password": PASSWORD, "csrf_token": pre_token(c)}
    )
    assert unknown.status_code == 401
    said = re.compile(r'<p class="error"[^>]*>([^<]*)</p>')
    assert said.findall(unknown.text) == said.findall(r.text) != []
    for s in ops_session(workbench):
        user = s.scalar(select(User).where(User.login == "head2"))
        assert user is not None and user.locked_until is not None
        user.locked_until = None  # unlock for the other tests
        s.commit()
    assert signed_in(app, "head2").get("/api/me").json()["login"] == "head2"


def test_a_raised_password_cost_reaches_a_user_at_their_next_sign_in(
    app, workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The tests hash at OWASP's minimum (conftest); a bank that raises the cost
    to RFC 9106's sees each stored hash remade the next time its user signs in."""

    def stored() -> str:
        for s in ops_session(workbench):
            user = s.scalar(select(User).where(User.login == "teller"))
            assert user is not None
            return user.password_hash
        raise AssertionError("no session")

    assert "m=19456,t=2,p=1" in stored()
    monkeypatch.setenv("KEQUN_PASSWORD_COST", "rfc9106")
    hasher.cache_clear()
    try:
        assert signed_in(app, "teller").get("/api/me").json()["login"] == "teller"
        assert "m=65536,t=3,p=4" in stored()
        # the remade hash still takes the same password, and a wrong one is still refused
        assert signed_in(app, "teller").get("/api/me").status_code == 200
        c = client(app)
        wrong = c.post(
            "/login", data={"login": "teller", "password": "not-it-at-all", "csrf_token": pre_token(c)}
        )
        assert wrong.status_code == 401
        monkeypatch.setenv("KEQUN_PASSWORD_COST", "cheap")
        hasher.cache_clear()
        with pytest.raises(KequnError, match="KEQUN_PASSWORD_COST='cheap' is not a known cost"):
            create_app(Settings(store_url=workbench.url, secret_key="k" * 32))
    finally:
        monkeypatch.undo()
        hasher.cache_clear()


def test_signing_out_ends_the_session(app) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(app, "teller")
    token = csrf(c)
    assert c.get("/api/me").status_code == 200
    assert c.post("/logout", data={"csrf_token": token}).status_code == 303
    assert c.get("/api/me").status_code == 401


# roles and reach -------------------------------------------------------------


def test_another_managers_customer_is_not_found(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    theirs = one_customer(workbench, "manager2")
    mine = one_customer(workbench, "manager")
    c = signed_in(app, "manager")
    assert c.get(f"/customers/{mine}").status_code == 200
    assert c.get(f"/customers/{theirs}").status_code == 404
    assert c.get(f"/api/customers/{theirs}").status_code == 404
    assert c.get(f"/customers/{theirs}/report.pdf").status_code == 404
    assert theirs not in c.get("/customers").text


def test_a_branch_head_reaches_their_branch_only(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = one_customer(workbench, "manager"), one_customer(workbench, "manager2")
    head = signed_in(app, "head")
    assert head.get(f"/api/customers/{mine}").status_code == 200
    assert head.get(f"/api/customers/{theirs}").status_code == 404
    hq = signed_in(app, "hq")
    assert hq.get(f"/api/customers/{theirs}").status_code == 200


def test_compliance_reads_but_cannot_log(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    for s in ops_session(workbench):
        task_id = s.scalar(select(Task.task_id).where(Task.manager_id == workbench.people["manager"]))
    c = signed_in(app, "compliance")
    assert c.get("/api/dashboard").status_code == 200
    r = c.post(
        f"/api/tasks/{task_id}/outcome",
        json={"outcome": "reached", "key": "compliance-1"},
        headers={"X-CSRF-Token": csrf(c)},
    )
    assert r.status_code == 403


def test_floor_staff_see_no_book_and_no_dashboard(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(app, "teller")
    assert c.get("/api/dashboard").status_code == 403
    assert c.get(f"/api/customers/{one_customer(workbench, 'manager')}").status_code == 404


# my day and outcomes ---------------------------------------------------------


def test_my_day_is_in_contact_window_order_and_masked(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(app, "manager")
    tasks = c.get("/api/my-day").json()
    for s in ops_session(workbench):
        expected = s.scalar(
            select(func.count()).where(Task.manager_id == workbench.people["manager"], Task.as_of == DAY)
        )
    assert len(tasks) == expected > 0
    times = [t["scheduled_at"] for t in tasks]
    assert times == sorted(times)
    for s in ops_session(workbench):
        names = {
            cid: name
            for cid, name in s.execute(
                select(Customer.customer_id, Customer.name).where(
                    Customer.customer_id.in_([t["customer_id"] for t in tasks])
                )
            )
        }
    for t in tasks:
        full = names[t["customer_id"]]
        if full and len(full) > 1:
            assert t["customer_name"] != full and t["customer_name"].startswith(full[0])
    html = c.get("/my-day").text
    assert tasks[0]["talk_track"].split("，")[0][:8] in html


def test_my_day_pages_add_up_to_the_whole_day_in_order(app) -> None:  # type: ignore[no-untyped-def]
    from kequn.web.services.myday import PAGE

    c = signed_in(app, "manager")
    every = [t["task_id"] for t in c.get("/api/my-day").json()]
    html = c.get("/my-day").text
    shown = re.findall(r'data-task="([^"]+)"', html)
    assert shown == every[:PAGE]
    assert f"{len(every)} " in html  # the summary counts the whole day
    following = re.search(r'hx-get="(/my-day/tasks\?offset=\d+[^"]*)"', html)
    while following:
        part = c.get(following.group(1).replace("&amp;", "&")).text
        shown += re.findall(r'data-task="([^"]+)"', part)
        following = re.search(r'hx-get="(/my-day/tasks\?offset=\d+[^"]*)"', part)
    assert shown == every


def test_outcome_without_csrf_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(app, "manager")
    task = first_open_task(c)
    r = c.post(f"/api/tasks/{task['task_id']}/outcome", json={"outcome": "reached", "key": "no-token"})
    assert r.status_code == 403
    r = c.post(f"/tasks/{task['task_id']}/outcome", data={"outcome": "reached", "key": "no-token-form"})
    assert r.status_code == 403


def test_a_double_click_logs_one_outcome(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(app, "manager")
    task = first_open_task(c)
    body = {"outcome": "interested", "key": "double-click-1"}
    headers = {"X-CSRF-Token": csrf(c)}
    first = c.post(f"/api/tasks/{task['task_id']}/outcome", json=body, headers=headers).json()
    again = c.post(f"/api/tasks/{task['task_id']}/outcome", json=body, headers=headers).json()
    assert first["created"] and not again["created"]
    assert first["outcome_id"] == again["outcome_id"]
    for s in ops_session(workbench):
        n = s.scalar(select(func.count()).where(Outcome.idempotency_key.like("%double-click-1")))
        status = s.scalar(select(Task.status).where(Task.task_id == task["task_id"]))
    assert n == 1 and status == "done"


def test_concurrent_outcomes_are_neither_lost_nor_doubled(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(app, "manager")
    task = first_open_task(c)
    token = csrf(c)
    results: list[dict] = []  # type: ignore[type-arg]

    def post(key: str) -> None:
        with client(app) as mine:
            mine.cookies.update(c.cookies)
            r = mine.post(
                f"/api/tasks/{task['task_id']}/outcome",
                json={"outcome": "reached", "key": key},
                headers={"X-CSRF-Token": token},
            )
            results.append(r.json())

    # eight clicks: four on one key (the same click resent), four distinct
    threads = [threading.Thread(target=post, args=(k,)) for k in ["same"] * 4 + ["a", "b", "c", "d"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all("outcome_id" in r for r in results), results
    for s in ops_session(workbench):
        keys = [
            k for (k,) in s.execute(select(Outcome.idempotency_key).where(Outcome.task_id == task["task_id"]))
        ]
    assert len(keys) == 5, keys
    assert sum(r["created"] for r in results) == 5


def test_a_sale_needs_product_and_amount(app) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(app, "manager")
    task = first_open_task(c)
    r = c.post(
        f"/api/tasks/{task['task_id']}/outcome",
        json={"outcome": "sold", "key": "sale-no-amount"},
        headers={"X-CSRF-Token": csrf(c)},
    )
    assert r.status_code == 422


def test_the_dashboards_rates_are_the_data_counted_by_their_definitions(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    """Each manager's figures on a branch head's dashboard, counted again here
    from the stored rows by what each figure says it is."""
    from datetime import UTC
    from datetime import datetime as dt
    from datetime import time as dtime

    from kequn.core.clock import SHANGHAI
    from kequn.decide.simulate import OUTCOME_COLUMNS
    from kequn.rules.contact import CONTACTED
    from kequn.store.bulk import load_rows

    head = signed_in(app, "head")
    day = DAY + timedelta(days=1)
    ask = {"day": day.isoformat(), "period": "days30"}
    theirs = {m["manager_id"] for m in head.get("/api/dashboard", params=ask).json()["managers"]}
    # three of the day's tasks worked: early, in the day's last second, and the morning after
    for s in ops_session(workbench):
        picked = s.execute(
            select(Task.task_id, Task.customer_id, Task.manager_id, Task.action, Task.kind, Task.channel)
            .where(Task.as_of == DAY, Task.status == "open", Task.manager_id.in_(theirs))
            .order_by(Task.task_id)
            .limit(3)
        ).all()
    assert len(picked) == 3
    moments = [
        dt.combine(DAY, dtime(10, 0), SHANGHAI),
        dt.combine(DAY, dtime(23, 59, 59), SHANGHAI),
        dt.combine(day, dtime(8, 0), SHANGHAI),
    ]
    ops = open_store(workbench.url)
    with ops.engine.begin() as con:
        load_rows(
            con,
            "outcomes",
            OUTCOME_COLUMNS,
            [
                (
                    f"on-time-{t.task_id}",
                    t.task_id,
                    t.customer_id,
                    t.manager_id,
                    t.action,
                    t.kind,
                    t.channel,
                    "reached",
                    None,
                    None,
                    None,
                    None,
                    at,
                )
                for t, at in zip(picked, moments, strict=True)
            ],
            ["idempotency_key"],
            [],
        )
    ops.dispose()
    board = head.get("/api/dashboard", params=ask).json()
    start = date.fromisoformat(board["period"]["start"])
    since = dt.combine(start, dtime(0), SHANGHAI)

    def moment(value):  # type: ignore[no-untyped-def]
        if isinstance(value, str):
            value = dt.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    shown = {m["manager_id"]: m for m in board["managers"]}
    assert shown
    for s in ops_session(workbench):
        outcomes = s.execute(
            select(
                Outcome.manager_id,
                Outcome.customer_id,
                Outcome.outcome,
                Outcome.at,
                Outcome.amount,
                Outcome.task_id,
                Outcome.product_id,
            )
        ).all()
        fee_rates = dict(s.execute(select(Product.product_id, Product.fee_rate)).all())
        tasks = s.execute(select(Task.task_id, Task.manager_id, Task.as_of)).all()
        owned = dict(
            s.execute(
                select(Customer.owner_manager_id, func.count()).group_by(Customer.owner_manager_id)
            ).all()
        )
    first_contact: dict[str, object] = {}
    for o in outcomes:
        if o.outcome in CONTACTED and o.task_id and moment(o.at) >= since:
            at = moment(o.at)
            first_contact[o.task_id] = min(at, first_contact.get(o.task_id, at))  # type: ignore[type-var]
    totals = {"tasks": 0, "on_time": 0, "contacts": 0}
    for mid, m in shown.items():
        mine = [o for o in outcomes if o.manager_id == mid and moment(o.at) >= since]
        contacts = [o for o in mine if o.outcome in CONTACTED]
        sold = [o for o in mine if o.outcome == "sold"]
        due = [t for t in tasks if t.manager_id == mid and start <= t.as_of < day]
        in_time = [
            t
            for t in due
            if t.task_id in first_contact
            and first_contact[t.task_id] < dt.combine(t.as_of + timedelta(days=1), dtime(0), SHANGHAI)  # type: ignore[operator]
        ]
        assert m["owned"] == owned.get(mid, 0), mid
        assert m["contacts"] == len(contacts), mid
        assert m["contacted"] == len({o.customer_id for o in contacts}), mid
        assert m["sales"] == len(sold), mid
        assert abs(m["sold_amount"] - float(sum(o.amount or 0 for o in sold))) < 0.005, mid
        assert (m["tasks"], m["on_time"]) == (len(due), len(in_time)), mid
        assert m["reach"] == (len({o.customer_id for o in contacts}) / m["owned"] if m["owned"] else 0)
        for key in totals:
            totals[key] += m[key]
    # the figures are about something: the simulated month has tasks, contacts and timely work
    assert totals["tasks"] > 0 and totals["contacts"] > 0 and 2 <= totals["on_time"] < totals["tasks"]
    # fee income (中收): each sale of the period by the unit's managers at its product's fee rate
    until = dt.combine(day + timedelta(days=1), dtime(0), SHANGHAI)
    fees = [
        float(o.amount or 0) * float(fee_rates.get(o.product_id) or 0)
        for o in outcomes
        if o.outcome == "sold" and o.manager_id in shown and since <= moment(o.at) < until
    ]
    assert abs(board["fee_income"] - sum(fees)) < 0.005
    assert sum(fees) > 0, "the simulated month sells products that earn the bank a fee"


def test_a_sale_moves_the_branch_heads_conversion(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    head = signed_in(app, "head")

    def conversion() -> tuple[float, int]:
        board = head.get("/api/dashboard").json()
        row = next(m for m in board["managers"] if m["manager_id"] == workbench.people["manager"])
        return row["conversion"], row["sales"]

    before, sales_before = conversion()
    c = signed_in(app, "manager")
    task = first_open_task(c)
    r = c.post(
        f"/api/tasks/{task['task_id']}/outcome",
        json={"outcome": "sold", "key": "sale-1", "product_id": "TD0001", "amount": "50000.00"},
        headers={"X-CSRF-Token": csrf(c)},
    )
    assert r.status_code == 200, r.text
    after, sales_after = conversion()
    assert sales_after == sales_before + 1
    assert after > before
    for s in ops_session(workbench):
        amount = s.scalar(select(Outcome.amount).where(Outcome.idempotency_key.like("%sale-1")))
    assert amount == Decimal("50000.00")


def test_do_not_contact_withdraws_the_customers_other_open_tasks(app, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(app, "manager")
    task = first_open_task(c)
    # the customer has two more open tasks: a sales one, which must go, and a
    # compliance one (a regulator's notice), which must stay
    for s in ops_session(workbench):
        first = s.get(Task, task["task_id"])
        assert first is not None
        for suffix, kind in (("second", "service"), ("notice", "compliance")):
            s.add(
                Task(
                    **{
                        col: getattr(first, col)
                        for col in (c.key for c in Task.__table__.columns)
                        if col not in {"task_id", "kind", "version"}
                    },
                    task_id=f"{first.task_id}:{suffix}",
                    kind=kind,
                )
            )
        s.commit()
    r = c.post(
        f"/api/tasks/{task['task_id']}/outcome",
        json={"outcome": "do_not_contact", "key": "dnc-1"},
        headers={"X-CSRF-Token": csrf(c)},
    )
    assert r.status_code == 200, r.text
    for s in ops_session(workbench):
        status = dict(
            s.execute(select(Task.task_id, Task.status).where(Task.task_id.like(f"{task['task_id']}%"))).all()
        )
    assert status == {
        task["task_id"]: "done",
        f"{task['task_id']}:second": "withdrawn",
        f"{task['task_id']}:notice": "open",
    }
