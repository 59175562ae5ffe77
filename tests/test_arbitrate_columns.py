"""The arbitration on whole columns: each customer's best pairs kept, each
manager's contacts laid into the windows best first, checked on random pairs
against what the rules say, pair by pair."""

from __future__ import annotations

import random
from datetime import date, datetime

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kequn.core.clock import SHANGHAI
from kequn.decide.arbitrate import Room, arbitrate, arbitrate_rows
from kequn.decide.capacity import rank_within, schedule
from kequn.decide.propensity import UNKNOWN_PRIOR, Scorer, by_priors, priors_of
from kequn.playbook import load_playbook

PB = load_playbook(None)
DAY = date(2026, 12, 7)  # a Monday
CH = ["phone", "visit", "wechat", "sms"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0.5, 1.0, 2.0, 3.0])), max_size=40))
def test_rank_within_counts_each_group_in_order(rows: list[tuple[int, float]]) -> None:
    groups = np.array([g for g, _ in rows], dtype=np.int64)
    priority = np.array([p for _, p in rows], dtype=np.float64)
    order = np.argsort(-priority, kind="stable")
    got = rank_within(groups, order)
    seen: dict[int, int] = {}
    for i in order:
        assert got[i] == seen.get(int(groups[i]), 0)
        seen[int(groups[i])] = got[i] + 1


pair = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["C1", "C2", "C3", "C4"]),
        "action": st.sampled_from(["a_call", "b_visit", "c_note"]),
        "manager_id": st.sampled_from(["M1", "M2"]),
        "channels_left": st.lists(st.sampled_from(CH), min_size=1, max_size=3, unique=True),
        "value": st.sampled_from([-5.0, 0.0, 100.0, 250.0, 1000.0]),
        "urgency": st.sampled_from([0.5, 1.0, 2.0]),
        "occupation": st.sampled_from([None, "civil_servant", "self_employed"]),
    }
)
capacities = st.dictionaries(st.tuples(st.sampled_from(["M1", "M2"]), st.sampled_from(CH)), st.integers(0, 3))
already = st.dictionaries(st.sampled_from(["C1", "C2", "C3", "C4"]), st.integers(0, 2))


@settings(max_examples=150, deadline=None)
@given(st.lists(pair, min_size=1, max_size=25), capacities, already)
def test_arbitration_keeps_each_customers_best_within_capacity(
    pairs: list[dict], capacity: dict, per_customer: dict
) -> None:
    live = pd.DataFrame(pairs)
    live.index = live.index * 3 + 7  # not a plain range: results stay on live's index
    tasks, dropped = arbitrate(
        live, Room(capacity, per_customer), PB, Scorer(lambda p: np.full(len(p), 0.5)), DAY
    )
    # every pair once: a task or dropped with its rule
    assert sorted(tasks.index.tolist() + dropped.index.tolist()) == sorted(live.index.tolist())
    assert set(dropped["rule"]) <= {"outranked", "over_capacity"}
    cap = PB.playbook.contact.tasks_per_customer_per_day
    for cid, mine in live.groupby("customer_id"):
        room = max(0, cap - per_customer.get(cid, 0))
        best = mine.assign(p=mine["value"].clip(lower=0) * 0.5 * mine["urgency"]).sort_values(
            ["p", "action"], ascending=[False, True], kind="stable"
        )
        kept = set(best.index[:room])
        assert set(dropped.index[dropped["rule"] == "outranked"]) & set(mine.index) == set(mine.index) - kept
    used = tasks.groupby(["manager_id", "channel"]).size()
    for (m, ch), n in used.items():
        assert (
            ch
            in live.loc[tasks.index[(tasks["manager_id"] == m) & (tasks["channel"] == ch)]].iloc[0][
                "channels_left"
            ]
        )
        assert n <= capacity.get((m, ch), 0)
    for i, t in tasks.iterrows():
        assert t["channel"] in live.loc[i, "channels_left"]
        assert t["priority"] == max(live.loc[i, "value"], 0) * 0.5 * live.loc[i, "urgency"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(pair, min_size=1, max_size=25),
    capacities,
    already,
    st.sampled_from([None, datetime(2026, 12, 7, 13, 7, 30, tzinfo=SHANGHAI)]),
)
def test_an_events_rows_are_arbitrated_as_the_nights_frame(
    pairs: list[dict], capacity: dict, per_customer: dict, not_before: datetime | None
) -> None:
    """An event's pairs are judged as rows (no frame: ``arbitrate_rows``), the
    night's as a frame: the same tasks, channels, times, windows, priorities
    and dropped pairs with their rules, in the same order, scored by the
    playbook's priors (the scorer an event has with no model in force)."""
    # the playbook's own actions, whose priors differ
    named = dict(
        zip(["a_call", "b_visit", "c_note"], sorted(a.name for a in PB.playbook.actions), strict=False)
    )
    pairs = [
        p | {"action": named[p["action"]], "trigger": random.Random(i).choice(["t1", "t2"])}
        for i, p in enumerate(pairs)
    ]
    room = Room(capacity, per_customer, {}, not_before)
    score = by_priors(PB)
    frame_tasks, frame_dropped = arbitrate(pd.DataFrame(pairs), room, PB, score, DAY)
    row_tasks, row_dropped = arbitrate_rows(pairs, room, PB, score, DAY)
    task_fields = ("customer_id", "action", "trigger", "channel", "scheduled_at", "window", "priority")
    assert [tuple(t[f] for f in task_fields) for t in row_tasks] == list(
        frame_tasks[list(task_fields)].itertuples(index=False, name=None)
    )
    assert [t["propensity"] for t in row_tasks] == frame_tasks["propensity"].tolist()
    dropped_fields = ("customer_id", "action", "trigger", "channel", "stage", "rule", "priority")
    assert [tuple(d[f] for f in dropped_fields) for d in row_dropped] == list(
        frame_dropped[list(dropped_fields)].itertuples(index=False, name=None)
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(pair, min_size=1, max_size=12), capacities)
def test_a_models_reasons_are_read_with_the_channel_each_task_was_given(
    pairs: list[dict], capacity: dict
) -> None:
    """Where a model explains the chances, it is asked about each task as the
    task is, with the channel the arbitration gave it (a channel is one of a
    model's inputs): on an event's rows as on the night's frame."""
    score = Scorer(
        lambda p: np.full(len(p), 0.5),
        explain=lambda p: [[{"name": "channel", "value": c}] for c in p["channel"]],
        model_actions=frozenset(["a_call", "b_visit", "c_note"]),
    )
    room = Room(capacity, {})
    frame_tasks, _ = arbitrate(pd.DataFrame(pairs), room, PB, score, DAY)
    row_tasks, _ = arbitrate_rows(pairs, room, PB, score, DAY)
    assert [t["propensity_reasons"] for t in row_tasks] == frame_tasks["propensity_reasons"].tolist()
    for t in row_tasks:
        assert t["propensity_reasons"] == [{"name": "channel", "value": t["channel"]}]


def test_the_priors_of_actions_the_playbook_does_not_know_are_its_default() -> None:
    known = {a.name: a.prior for a in PB.playbook.actions}
    some = next(iter(known))
    actions = [some, "no_such_action", some]
    assert priors_of(actions, PB).tolist() == [known[some], UNKNOWN_PRIOR, known[some]]
    assert priors_of(pd.Series([*actions, None], dtype=object), PB).tolist() == [
        known[some],
        UNKNOWN_PRIOR,
        known[some],
        UNKNOWN_PRIOR,
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["M1", "M2"]),
            st.sampled_from(CH),
            st.sampled_from([1.0, 2.0, 3.0]),
            st.sampled_from([None, "civil_servant", "self_employed"]),
        ),
        min_size=1,
        max_size=30,
    ),
    st.dictionaries(st.tuples(st.sampled_from(["M1", "M2"]), st.sampled_from(CH)), st.integers(0, 50)),
    st.sampled_from([None, datetime(2026, 12, 7, 13, 7, 30, tzinfo=SHANGHAI)]),
)
def test_each_managers_contacts_are_laid_best_first(
    rows: list[tuple], booked: dict, not_before: datetime | None
) -> None:
    policy = PB.playbook.contact
    tasks = pd.DataFrame(rows, columns=["manager_id", "channel", "priority", "occupation"])
    tasks.index = tasks.index[::-1]
    out = schedule(tasks, DAY, policy, booked, not_before)
    assert out.index.equals(tasks.index)
    assert str(out["scheduled_at"].dtype) == "datetime64[ns, Asia/Shanghai]"
    for _, group in out.groupby(["manager_id", "channel", "occupation"], dropna=False):
        # within a manager's channel and window, a better contact is never later
        ordered = group.sort_values("priority", ascending=False, kind="stable")
        assert ordered["scheduled_at"].is_monotonic_increasing
    for t in out.itertuples():
        if not_before is not None:
            assert t.scheduled_at >= pd.Timestamp(not_before).ceil("min")
        if t.window == "weekend":
            assert t.scheduled_at.weekday() == 5
            continue
        start, end = t.window.split("-")
        clock = t.scheduled_at.strftime("%H:%M")
        if not_before is None:
            assert t.scheduled_at.date() == DAY
            assert start <= clock < end


def test_a_day_fuller_than_the_windows_is_spread_through_them_not_queued_at_the_close() -> None:
    """The bank's capacity may allow more calls than the windows hold at the
    playbook's pace (the demo's managers: 60 calls, room for 30 at 8 minutes):
    they are spread evenly through the windows, each at a time of its own,
    never 31 at 17:52. A day that fits keeps the playbook's pace."""
    policy = PB.playbook.contact
    pace = policy.minutes["phone"]

    def laid(n: int, booked: int = 0) -> pd.DataFrame:
        tasks = pd.DataFrame(
            {
                "manager_id": ["M1"] * n,
                "channel": ["phone"] * n,
                "priority": np.linspace(10, 1, n),
                "occupation": [None] * n,
            }
        )
        return schedule(tasks, DAY, policy, {("M1", "phone"): booked} if booked else None).sort_values(
            "priority", ascending=False
        )

    spans = [w.split("-") for w in policy.windows["phone"]]
    room = sum((int(e[:2]) * 60 + int(e[3:]) - int(s[:2]) * 60 - int(s[3:])) // pace for s, e in spans)
    for n, booked in ((room * 2, 0), (room + 1, 0), (room, 5)):
        out = laid(n, booked)
        times = out["scheduled_at"].dt.strftime("%H:%M").tolist()
        assert len(set(times)) == n, f"{n} calls share times: {times[-5:]}"
        assert all(any(s <= t < e for s, e in spans) for t in times)
        assert {w for w in out["window"]} == set(policy.windows["phone"])
    fits = laid(room // 2)
    for _, window in fits.groupby("window"):
        assert set(window["scheduled_at"].sort_values().diff().dropna().dt.total_seconds() / 60) <= {pace}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({"trigger": st.sampled_from(["maturity", "idle_cash", "campaign:K1"])}).flatmap(
            lambda t: pair.map(lambda p: {**p, **t})
        ),
        min_size=2,
        max_size=25,
    ),
    capacities,
    already,
    st.randoms(use_true_random=False),
)
def test_the_same_pairs_in_any_order_make_the_same_tasks(
    pairs: list[dict], capacity: dict, per_customer: dict, shuffler: random.Random
) -> None:
    """The batch reads its live pairs from DuckDB in whatever order its threads
    gave them: equal priorities (one value, one propensity) must not let that
    order choose who gets the last slot or the earlier time."""
    live = pd.DataFrame(pairs).drop_duplicates(["customer_id", "trigger", "action"], ignore_index=True)
    shuffled = live.sample(frac=1.0, random_state=shuffler.randrange(2**32)).reset_index(drop=True)
    key = ["customer_id", "trigger", "action"]

    def made(frame: pd.DataFrame) -> tuple[list[tuple], list[tuple]]:
        tasks, dropped = arbitrate(
            frame, Room(capacity, per_customer), PB, Scorer(lambda p: np.full(len(p), 0.5)), DAY
        )
        return (
            sorted(
                tuple(r)
                for r in tasks[[*key, "manager_id", "channel", "scheduled_at"]].itertuples(index=False)
            ),
            sorted(tuple(r) for r in dropped[[*key, "rule"]].itertuples(index=False)),
        )

    assert made(shuffled) == made(live)
