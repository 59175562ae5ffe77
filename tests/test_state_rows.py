"""What a one-customer decision reads of the operational store (consents,
contacts, open tasks, preferences) comes in one query of one row shape; each
kind must come back as its own table holds it, typed, on SQLite and on
PostgreSQL, and nothing of another customer, an old contact or a closed task."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from kequn.core.clock import SHANGHAI
from kequn.decide.one import state_rows
from kequn.playbook import load_playbook
from kequn.rules import contact as contact_rules
from kequn.store import open_store
from kequn.store.models import Consent, ContactPreference, Customer, Outcome, Task

PB = load_playbook(None)
NOW = datetime(2026, 11, 30, 10, 20, tzinfo=SHANGHAI)


def _task(task_id: str, customer_id: str, action: str, as_of: date, status: str) -> Task:
    return Task(
        task_id=task_id,
        as_of=as_of,
        customer_id=customer_id,
        manager_id="M1",
        action=action,
        trigger="maturity",
        kind="service",
        channel="phone",
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
