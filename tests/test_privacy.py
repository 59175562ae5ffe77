"""Personal information protection on the small bank, on SQLite and PostgreSQL:
the audit chain, consent on every contact path, masking everywhere (logs too),
unmasking, data-subject requests, retention and the report."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from kequn import warehouse
from kequn.cli.main import app as cli
from kequn.core.clock import SHANGHAI
from kequn.core.errors import KequnError
from kequn.decide.batch import decide
from kequn.decide.exports import call_list, wechat_groups
from kequn.decide.realtime import handle_event
from kequn.ingest import ingest
from kequn.playbook import load_playbook
from kequn.privacy import audit
from kequn.privacy.audit import Event, record, verify
from kequn.privacy.consent import change_consent, consents_of, refuse_personalisation
from kequn.privacy.logs import install
from kequn.privacy.masking import scrub
from kequn.privacy.report import privacy_report
from kequn.privacy.requests import fulfil, open_request
from kequn.privacy.retention import apply_retention
from kequn.rules import consent as consent_rules
from kequn.rules.rows import execute
from kequn.store import open_store
from kequn.store.cards import Cards
from kequn.store.models import (
    AmlRecord,
    AuditEntry,
    ContactPreference,
    Customer,
    Outcome,
    Task,
)
from kequn.web.security import Viewer
from kequn.web.services.customer import customer_360

from .conftest import AS_OF, decided, make_bank

PB = load_playbook()
DAY = AS_OF + timedelta(days=1)
ID_RE = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}[01][0-9][0-3][0-9][0-9]{3}[0-9Xx](?![0-9])")
PHONE_RE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


@pytest.fixture
def bank(run_store: Path, tmp_path: Path, store_url: str):  # type: ignore[no-untyped-def]
    return decided(run_store, tmp_path, store_url)


def now() -> datetime:
    return datetime.now(SHANGHAI)


# the audit chain ----------------------------------------------------------------


def _trail(url: str, n: int = 12) -> None:
    ops = open_store(url)
    with ops.session() as s:
        record(
            s,
            [
                Event(f"user{i % 3}", "service_manager", "view_customer", f"C{i:09d}", {"i": i})
                for i in range(n)
            ],
        )
    ops.dispose()


def _verify(url: str) -> list[str]:
    ops = open_store(url)
    with ops.session() as s:
        problems = verify(s).problems
    ops.dispose()
    return problems


def _sql(url: str, statement: str, **params: object) -> None:
    ops = open_store(url)
    with ops.engine.begin() as con:
        con.execute(text(statement), params)
    ops.dispose()


def test_an_intact_trail_verifies_and_the_cli_agrees(store_url: str) -> None:
    _trail(store_url)
    assert _verify(store_url) == []
    result = CliRunner().invoke(cli, ["audit", "verify", "--store", store_url])
    assert result.exit_code == 0, result.output
    assert "12 entries checked" in result.output


def test_an_edited_entry_is_found(store_url: str) -> None:
    _trail(store_url)
    _sql(store_url, "UPDATE audit_log SET customer_id = 'C999999999' WHERE seq = 5")
    assert any("entry 5 was changed" in p for p in _verify(store_url))
    result = CliRunner().invoke(cli, ["audit", "verify", "--store", store_url])
    assert result.exit_code == 1 and "entry 5" in result.output


def test_a_removed_entry_is_found(store_url: str) -> None:
    _trail(store_url)
    _sql(store_url, "DELETE FROM audit_log WHERE seq = 7")
    problems = _verify(store_url)
    assert any("entry 7 is missing" in p for p in problems)


def test_reordered_entries_are_found(store_url: str) -> None:
    _trail(store_url)
    # swap the contents of entries 3 and 4, numbers kept: a reordering
    _sql(store_url, "UPDATE audit_log SET seq = -3 WHERE seq = 3")
    _sql(store_url, "UPDATE audit_log SET seq = 3 WHERE seq = 4")
    _sql(store_url, "UPDATE audit_log SET seq = 4 WHERE seq = -3")
    problems = _verify(store_url)
    assert any("entry 3" in p for p in problems) and any("entry 4" in p for p in problems)


def test_entries_cut_from_the_end_are_found(store_url: str) -> None:
    _trail(store_url)
    _sql(store_url, "DELETE FROM audit_log WHERE seq >= 11")
    assert any("removed from the end" in p for p in _verify(store_url))


def test_views_recorded_at_the_same_moment_make_one_unbroken_chain(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many requests put views on the trail at once, each in its own transaction
    as the workbench's threads do: every entry is kept, numbered without a gap,
    and the chain verifies. On PostgreSQL the database numbers and hashes an
    entry appended alone as it appends it, in one statement; ``verify``
    recomputes every hash in Python, so the two must agree on every text
    (Chinese, quotes, backslashes, control characters, no customer)."""
    _trail(store_url, 1)  # the head exists: every later append is the usual one
    _trail(store_url, 5)  # a batch's entries, appended together
    if store_url.startswith("postgresql"):

        def three_statements(*_: object) -> None:
            raise AssertionError("PostgreSQL appends an entry alone in one statement")

        monkeypatch.setattr(audit, "_lock_head", three_statements)
    texts = ["林晓娟", 'said "yes"', "C:\\bank\\x", "tab\there", "nul\x00 and \u2028", "😀 收益"]
    ops = open_store(store_url)

    def views(worker: int) -> None:
        for i in range(25):
            with ops.session() as s:
                t = texts[(worker + i) % len(texts)]
                record(
                    s,
                    [
                        Event(
                            f"经理{worker}",
                            "service_manager",
                            "view_customer",
                            None if i % 5 == 0 else f"C{worker:03d}{i:06d}",
                            {"note": t, "n": i, "nested": {"k": [t, None, 1.5]}},
                        )
                    ],
                )

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(views, range(8)))
        with ops.session() as s:
            result = verify(s)
            seqs = s.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)).all()
    finally:
        ops.dispose()
    assert result.problems == [] and result.checked == 206
    assert seqs == list(range(1, 207))


def test_a_rewritten_chain_shows_against_its_anchor(store_url: str) -> None:
    _trail(store_url)
    ops = open_store(store_url)
    with ops.session() as s:
        head = verify(s).head
        assert verify(s, expect_head=head).ok
        assert not verify(s, expect_head="f" * 64).ok
    ops.dispose()


# consent on every path ---------------------------------------------------------


@given(
    consents=st.dictionaries(
        st.sampled_from(
            ["marketing_phone", "marketing_sms", "marketing_wechat", "personalised_recommendation"]
        ),
        st.one_of(st.none(), st.booleans()),
    ),
    kind=st.sampled_from(["marketing", "service", "compliance"]),
    channel=st.sampled_from(["phone", "visit", "sms", "wechat", "app"]),
    personalised=st.booleans(),
    dnc=st.booleans(),
    opted=st.booleans(),
)
def test_the_consent_rule_never_lets_marketing_through_without_the_channels_consent(
    consents: dict[str, bool | None], kind: str, channel: str, personalised: bool, dnc: bool, opted: bool
) -> None:
    """The one definition (``rules.consent.withdrawn``), run on a row, against
    the law as stated: marketing needs the channel's consent and no refusal of
    targeting; do-not-contact stops all but compliance; a refusal stops all."""
    cc = PB.playbook.contact.channel_consent
    table = ibis.table(
        {
            "kind": "string",
            "channel": "string",
            "personalised": "boolean",
            **{consent_rules.column(p): "boolean" for p in consent_rules.PURPOSES},
            "do_not_contact": "boolean",
            "personalised_opt_out": "boolean",
        },
        name="t",
    )
    expr = table.select(why=consent_rules.withdrawn(table, table.kind, table.channel, table.personalised, cc))
    row = {
        "kind": kind,
        "channel": channel,
        "personalised": personalised,
        **{consent_rules.column(p): consents.get(p) for p in consent_rules.PURPOSES},
        "do_not_contact": dnc,
        "personalised_opt_out": opted,
    }
    why = execute(expr, {"t": [row]})[0]["why"]
    if why is None:
        if kind == "marketing":
            assert consents.get(cc[channel]) is True
            assert consents.get("personalised_recommendation") is not False and not opted
        assert not (dnc and kind != "compliance")
        assert consents.get(cc[channel]) is not False


def _refused(kind: str, channel: str, consents: dict[str, bool], dnc: bool, opted: bool) -> str | None:
    """The law, stated plainly for the test (not the code under test)."""
    purpose = PB.playbook.contact.channel_consent[channel]
    if dnc and kind != "compliance":
        return "do_not_contact"
    if kind == "marketing" and (opted or consents.get("personalised_recommendation") is False):
        return "opted out"
    if kind == "marketing" and consents.get(purpose) is not True:
        return f"no {purpose}"
    if consents.get(purpose) is False:
        return f"refused {purpose}"
    return None


def _withdraw_at_random(url: str, seed: int, share: float) -> set[tuple[str, str]]:
    """Withdraws a random share of the channel consents of 150 random customers
    (those with an open marketing task among them); returns them."""
    import random

    rng = random.Random(seed)
    withdrawn = set()
    ops = open_store(url)
    with ops.session() as s:
        tasked = set(
            s.scalars(select(Task.customer_id).where(Task.status == "open", Task.kind == "marketing"))
        )
        cards = list(s.scalars(select(Customer).order_by(Customer.customer_id)))
        chosen = [c for c in cards if c.customer_id in tasked][:75]
        chosen += rng.sample(
            [c for c in cards if c not in chosen], min(150 - len(chosen), len(cards) - len(chosen))
        )
        for card in chosen:
            for purpose in ("marketing_phone", "marketing_sms", "marketing_wechat"):
                if rng.random() < share:
                    change_consent(s, PB, card, purpose, False, "phone", "test", "operator", now())
                    withdrawn.add((card.customer_id, purpose))
    ops.dispose()
    return withdrawn


def _assert_no_marketing_without_consent(url: str) -> int:
    ops = open_store(url)
    checked = 0
    with ops.session() as s:
        for t in s.scalars(select(Task).where(Task.status == "open", Task.kind == "marketing")):
            card = s.get(Customer, t.customer_id)
            assert card is not None
            prefs = s.get(ContactPreference, t.customer_id)
            why = _refused(
                t.kind,
                t.channel,
                consents_of(s, card),
                bool(prefs and prefs.do_not_contact),
                bool(prefs and prefs.personalised_opt_out),
            )
            assert why is None, (t.task_id, why)
            checked += 1
    ops.dispose()
    return checked


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000), share=st.floats(0.1, 0.6))
def test_no_path_contacts_without_consent(bank, tmp_path: Path, seed: int, share: float) -> None:  # type: ignore[no-untyped-def]
    """Random withdrawals; then the next decision, real-time events, the call list and
    the WeChat groups: none carries a marketing contact the customer did not allow."""
    store, url, _ = bank
    withdrawn = _withdraw_at_random(url, seed, share)
    assert _assert_no_marketing_without_consent(url) >= 0  # open tasks withdrawn at once
    day = DAY + timedelta(days=2 + seed % 5)
    decide(store, url, day=day, replace=True)
    assert _assert_no_marketing_without_consent(url) > 0
    ops = open_store(url)
    with ops.session() as s:
        ids = [c for (c,) in s.execute(select(Customer.customer_id).limit(40))]
    moment = datetime.combine(day, datetime.min.time(), SHANGHAI) + timedelta(hours=10, minutes=15)
    cards = Cards(store)
    for i, cid in enumerate(ids):
        handle_event(
            ops,
            cards,
            {
                "customer_id": cid,
                "event_type": "product_view",
                "event_product_id": "FD0001",
                "event_views_7d": 4,
            },
            PB,
            None,
            moment + timedelta(seconds=i),
        )
    calls = call_list(ops, PB, day, tmp_path / f"calls{seed}.csv")
    groups = wechat_groups(ops, PB, ["asset_upgrade", "silver", "payroll"], tmp_path / f"wx{seed}.csv")
    ops.dispose()
    assert _assert_no_marketing_without_consent(url) > 0
    with open(calls.path, encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            assert (row["客户号"], "marketing_phone") not in withdrawn or row["事项"] in _service_actions_zh()
    with open(groups.path, encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            assert (row["客户号"], "marketing_wechat") not in withdrawn


def _service_actions_zh() -> set[str]:
    """The names the call list shows of the actions that are not marketing."""
    return {a.zh for a in PB.playbook.actions if a.kind != "marketing"}


def test_withdrawing_consent_withdraws_scheduled_tasks_at_once(bank) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = bank
    ops = open_store(url)
    with ops.session() as s:
        task = s.scalars(
            select(Task).where(Task.status == "open", Task.kind == "marketing", Task.channel == "phone")
        ).first()
        assert task is not None
        card = s.get(Customer, task.customer_id)
        change = change_consent(s, PB, card, "marketing_phone", False, "phone", "test", "operator", now())
        assert task.task_id in change.withdrawn_tasks
    with ops.session() as s:
        assert s.get(Task, task.task_id).status == "withdrawn"
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "consent_change")).first()
        assert entry is not None and task.task_id in entry.detail
    ops.dispose()


def test_refusing_personalisation_leaves_only_service(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    ops = open_store(url)
    with ops.session() as s:
        owners = [
            c
            for (c,) in s.execute(
                select(Task.customer_id).where(Task.status == "open", Task.kind == "marketing").limit(30)
            )
        ]
        for cid in owners:
            refuse_personalisation(s, PB, s.get(Customer, cid), "mobile_app", "test", "operator", now())
    ops.dispose()
    decide(store, url, day=DAY + timedelta(days=3), replace=True)
    personalised = {a.name for a in PB.playbook.actions if a.personalised}
    ops = open_store(url)
    with ops.session() as s:
        rows = s.scalars(select(Task).where(Task.customer_id.in_(owners), Task.status == "open")).all()
    ops.dispose()
    assert all(t.kind != "marketing" and t.action not in personalised for t in rows)


# masking and logs ----------------------------------------------------------------


def test_logs_never_carry_ids_or_phones(bank, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """SQLAlchemy's statement log carries parameters: with the scrubber installed,
    a workload that writes phones and IDs leaves none in any log record."""
    _, url, _ = bank
    install()
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    caplog.set_level(logging.DEBUG)
    try:
        ops = open_store(url)
        with ops.session() as s:
            cards = s.scalars(select(Customer).where(Customer.phone.is_not(None)).limit(20)).all()
            secrets_ = {c.phone for c in cards} | {c.id_number for c in cards if c.id_number}
            for c in cards:
                s.execute(
                    select(Customer).where(Customer.phone == c.phone, Customer.id_number == c.id_number)
                )
                logging.getLogger("kequn.test").warning("customer %s phone %s", c.id_number, c.phone)
        call_list(ops, PB, DAY, tmp_path / "calls.csv")
        ops.dispose()
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    text_ = "\n".join(r.getMessage() for r in caplog.records)
    assert len(caplog.records) > 20
    assert not ID_RE.search(text_) and not PHONE_RE.search(text_)
    assert not any(x in text_ for x in secrets_)


def test_exports_mask_unless_a_reason_is_recorded(bank, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = bank
    ops = open_store(url)
    masked = call_list(ops, PB, DAY, tmp_path / "masked.csv")
    clear = call_list(ops, PB, DAY, tmp_path / "clear.csv", "head", "branch_head", "dialler batch 12")
    with ops.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "export")).all()
    ops.dispose()
    body = masked.path.read_text(encoding="utf-8-sig")
    assert masked.rows > 0 and not PHONE_RE.search(body) and "****" in body
    assert PHONE_RE.search(clear.path.read_text(encoding="utf-8-sig"))
    assert len(entries) == 2 and "dialler batch 12" in entries[1].detail
    assert json.loads(entries[0].detail)["rows"] == masked.rows
    # the call centre reads Chinese: headers, and each task's action by its name
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["任务号", "预约时间", "客户号", "姓名", "手机号", "客户经理", "事项", "话术"]
    names = {a.zh for a in PB.playbook.actions}
    assert rows[1:] and all(r[6] in names for r in rows[1:])
    # the workbench's test of a reason: one that says nothing is refused, nothing written
    with pytest.raises(KequnError, match="says nothing"):
        call_list(ops, PB, DAY, tmp_path / "refused.csv", "head", "branch_head", "1234")
    assert not (tmp_path / "refused.csv").exists()
    book = load_workbook(call_list(ops, PB, DAY, tmp_path / "calls.xlsx").path)
    sheet = book.active
    assert sheet.freeze_panes == "A2" and [c.value for c in sheet[1]] == rows[0]


def test_scrub_masks_ids_and_phones_in_free_text() -> None:
    assert scrub("id 110105199003071234 tel 13812345678.") == "id 1101**********1234 tel 138****5678."


# data-subject requests, retention, report -----------------------------------------


def test_a_deletion_leaves_no_personal_field_but_the_aml_record(bank, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    ops = open_store(url)
    with ops.session() as s:
        card = s.scalars(
            select(Customer).where(Customer.phone.is_not(None)).order_by(Customer.customer_id)
        ).first()
        cid, name, id_number, phone = card.customer_id, card.name, card.id_number, card.phone
        req = open_request(s, PB, cid, "deletion", "dpo", "compliance", now())
        assert req.due_on == now().date() + timedelta(days=PB.playbook.privacy.request_days)
        rid = req.request_id
    with ops.session() as s:
        fulfil(s, PB, rid, "dpo", "compliance", now(), store)
    # the operational store: personal values only in the flagged AML record
    with ops.engine.connect() as con:
        for table in ("customers", "tasks", "outcomes", "customer_timeline", "consents", "customer_holdings"):
            rows = con.execute(text(f"SELECT * FROM {table} WHERE customer_id = :c"), {"c": cid}).all()
            flat = json.dumps([list(map(str, r)) for r in rows], ensure_ascii=False)
            for value in (name, id_number, phone):
                assert value not in flat, (table, value)
    with ops.session() as s:
        aml = s.get(AmlRecord, cid)
        assert aml is not None and aml.id_number == id_number and "反洗钱" in aml.reason
    # the customer's page shows no age (it goes with the birth date); another's does
    hq, cards = Viewer(1, "hq", "HQ", "hq", None, None, None, "t", "s"), Cards(store)
    try:
        with ops.session() as s:
            other = s.scalar(select(Customer.customer_id).where(Customer.customer_id != cid))
            erased_page, other_page = (
                customer_360(s, cards, hq, cid, PB),
                customer_360(s, cards, hq, other, PB),
            )
            assert erased_page is not None and erased_page.facts and "age" not in erased_page.facts
            assert other_page is not None and other_page.facts.get("age") is not None
    finally:
        cards.close()
    # the snapshot, and the next ingested snapshot of the same extract
    con = warehouse.reader(store, "all")
    assert con.execute(
        "SELECT name, id_number, phone FROM main.customers WHERE customer_id = ?", [cid]
    ).fetchone() == (
        None,
        None,
        None,
    )
    con.close()
    nxt = make_bank(tmp_path, "next", as_of=AS_OF + timedelta(days=1))
    ingest(nxt, store)
    con = warehouse.reader(store, "all")
    row = con.execute(
        "SELECT name, id_number, phone FROM main.customers WHERE customer_id = ?", [cid]
    ).fetchone()
    con.close()
    assert row == (None, None, None)
    # and the next night's sync keeps the card erased
    from kequn.pipeline import run_pipeline

    run_pipeline(store)
    decide(store, url, day=AS_OF + timedelta(days=2), replace=True)
    with ops.session() as s:
        again = s.get(Customer, cid)
        assert again.name is None and again.id_number is None and again.phone is None
        kinds = [e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.customer_id == cid))]
        assert "erasure" in kinds and kinds.count("subject_request") == 2
    ops.dispose()


def test_access_copy_and_correction(bank, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    ops = open_store(url)
    with ops.session() as s:
        cid = s.scalar(select(Task.customer_id).order_by(Task.customer_id))
        access = open_request(s, PB, cid, "access", "dpo", "compliance", now()).request_id
        fix = open_request(
            s, PB, cid, "correction", "dpo", "compliance", now(), {"field": "phone", "value": "13900000000"}
        ).request_id
    with ops.session() as s:
        written = fulfil(s, PB, access, "dpo", "compliance", now(), store, tmp_path)
        fulfil(s, PB, fix, "dpo", "compliance", now())
    copy = json.loads(next(tmp_path.glob("subject_access_*.json")).read_text(encoding="utf-8"))
    assert "copy written" in written
    assert copy["customer_id"] == cid and copy["tasks"] and copy["bank_extract_customers"]
    assert {"consents_in_force", "holdings", "contacts", "accesses"} <= set(copy)
    decide(store, url, day=DAY + timedelta(days=4), replace=True)  # a fresh card from the extract
    with ops.session() as s:
        assert s.get(Customer, cid).phone == "13900000000"
    ops.dispose()


def test_retention_erases_what_is_past_its_period(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    ops = open_store(url)
    old = now() - timedelta(days=PB.playbook.privacy.retention_days["outcome_notes"] + 5)
    with ops.session() as s:
        ids = s.scalars(select(Outcome.outcome_id).limit(10)).all()
        s.execute(update(Outcome).where(Outcome.outcome_id.in_(ids)).values(at=old, note="客户说下月再谈"))
    with ops.session() as s:
        done = apply_retention(s, PB, now(), "dpo", "compliance", store)
    with ops.session() as s:
        notes = s.scalars(select(Outcome.note).where(Outcome.outcome_id.in_(ids))).all()
    ops.dispose()
    assert done["outcome_notes"] >= 10 and notes == [None] * len(ids)


def test_the_report_counts_consent_and_finds_unusual_access(bank) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = bank
    ops = open_store(url)
    with ops.session() as s:
        ids = s.scalars(select(Customer.customer_id).limit(150)).all()
        record(s, [Event("snoop", "service_manager", "view_customer", c, {}) for c in ids])
        record(s, [Event(f"peer{i}", "service_manager", "view_customer", ids[i], {}) for i in range(5)])
    with ops.session() as s:
        r = privacy_report(s, PB, now())
        cards = s.scalars(select(Customer)).all()
        expected = sum(1 for c in cards if consents_of(s, c).get("marketing_sms") is True)
    ops.dispose()
    assert r.consent_coverage["marketing_sms"]["granted"] == expected
    assert [a.login for a in r.alerts] == ["snoop"]
    assert r.data_map and any(d["table"] == "customers" for d in r.data_map)
    result = CliRunner().invoke(cli, ["privacy", "report", "--store", url])
    assert result.exit_code == 0 and "snoop" in result.output
