"""Decisions on the small bank, against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, text

from kequn import warehouse
from kequn.core.clock import SHANGHAI
from kequn.core.errors import KequnError
from kequn.decide import realtime
from kequn.decide.batch import decide
from kequn.decide.one import facts_row, plan
from kequn.decide.realtime import decide_events, handle_event, handle_events
from kequn.decide.talk import TALK_FACTS, values
from kequn.playbook import load_playbook
from kequn.playbook.load import NEVER_CALL, parse_window
from kequn.rules.rows import execute
from kequn.store import open_store
from kequn.store.cards import Cards
from kequn.store.models import Consent, Customer, Staff, Task

from .conftest import AS_OF, decided, one_event_per_manager

DAY = AS_OF + timedelta(days=1)
PB = load_playbook()


@pytest.fixture
def bank(run_store: Path, tmp_path: Path, store_url: str):  # type: ignore[no-untyped-def]
    return decided(run_store, tmp_path, store_url)


def _tasks(url: str) -> pd.DataFrame:
    ops = open_store(url)
    with ops.engine.connect() as con:
        frame = pd.read_sql(
            text("SELECT * FROM tasks WHERE as_of = :d AND status = 'open'"), con, params={"d": DAY}
        )
    ops.dispose()
    return frame


def test_every_customer_is_owned_and_no_manager_is_over_capacity(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, report = bank
    ops = open_store(url)
    with ops.session() as s:
        assert s.scalar(select(Customer).where(Customer.owner_manager_id.is_(None))) is None
        staff = {m.manager_id: m for m in s.scalars(select(Staff))}
        owners_active = s.execute(
            text(
                "SELECT count(*) FROM customers c JOIN staff m ON m.manager_id = c.owner_manager_id "
                "WHERE NOT m.active"
            )
        ).scalar_one()
        # the cards hold exactly the owners the log says they were given (a new
        # card is written with its owner, a known one updated): the last change,
        # else the bank's own owner from the extract
        held = dict(s.execute(text("SELECT customer_id, owner_manager_id FROM customers")).all())
        logged = dict(
            s.execute(text("SELECT customer_id, to_manager_id FROM ownership_log ORDER BY change_id")).all()
        )
    ops.dispose()
    assert owners_active == 0, "a departed manager still owns customers"
    con = warehouse.reader(store, "all")
    snapshot = warehouse.latest(con, "snapshot")
    assert snapshot is not None
    extract = dict(
        con.execute(f"SELECT customer_id, owner_manager_id FROM {snapshot.name}.customers").fetchall()
    )
    con.close()
    assert len(logged) > 0
    assert held == {c: logged.get(c, extract[c]) for c in held}
    tasks = _tasks(url)
    assert len(tasks) > 100
    for (manager, channel), n in Counter(zip(tasks.manager_id, tasks.channel, strict=True)).items():
        if channel != "app":
            assert n <= getattr(staff[manager], f"capacity_{channel}"), (manager, channel)
    assert report.unowned == 0


def test_a_decision_leaves_the_planner_statistics_of_what_it_wrote(bank) -> None:  # type: ignore[no-untyped-def]
    """Right after a bulk fill a planner without statistics guesses (a parallel
    scan of every holding for one customer's page): decide analyses what it wrote."""
    _, url, _ = bank
    ops = open_store(url)
    with ops.engine.connect() as con:
        if ops.is_sqlite:
            found = set(con.exec_driver_sql("SELECT tbl FROM sqlite_stat1").scalars())
        else:
            # ANALYZE by hand, not autovacuum's: only it sets last_analyze
            found = set(
                con.exec_driver_sql(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
                ).scalars()
            )
    ops.dispose()
    assert {"customers", "customer_holdings", "customer_timeline", "tasks", "ownership_log"} <= found


def test_tasks_keep_consent_opt_out_and_contact_windows(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    tasks = _tasks(url)
    con = warehouse.reader(store, "all")
    latest = dict(
        ((c, p), g)
        for c, p, g in con.execute(
            "SELECT customer_id, purpose, arg_max(granted, ts) FROM consents GROUP BY ALL"
        ).fetchall()
    )
    actions = {a.name: a for a in PB.playbook.actions}
    for t in tasks.itertuples():
        a = actions[t.action]
        purpose = PB.playbook.contact.channel_consent[t.channel]
        given = latest.get((t.customer_id, purpose))
        if a.kind == "marketing":
            assert given is True, (t.task_id, t.channel)
        else:
            assert given is not False, (t.task_id, t.channel)
        if a.kind == "marketing" or a.personalised:
            assert latest.get((t.customer_id, "personalised_recommendation")) is not False
        at = pd.to_datetime(t.scheduled_at, utc=True).tz_convert("Asia/Shanghai")
        minute = at.hour * 60 + at.minute
        if t.channel == "phone":
            assert any(s <= minute < e for s, e in map(parse_window, PB.playbook.contact.windows["phone"]))
            assert not any(lo <= minute < hi for lo, hi in NEVER_CALL)
        explanation = t.explanation if isinstance(t.explanation, dict) else json.loads(t.explanation)
        assert explanation["trigger"] == t.trigger and explanation["rules_passed"]


def test_same_input_same_tasks(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    before = _tasks(url).set_index("task_id")[["manager_id", "channel", "talk_track", "scheduled_at"]]
    decide(store, url, replace=True)
    after = _tasks(url).set_index("task_id")[["manager_id", "channel", "talk_track", "scheduled_at"]]
    assert before.sort_index().equals(after.sort_index())


def test_talk_tracks_rendered_in_slices_are_the_same_tasks(bank, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The talk tracks are rendered a slice of tasks at a time (their customers'
    facts read per slice): in slices of 37 the stored texts and explanations
    are the ones rendered in one go."""
    import kequn.decide.tasks as task_module

    store, url, _ = bank
    shown = ["manager_id", "talk_track", "visit_material", "explanation"]

    def stored() -> pd.DataFrame:
        frame = _tasks(url).set_index("task_id")[shown].sort_index()
        frame["explanation"] = [json.loads(e) if isinstance(e, str) else e for e in frame["explanation"]]
        return frame

    before = stored()
    assert len(before) > 37 * 3 and before["talk_track"].notna().all()
    monkeypatch.setattr(task_module, "TALK_CHUNK", 37)
    decide(store, url, replace=True)
    after = stored()
    assert after.index.equals(before.index)
    for column in shown:
        assert after[column].tolist() == before[column].tolist(), column


def test_a_decision_held_to_a_small_memory_limit_makes_the_same_tasks(bank) -> None:  # type: ignore[no-untyped-def]
    """The decision's DuckDB spills rather than grows: held to 256 MB, it decides
    the same tasks; a limit that is no size is refused before anything is
    decided, and the day is left as it was."""
    store, url, _ = bank
    before = _tasks(url).set_index("task_id")[["manager_id", "channel", "talk_track", "scheduled_at"]]
    decide(store, url, replace=True, memory_limit="256MB")
    after = _tasks(url).set_index("task_id")[["manager_id", "channel", "talk_track", "scheduled_at"]]
    assert before.sort_index().equals(after.sort_index())
    with pytest.raises(KequnError, match="memory limit 'a lot'"):
        decide(store, url, replace=True, memory_limit="a lot")
    assert (
        _tasks(url)
        .set_index("task_id")[["manager_id"]]
        .sort_index()
        .equals(after[["manager_id"]].sort_index())
    )


def test_the_funnel_only_narrows_and_matches_its_pairs(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, report = bank
    counts = list(report.funnel.values())
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] > 0
    con = warehouse.reader(store, "all")
    pairs = con.execute(f"SELECT stage, rule FROM decision_{report.run_id}.pairs").df()
    assert len(pairs) == report.funnel["eligible"]
    tasked = (pairs.stage == "task").sum()
    dropped_last = report.dropped.get("within_capacity:over_capacity", 0)
    assert tasked == report.funnel["within_capacity"] - dropped_last == len(_tasks(url))
    # the suitable stage drops what is unsuitable, with the rule
    assert (pairs.stage == "suitable").sum() > 0
    assert set(pairs.rule[pairs.stage == "within_contact_policy"]) >= {
        "marketing_cap",
        "no_consent_for_channel",
    }


def test_real_time_proposes_what_the_batch_proposed(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    con = warehouse.reader(store, "all")
    batch = con.execute(
        "SELECT customer_id, list(trigger ORDER BY trigger) FROM triggers GROUP BY 1 ORDER BY 1 LIMIT 150"
    ).fetchall()
    ops = open_store(url)
    cards = Cards(store)
    with ops.session() as s:
        known = cards.many(s, [c for c, _ in batch])
        for customer, triggers in batch:
            card = s.get(Customer, customer)
            facts = facts_row(card, known[customer], card.owner_manager_id, True, {})
            got = sorted({r["trigger"] for r in execute(plan(PB).proposals, {"k_facts": [facts]})})
            assert got == sorted(triggers), customer
    ops.dispose()


def test_withdrawn_consent_removes_scheduled_tasks(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    tasks = _tasks(url)
    phone = tasks[(tasks.channel == "phone") & (tasks.kind == "marketing")].iloc[0]
    ops = open_store(url)
    with ops.session() as s:
        s.add(
            Consent(
                customer_id=phone.customer_id,
                purpose="marketing_phone",
                granted=False,
                ts=datetime.now(SHANGHAI),
                source="phone",
                recorded_by="test",
            )
        )
    ops.dispose()
    report = decide(store, url, day=DAY + timedelta(days=1), replace=True)
    assert report.withdrawn >= 1
    ops = open_store(url)
    with ops.session() as s:
        assert s.get(Task, phone.task_id).status == "withdrawn"
        later = s.scalars(
            select(Task).where(
                Task.customer_id == phone.customer_id,
                Task.status == "open",
                Task.channel == "phone",
                Task.kind == "marketing",
            )
        ).all()
    ops.dispose()
    assert later == []


def test_an_event_makes_one_task_with_the_batch_rules(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    ops = open_store(url)
    cards = Cards(store)
    with ops.session() as s:
        quiet = s.scalars(select(Customer).where(Customer.owner_manager_id.is_not(None))).all()
    now = datetime.combine(date(2026, 11, 30), time(10, 20), SHANGHAI)
    made = refused = 0
    for card in quiet[:60]:
        event = {"customer_id": card.customer_id, "event_type": "complaint"}
        first = handle_event(ops, cards, event, PB, None, now)
        again = handle_event(ops, cards, event, PB, None, now)
        assert first.triggers == ["complaint"] or "complaint" in first.triggers
        if first.task is not None:
            made += 1
            assert again.task is None or again.task.task_id == first.task.task_id
            assert first.task.channel == "phone" and first.task.kind == "service"
        else:
            refused += 1
    with ops.session() as s:
        n = s.scalar(
            select(text("count(*)"))
            .select_from(Task)
            .where(Task.source == "event", Task.action == "complaint_follow_up")
        )
    ops.dispose()
    assert made > 0 and n == made


def _verdicts(results) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    return [
        (
            r.customer_id,
            tuple(r.triggers),
            sorted((p.trigger, p.action, p.stage, p.reason, p.channel) for p in r.pairs),
            r.task.action if r.task is not None else None,
        )
        for r in results
    ]


#: when the event tests' events happen
EVENT_TIME = datetime.combine(date(2026, 11, 30), time(10, 20), SHANGHAI)


def _owned(ops) -> list[str]:  # type: ignore[no-untyped-def]
    """The customers someone owns, in id order."""
    with ops.session() as s:
        return list(
            s.scalars(
                select(Customer.customer_id)
                .where(Customer.owner_manager_id.is_not(None))
                .order_by(Customer.customer_id)
            )
        )


def test_a_batch_of_events_decides_each_as_it_would_alone(bank) -> None:  # type: ignore[no-untyped-def]
    """Customers of different managers (no room shared): the batch gives each
    event the verdicts, stages, reasons and task it gets when sent alone."""
    store, url, _ = bank
    ops = open_store(url)
    cards = Cards(store)
    now = EVENT_TIME
    with ops.sessions() as s:  # a plain session: each way rolled back
        events = one_event_per_manager(s, 40)
        together = _verdicts(decide_events(s, cards, events, PB, None, now))
        s.rollback()
        alone = [_verdicts(decide_events(s, cards, [e], PB, None, now))[0] for e in events]
        s.rollback()
    ops.dispose()
    assert len(events) >= 10
    assert together == alone
    assert any(task for *_, task in together), "some event makes a task"
    assert any(any(p[2] != "task" for p in pairs) for _, _, pairs, _ in together), "some pair is dropped"


def test_an_event_reads_only_the_profile_columns_it_decides_on(bank, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The columns an event reads of a customer's profile give the verdicts,
    tasks and talk tracks the whole profile gives."""
    store, url, _ = bank
    ops = open_store(url)
    cards = Cards(store)

    def seen(results) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
        return [
            (*v, None if r.task is None else (r.task.talk_track, r.task.visit_material, r.task.priority))
            for v, r in zip(_verdicts(results), results, strict=True)
        ]

    read = realtime.read_to_judge(PB) | realtime.read_for_task(PB, None)  # type: ignore[operator]
    with ops.sessions() as s:
        events = one_event_per_manager(s, 40)
        some = seen(decide_events(s, cards, events, PB, None, EVENT_TIME))
        s.rollback()
        monkeypatch.setattr(realtime, "read_to_judge", lambda pb: None)
        whole = seen(decide_events(s, cards, events, PB, None, EVENT_TIME))
        s.rollback()
        ids = [e["customer_id"] for e in events]
        profiles, narrow = cards.many(s, ids), cards.many(s, ids, read)
    ops.dispose()
    assert some == whole
    assert sum(task is not None for *_, task in some) >= 5, "tasks were compared"
    for cid in ids:
        # fewer columns than the profile's (the point of reading them alone), each as the whole card has it
        assert set(narrow[cid]) < set(profiles[cid])
        assert all(profiles[cid][k] == v for k, v in narrow[cid].items())
        # and every talk track any action could say is filled alike
        product = (profiles[cid]["recs"] or [None])[0]
        assert values(narrow[cid], "王芳", "F", "李经理", product, PB) == values(
            profiles[cid], "王芳", "F", "李经理", product, PB
        )


def test_a_talk_track_reads_only_the_facts_it_names() -> None:
    """``TALK_FACTS`` is what ``values`` reads of a profile (the nightly talk
    tracks read those columns, and an event reads them with its own)."""
    read: set[str] = set()

    class Watched(dict):  # type: ignore[type-arg]
        def get(self, key, default=None):  # type: ignore[no-untyped-def]
            read.add(key)
            return super().get(key, default)

        def __getitem__(self, key):  # type: ignore[no-untyped-def]
            read.add(key)
            return super().__getitem__(key)

    for facts in (
        {},
        {
            "tier": "gold",
            "risk_expires_in_days": -3,
            "fund_return": -0.12,
            "health_change": -8.5,
            "next_tier_gap": 20_000,
            "aum_month_end": 480_000,
            "days_to_payday": 2,
            "gap_class": "fixed_income",
        },
    ):
        values(Watched(facts), "王芳", "F", "李经理", {"product_name": "稳利", "expected_return": 0.03}, PB)
    assert read == set(TALK_FACTS)


def test_a_talk_track_says_an_assessment_has_lapsed_when_the_profile_holds_it_invalid(
    run_store: Path,
) -> None:
    """A manager is told an assessment lapsed exactly where the profile holds it
    invalid (a customer whose assessment had lapsed that day was told it
    would lapse 'in 0 days')."""
    con = warehouse.reader(run_store)
    try:
        rows = con.execute(
            "SELECT risk_valid, risk_expires_in_days FROM main.profiles WHERE risk_level IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    assert {v for v, _ in rows} == {True, False}
    for days in sorted({d for _, d in rows} | {-1, 0, 1}):
        said = values({"risk_expires_in_days": days}, "王芳", "F", "李经理", None, PB)["expires_in"]
        valid = [v for v, d in rows if d == days] or [days >= 1]
        assert all(v == valid[0] for v in valid), days
        assert (said == "已过期") == (not valid[0]), (days, said)


def test_a_talk_track_counts_the_days_to_a_maturity_today_as_none_left() -> None:
    said = [
        values({"next_maturity_days": d}, "王芳", "F", "李经理", None, PB)["maturity_days"]
        for d in (0, 3, None)
    ]
    assert said == ["0", "3", "—"]


def test_a_customers_second_event_in_a_batch_is_decided_after_the_first(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    ops = open_store(url)
    cards = Cards(store)
    now = EVENT_TIME
    cids = _owned(ops)
    made = 0
    for cid in cids[:30]:
        event = {"customer_id": cid, "event_type": "complaint"}
        first, second = handle_events(ops, cards, [event, event], PB, None, now)
        if first.task is None:
            continue
        made += 1
        # the first event's task is open: the second finds it and makes none
        assert second.task is None
        assert any(p.action == first.task.action and p.stage != "task" for p in second.pairs)
    with ops.session() as s:
        stored = s.scalar(
            select(text("count(*)"))
            .select_from(Task)
            .where(Task.source == "event", Task.customer_id.in_(cids[:30]))
        )
    ops.dispose()
    assert made > 0 and stored == made


def test_a_batch_with_an_unknown_customer_stores_nothing(bank) -> None:  # type: ignore[no-untyped-def]
    store, url, _ = bank
    ops = open_store(url)
    cards = Cards(store)
    now = EVENT_TIME
    cids = _owned(ops)[:20]
    with ops.session() as s:
        before = s.scalar(select(text("count(*)")).select_from(Task))
    events = [{"customer_id": c, "event_type": "complaint"} for c in cids]
    with pytest.raises(KequnError, match="NOBODY"):
        handle_events(
            ops, cards, [*events, {"customer_id": "NOBODY", "event_type": "complaint"}], PB, None, now
        )
    with ops.session() as s:
        assert s.scalar(select(text("count(*)")).select_from(Task)) == before
    # the same events without the stranger are decided, and store their tasks
    assert any(r.task for r in handle_events(ops, cards, events, PB, None, now))
    ops.dispose()


def test_a_file_of_events_is_checked_whole_then_decided_in_batches(bank, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``kequn events FILE``: a bad line or an unknown customer refuses the file
    (exit 2, its line and field named) before anything is decided; a good file is
    decided in batches, and the tasks it reports are the tasks stored."""
    from typer.testing import CliRunner

    from kequn.cli.main import app

    store, url, _ = bank
    ops = open_store(url)
    with ops.session() as s:
        cids = s.scalars(
            select(Customer.customer_id)
            .where(Customer.owner_manager_id.is_not(None))
            .order_by(Customer.customer_id)
        ).all()[:150]

    def events_made() -> int:
        with ops.session() as s:
            return int(
                s.scalar(select(text("count(*)")).select_from(Task).where(Task.source == "event")) or 0
            )

    kinds = ("complaint", "visit_booked", "check_in")
    good = [json.dumps({"customer_id": c, "event_type": kinds[i % 3]}) for i, c in enumerate(cids)]
    runner = CliRunner()

    def decide_file(lines: list[str]):  # type: ignore[no-untyped-def]
        path = tmp_path / "events.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return runner.invoke(
            app, ["events", str(path), "--snapshot", str(store), "--store", url, "--batch", "40"]
        )

    before = events_made()
    bad = decide_file([*good[:5], json.dumps({"customer_id": cids[0], "event_views_7d": 3}), *good[5:]])
    # rich wraps a long message: read it as one line
    assert bad.exit_code == 2 and "events.jsonl:6: event_type" in " ".join(bad.output.split()), bad.output
    stranger = decide_file([*good, json.dumps({"customer_id": "NOBODY", "event_type": "complaint"})])
    assert stranger.exit_code == 2 and "NOBODY" in stranger.output, stranger.output
    assert events_made() == before
    done = decide_file(good)
    assert done.exit_code == 0, done.output
    reported = int(re.search(r"decided: ([\d,]+) tasks", done.output).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert reported > 0 and events_made() == before + reported
    ops.dispose()


def test_the_bulk_path_stores_tasks_exactly_as_the_row_path(store_url: str) -> None:
    """``load_tasks`` (streamed from DuckDB, the nightly batch's path) stores
    what ``task_rows`` and ``load_rows`` (the campaign launch's) store, value for
    value: missing texts as NULL, times as instants, JSON with Chinese, tabs,
    quotes and newlines, a campaign's id from its trigger; and a task already
    stored is kept as it was."""
    import duckdb

    from kequn.decide.tasks import TASK_COLUMNS, load_tasks, task_rows
    from kequn.store.bulk import load_rows

    at = pd.Timestamp("2026-11-21 09:30", tz=SHANGHAI)
    tasks = pd.DataFrame(
        {
            "task_id": ["2026-11-21:C1:call", "2026-11-21:C2:visit:K9"],
            "run_id": ["20261121_01", None],
            "customer_id": ["C1", "C2"],
            "manager_id": ["M1", "M2"],
            "action": ["call", "visit"],
            "trigger": ["maturity", "campaign:K9"],
            "kind": ["service", "marketing"],
            "channel": ["phone", "visit"],
            "scheduled_at": pd.Series([at, at + pd.Timedelta(minutes=20)]),
            "window": ["09:00-11:30", float("nan")],
            "priority": [1.25, 0.5],
            "value": [3000.0, 12.5],
            "propensity": [0.41, 0.04],
            "urgency": [1.0, 0.6],
            "product_id": [float("nan"), "P7"],
            "talk_track": ['王先生，您的"定期"\t明天到期\n请留意', "李女士您好"],
            "visit_material": [None, "资料\\一页"],
            "explanation": [{"trigger": "maturity", "score": {"value": 3000.0}}, {"规则": ["同意", "双录"]}],
        }
    )
    stamp = datetime(2026, 11, 21, 1, 2, 3, 456789, tzinfo=SHANGHAI)
    ops = open_store(store_url)
    duck = duckdb.connect()
    try:
        stored, raw = [], []
        for path in ("bulk", "rows"):
            with ops.engine.begin() as con:
                con.execute(text("DELETE FROM tasks"))
                if path == "bulk":
                    assert load_tasks(con, duck, tasks, DAY, stamp, "batch") == 2
                else:
                    load_rows(
                        con, "tasks", TASK_COLUMNS, task_rows(tasks, DAY, stamp, "batch"), ["task_id"], []
                    )
            with ops.session() as s:
                stored.append(
                    [
                        {c: getattr(t, c) for c in TASK_COLUMNS}
                        for t in s.scalars(select(Task).order_by(Task.task_id))
                    ]
                )
            with ops.engine.connect() as con:  # as the database keeps them: times one way
                raw.append(con.execute(text("SELECT * FROM tasks ORDER BY task_id")).all())
        assert raw[0] == raw[1]
        bulk, rows = stored
        assert bulk == rows, [
            (k, b[k], r[k]) for b, r in zip(bulk, rows, strict=True) for k in b if b[k] != r[k]
        ]
        assert bulk[0]["talk_track"] == tasks["talk_track"][0] and bulk[0]["product_id"] is None
        assert bulk[1]["campaign_id"] == "K9" and bulk[1]["contact_window"] is None
        assert bulk[0]["scheduled_at"] == at.to_pydatetime() and bulk[0]["created_at"] == stamp
        # kept as stored: a second load of the same ids changes nothing
        with ops.engine.begin() as con:
            con.execute(text("UPDATE tasks SET status = 'done'"))
            load_tasks(con, duck, tasks.assign(talk_track="另一段"), DAY, stamp, "batch")
        with ops.session() as s:
            assert {t.status for t in s.scalars(select(Task))} == {"done"}
            assert s.get(Task, "2026-11-21:C2:visit:K9").talk_track == "李女士您好"  # type: ignore[union-attr]
    finally:
        duck.close()
        ops.dispose()
