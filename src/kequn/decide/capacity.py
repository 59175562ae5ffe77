"""Fitting the day's chosen actions into each manager's capacity by channel, and
laying them into the contact windows.

Each customer's chosen action may go through any channel it is allowed, and a
channel realises more or less of its value (a visit more than an SMS). Which
pairs get which slots is a transportation problem, solved exactly as a
minimum-cost flow (OR-Tools): the capacity of a slot can never be exceeded, and
no better assignment exists."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow

from kequn.core.clock import SHANGHAI
from kequn.playbook.load import parse_window
from kequn.playbook.model import ContactPolicy

UNLIMITED = {"app"}  # pushed by the system, not by a person
SCALE = 1_000_000_000


@dataclass(frozen=True)
class Slot:
    manager_id: str
    channel: str


def fit(
    pairs: pd.DataFrame, capacity: Mapping[tuple[str, str], int], weights: Mapping[str, float]
) -> pd.Series:
    """``pairs``: manager_id, channels (allowed, in preference order), priority.
    Returns the channel each pair gets (None: over capacity), on pairs' index."""
    if len(pairs) == 0:
        return pd.Series([], dtype=object)
    channel = fit_channels(
        pairs["manager_id"].to_numpy(dtype=object),
        pairs["channels"].tolist(),
        pairs["priority"].to_numpy(dtype=np.float64),
        capacity,
        weights,
    )
    return pd.Series(channel, index=pairs.index, dtype=object)


def fit_channels(
    manager: np.ndarray,
    channels: Sequence[Sequence[str]],
    priority: np.ndarray,
    capacity: Mapping[tuple[str, str], int],
    weights: Mapping[str, float],
) -> np.ndarray:
    """``fit`` on the pairs' columns: each pair's manager, its channels (allowed,
    in preference order) and its priority. Returns the channel each pair gets
    (None: over capacity), an object array (an event fits one or two pairs, and
    a frame built for them cost more than the solver)."""
    n = len(manager)
    if n == 0:
        return np.full(0, None, dtype=object)
    arcs = _assignment_arcs(manager, channels, priority, capacity, weights)
    slots = len(arcs.slot_manager)
    # nodes: 0 source, 1 sink, 2.. the pairs, then the slots (manager, channel)
    first_slot = 2 + n
    pair_nodes = np.arange(2, 2 + n, dtype=np.int64)
    slot_nodes = first_slot + np.arange(slots, dtype=np.int64)
    slot_caps = np.array(
        [
            n if ch in UNLIMITED else int(capacity.get((m, ch), 0))
            for m, ch in zip(arcs.slot_manager, arcs.slot_channel, strict=True)
        ],
        dtype=np.int64,
    )
    # pair -> its slots; source -> each pair; each pair -> sink (left undone); slot -> sink
    starts = np.concatenate([2 + arcs.pair, np.zeros(n, np.int64), pair_nodes, slot_nodes])
    ends = np.concatenate(
        [first_slot + arcs.slot, pair_nodes, np.ones(n, np.int64), np.ones(slots, np.int64)]
    )
    caps = np.concatenate([np.ones(len(arcs.pair) + 2 * n, np.int64), slot_caps])
    costs = np.concatenate([arcs.cost, np.zeros(2 * n + slots, np.int64)])
    flow = min_cost_flow.SimpleMinCostFlow()
    handles = flow.add_arcs_with_capacity_and_unit_cost(
        starts.astype(np.int32), ends.astype(np.int32), caps, costs
    )
    flow.set_nodes_supplies(np.array([0, 1], dtype=np.int32), np.array([n, -n], dtype=np.int64))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"capacity assignment failed: status {status}")
    used = np.flatnonzero(flow.flows(handles[: len(arcs.pair)]))
    channel = np.full(n, None, dtype=object)
    channel[arcs.pair[used]] = arcs.slot_channel[arcs.slot[used]]
    return channel


@dataclass(frozen=True)
class _Arcs:
    """The arcs from pairs to slots, in the pairs' order and each pair's channels'
    order (the solver's answer among equal optima follows the arcs' order)."""

    pair: np.ndarray  # the pair of each arc
    slot: np.ndarray  # its slot, numbered by first appearance
    cost: np.ndarray  # minus its worth, scaled to integers
    slot_manager: np.ndarray
    slot_channel: np.ndarray


def _assignment_arcs(
    managers: np.ndarray,
    lists: Sequence[Sequence[str]],
    priorities: np.ndarray,
    capacity: Mapping[tuple[str, str], int],
    weights: Mapping[str, float],
) -> _Arcs:
    """Whole columns, not a loop over pairs: at two million customers the loop's
    lists of Python objects held hundreds of megabytes at the decide's peak."""
    lengths = np.fromiter((len(c) for c in lists), dtype=np.int64, count=len(lists))
    pair = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
    channel = np.fromiter(itertools.chain.from_iterable(lists), dtype=object, count=int(lengths.sum()))
    manager = managers[pair]
    # an arc to a slot with no capacity is left out (app is pushed, without one)
    open_slot = np.fromiter(
        (ch in UNLIMITED or capacity.get((m, ch), 0) > 0 for m, ch in zip(manager, channel, strict=True)),
        dtype=bool,
        count=len(pair),
    )
    pair, channel, manager = pair[open_slot], channel[open_slot], manager[open_slot]
    # a slot per (manager, channel), numbered by first appearance: each column
    # coded alone and the two codes made one number (a MultiIndex cost an
    # event's few pairs milliseconds)
    m_code, m_names = pd.factorize(manager, sort=False)
    c_code, c_names = pd.factorize(channel, sort=False)
    width = max(len(c_names), 1)
    slot, joint = pd.factorize(m_code.astype(np.int64) * width + c_code, sort=False)
    # the highest priority among those known, as a frame's max() skips NaN
    known = priorities[~np.isnan(priorities)]
    top = max(float(known.max()) if len(known) else float("nan"), 1e-12)
    weight = np.fromiter((weights.get(ch, 1.0) for ch in channel), dtype=np.float64, count=len(channel))
    priority = priorities[pair]
    # the same float operations, in the same order, as one pair at a time
    cost = -np.round(SCALE * priority * weight / top).astype(np.int64)
    return _Arcs(
        pair,
        slot.astype(np.int64),
        cost,
        np.asarray(m_names, dtype=object)[joint // width],
        np.asarray(c_names, dtype=object)[joint % width],
    )


def _windows(channel: str, occupation: str | None, policy: ContactPolicy) -> Sequence[str]:
    if channel == "visit" and occupation in policy.visit_windows:
        return policy.visit_windows[occupation]
    return policy.windows.get(channel, ["09:00-17:00"])


def rank_within(groups: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Each row's place within its group (0 first), counted in ``order``: the
    rows' positions, best first. ``groups``: an integer code per row."""
    n = len(groups)
    in_order = groups[order]
    by_group = np.argsort(in_order, kind="stable")
    grouped = in_order[by_group]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, n]))
    place_in_order = np.empty(n, dtype=np.int64)
    place_in_order[by_group] = np.arange(n) - first
    place = np.empty(n, dtype=np.int64)
    place[order] = place_in_order
    return place


def codes(values: Sequence[object]) -> np.ndarray:
    """An integer code per value, equal values equal codes (tuples too)."""
    seen: dict[object, int] = {}
    return np.fromiter((seen.setdefault(v, len(seen)) for v in values), dtype=np.int64, count=len(values))


#: the hours of a weekend visit (civil servants are visited at weekends)
WEEKEND_HOURS = (10 * 60, 17 * 60)


def _pace(contacts: np.ndarray, minutes: int, lengths: np.ndarray) -> np.ndarray:
    """Minutes between a manager's contacts on a channel: the playbook's
    ``minutes`` while the day's contacts fit the windows at that pace; a fuller
    day (the bank's capacity allows more than the windows hold at it) is spread
    evenly through the windows, never queued at the close nor laid outside them."""
    pace = np.full(len(contacts), minutes, dtype=np.int64)
    for count in np.unique(contacts):
        p = minutes
        while p > 1 and int((lengths // p).sum()) < count:
            p -= 1
        pace[contacts == count] = p
    return pace


def schedule(
    tasks: pd.DataFrame,
    day: date,
    policy: ContactPolicy,
    booked: Mapping[tuple[str, str], int] | None = None,
    not_before: datetime | None = None,
) -> pd.DataFrame:
    """Adds ``scheduled_at`` and ``window`` to tasks (manager_id, channel, priority,
    occupation): ``schedule_columns`` on the frame's columns."""
    if tasks.empty:
        return tasks.assign(
            scheduled_at=pd.Series(dtype="datetime64[ns, Asia/Shanghai]"), window=pd.Series(dtype=object)
        )
    at, label = schedule_columns(
        tasks["manager_id"].to_numpy(dtype=object),
        tasks["channel"].to_numpy(dtype=object),
        tasks["occupation"].to_numpy(),
        tasks["priority"].to_numpy(dtype=np.float64),
        day,
        policy,
        booked,
        not_before,
    )
    return tasks.assign(
        scheduled_at=pd.Series(at, index=tasks.index),
        window=pd.Series(label, index=tasks.index, dtype=object),
    )


def schedule_columns(
    manager: np.ndarray,
    channel: np.ndarray,
    occupation: np.ndarray,
    priority: np.ndarray,
    day: date,
    policy: ContactPolicy,
    booked: Mapping[tuple[str, str], int] | None = None,
    not_before: datetime | None = None,
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """When and in which window each task is: each manager's contacts on a
    channel, best first (``priority``), one after another through the channel's
    windows (visits by the customer's ``occupation``), after the ``booked``
    slots of the day and not before ``not_before``. Returns the times (in
    Shanghai) and the windows' labels.

    On whole columns, not frames: an event schedules one task, and the frame
    operations cost it more than the rule did."""
    n = len(manager)
    windows = [tuple(_windows(ch, occ, policy)) for ch, occ in zip(channel, occupation, strict=True)]
    # best first; ties keep their order
    order = np.argsort(-priority, kind="stable")
    group = codes(list(zip(manager, channel, windows, strict=True)))
    k = rank_within(group, order)
    # the day's contacts of each manager's channel and windows, those booked before included
    total = np.bincount(group)[group] if n else np.zeros(0, dtype=np.int64)
    if booked:
        already = np.fromiter(
            (booked.get((m, c), 0) for m, c in zip(manager, channel, strict=True)), dtype=np.int64, count=n
        )
        k += already
        total += already
    saturday = day + timedelta(days=(5 - day.weekday()) % 7)
    minute = 60 * 1_000_000_000
    at = np.zeros(n, dtype=np.int64)  # nanoseconds since the epoch
    label = np.full(n, None, dtype=object)
    rows: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i, key in enumerate(zip(channel, windows, strict=True)):
        rows.setdefault(key, []).append(i)
    for (ch, wins), members in rows.items():
        idx = np.array(members, dtype=np.int64)
        weekend = "weekend" in wins
        spans = [WEEKEND_HOURS] if weekend else [parse_window(w) for w in wins]
        starts = np.array([s_ for s_, _ in spans], dtype=np.int64)
        ends = np.array([e for _, e in spans], dtype=np.int64)
        pace = _pace(total[idx], policy.minutes.get(ch, 5), ends - starts)
        kk = k[idx]
        room = np.cumsum((ends - starts)[None, :] // pace[:, None], axis=1)
        which = np.minimum((room <= kk[:, None]).sum(axis=1), len(spans) - 1)
        before = np.where(which > 0, room[np.arange(len(idx)), np.maximum(which - 1, 0)], 0)
        # beyond even the quickest pace's room, the last contacts wait at the close
        offset = np.minimum(starts[which] + (kk - before) * pace, ends[which] - pace)
        first = pd.Timestamp(saturday if weekend else day, tz=SHANGHAI).value
        at[idx] = first + offset * minute
        label[idx] = "weekend" if weekend else [wins[i] for i in which]
    if not_before is not None:
        # an event's task: its slot is now at the earliest
        at = np.maximum(at, pd.Timestamp(not_before).tz_convert(SHANGHAI).ceil("min").value)
    return pd.DatetimeIndex(at.astype("datetime64[ns]"), tz="UTC").tz_convert(SHANGHAI), label
