"""What a one-customer decision reads of the operational store (consents,
contacts, open tasks, preferences; then the room left in the day) comes in one
query of one row shape each; each kind must come back as its own table holds
it, typed, on SQLite and on PostgreSQL, and nothing of another customer, an old
contact, a closed task or another day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import event

from kequn.core.clock import SHANGHAI
from kequn.decide.one import state_rows
from kequn.decide.realtime import room_today
from kequn.playbook import load_playbook
from kequn.rules import contact as contact_rules
from kequn.store import open_store
from kequn.store.models import Consent, ContactPreference, Customer, Outcome, Staff, Task

PB = load_playbook(None)
NOW = datetime(2026, 11, 30, 10, 20, tzinfo=SHANGHAI)


def _task(
    task_id: str,
    customer_id: str,
    action: str,
    as_of: date,
    status: str,
    manager_id: str = "M1",
    channel: str = "phone",
) -> Task:
    return Task(
        task_id=task_id,
        as_of=as_of,
        customer_id=customer_id,
        manager_id=manager_id,
        action=action,
        trigger="maturity",
        kind="service",
        channel=channel,
        scheduled_at=NOW,
        priority=1.0,
        value=1.0,
        propensity=0.5,
        urgency=1.0,
        talk_track="",
        status=status,
        created_at=NOW,
        updated_at=NOW,
    )


def _outcome(key: str, customer_id: str, action: str, at: datetime) -> Outcome:
    return Outcome(
        idempotency_key=key,
        customer_id=customer_id,
        manager_id="M1",
        action=action,
        kind="marketing",
        outcome="declined",
        at=at,
    )


def test_a_decisions_state_comes_back_as_each_table_holds_it(store_url: str) -> None:
    horizon = contact_rules.horizon(PB.playbook.contact)
    ops = open_store(store_url)
    with ops.session() as s:
        s.add_all(
            [
                Consent(
                    customer_id="C1", purpose="marketing_phone", granted=False, ts=NOW - timedelta(days=2)
                ),
                Consent(customer_id="C1", purpose="marketing_sms", granted=True, ts=NOW - timedelta(days=1)),
                Consent(customer_id="C9", purpose="marketing_phone", granted=False, ts=NOW),
                ContactPreference(
                    customer_id="C2", do_not_contact=True, personalised_opt_out=False, updated_at=NOW
                ),
                ContactPreference(
                    customer_id="C1", do_not_contact=False, personalised_opt_out=True, updated_at=NOW
                ),
                ContactPreference(
                    customer_id="C9", do_not_contact=True, personalised_opt_out=True, updated_at=NOW
                ),
                _outcome("k1", "C1", "fund_pitch", NOW - timedelta(days=3)),
                _outcome("k2", "C2", "call", NOW - horizon - timedelta(days=1)),  # before the horizon
                _outcome("k3", "C9", "call", NOW),
                _task("t1", "C1", "fund_pitch", NOW.date() - timedelta(days=1), "open"),
                _task("t2", "C2", "call", NOW.date(), "done"),
                _task("t3", "C2", "visit", NOW.date() + timedelta(days=1), "open"),  # not yet
                _task("t4", "C9", "call", NOW.date(), "open"),
            ]
        )
    cards = [Customer(customer_id=c, home_branch_id="B1", tier="mass", consent=None) for c in ("C1", "C2")]
    with ops.session() as s:
        got = state_rows(s, cards, NOW, PB)
    ops.dispose()

    def key(r: dict) -> tuple:  # type: ignore[type-arg]
        return tuple(sorted((k, str(v)) for k, v in r.items()))

    consents = sorted(got["k_consent_events"], key=key)
    assert consents == sorted(
        [
            {
                "customer_id": "C1",
                "purpose": "marketing_phone",
                "granted": False,
                "ts": NOW - timedelta(days=2),
            },
            {"customer_id": "C1", "purpose": "marketing_sms", "granted": True, "ts": NOW - timedelta(days=1)},
        ],
        key=key,
    )
    # flags as booleans and times as instants, whichever database answered
    assert all(type(c["granted"]) is bool and c["ts"].utcoffset() is not None for c in consents)
    assert got["k_history"] == [
        {
            "customer_id": "C1",
            "action": "fund_pitch",
            "kind": "marketing",
            "outcome": "declined",
            "at": NOW - timedelta(days=3),
        }
    ]
    assert got["k_history"][0]["at"].utcoffset() is not None
    assert got["k_open"] == [{"customer_id": "C1", "action": "fund_pitch"}]
    assert sorted(got["k_prefs"], key=key) == [
        {"customer_id": "C1", "do_not_contact": False, "personalised_opt_out": True},
        {"customer_id": "C2", "do_not_contact": True, "personalised_opt_out": False},
    ]


def test_the_room_left_in_the_day_counts_the_days_tasks_of_each_manager_and_customer(store_url: str) -> None:
    """The managers' slots booked by channel and the customers' tasks made, read
    in one query: only today's open and done tasks count, each on its own side."""
    today, later = NOW.date(), NOW.date() + timedelta(days=1)
    ops = open_store(store_url)
    with ops.session() as s:
        s.add_all(
            [
                _task("a", "C1", "call", today, "open", "M1", "phone"),
                _task("b", "C2", "call", today, "done", "M1", "phone"),
                _task("c", "C2", "visit", today, "open", "M1", "visit"),
                _task("d", "C3", "call", today, "open", "M2", "sms"),
                _task("e", "C1", "call", today, "cancelled", "M1", "phone"),  # not made
                _task("f", "C1", "call", later, "open", "M1", "phone"),  # another day
                _task("g", "C9", "call", today, "open", "M9", "phone"),  # neither asked for
            ]
        )
    staff = {
        m: Staff(
            manager_id=m, name=m, branch_id="B1", role="wealth_manager", capacity_phone=3, capacity_visit=1
        )
        for m in ("M1", "M2")
    }
    with ops.session() as s:
        room = room_today(s, staff, ["C1", "C2", "C4"], NOW)
        # no manager of theirs known: the customers' side alone is read
        alone = room_today(s, {}, ["C1", "C2"], NOW)
    ops.dispose()
    assert alone.booked == {} and alone.capacity == {} and alone.per_customer == {"C1": 1, "C2": 2}
    assert room.booked == {("M1", "phone"): 2, ("M1", "visit"): 1, ("M2", "sms"): 1}
    assert room.per_customer == {"C1": 1, "C2": 2, "C4": 0}
    assert room.capacity[("M1", "phone")] == 1 and room.capacity[("M1", "visit")] == 0
    assert room.capacity[("M2", "phone")] == 3
    assert room.not_before == NOW


def test_an_events_reads_are_one_statement_whatever_the_number_of_customers(store_url: str) -> None:
    """The state and room reads are built once: the SQL a database receives is
    the same text for one customer and for fifty (on PostgreSQL the keys are one
    array, so the server prepares and plans it once), and a manager's booked
    slots are counted on ``ix_tasks_manager_day`` alone once a decide has
    refreshed the store (no task row read)."""
    ops = open_store(store_url)
    with ops.session() as s:
        s.add_all(
            [_task(f"t{i}", f"C{i}", "call", NOW.date(), "open", f"M{i % 3}", "phone") for i in range(60)]
        )
    ops.refresh_statistics()
    sent: list[str] = []
    event.listen(ops.engine, "before_cursor_execute", lambda c, cur, sql, *a: sent.append(sql))
    staff = {
        m: Staff(manager_id=m, name=m, branch_id="B1", role="wealth_manager", capacity_phone=30)
        for m in ("M0", "M1", "M2")
    }
    with ops.session() as s:
        few = [Customer(customer_id="C1", home_branch_id="B1", tier="mass", consent=None)]
        many = [
            Customer(customer_id=f"C{i}", home_branch_id="B1", tier="mass", consent=None) for i in range(50)
        ]
        state_rows(s, few, NOW, PB)
        state_rows(s, many, NOW, PB)
        one = room_today(s, {"M1": staff["M1"]}, ["C1"], NOW)
        three = room_today(s, staff, [f"C{i}" for i in range(50)], NOW)
    assert one.booked == {("M1", "phone"): 20} and three.per_customer["C49"] == 1
    if ops.is_sqlite:
        ops.dispose()
        return
    assert len(sent) == 4 and sent[0] == sent[1] and sent[2] == sent[3]
    with ops.engine.connect() as con:
        # a table of sixty rows is read whole; a bank's day is not
        con.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in con.exec_driver_sql(
                "EXPLAIN (ANALYZE, COSTS OFF) SELECT manager_id, channel, count(*) FROM tasks "
                "WHERE manager_id = ANY(ARRAY['M1']) AND as_of = %(day)s AND status IN ('open', 'done') "
                "GROUP BY manager_id, channel",
                {"day": NOW.date()},
            )
        )
    ops.dispose()
    assert "Index Only Scan using ix_tasks_manager_day" in plan and "Heap Fetches: 0" in plan, plan


def test_a_key_longer_than_its_column_matches_nothing(store_url: str) -> None:
    """The keys are compared as the text they are: a key longer than the
    column (32 characters) is not cut to a customer who has its first 32."""
    stored = "C" * 32
    ops = open_store(store_url)
    with ops.session() as s:
        s.add(Consent(customer_id=stored, purpose="marketing_phone", granted=False, ts=NOW))
    longer = Customer(customer_id=stored + "X", home_branch_id="B1", tier="mass", consent=None)
    same = Customer(customer_id=stored, home_branch_id="B1", tier="mass", consent=None)
    with ops.session() as s:
        assert state_rows(s, [longer], NOW, PB)["k_consent_events"] == []
        assert len(state_rows(s, [same], NOW, PB)["k_consent_events"]) == 1
    ops.dispose()
