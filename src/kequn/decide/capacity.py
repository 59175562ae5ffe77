"""Fitting the day's chosen actions into each manager's capacity by channel, and
laying them into the contact windows.

Each customer's chosen action may go through any channel it is allowed, and a
channel realises more or less of its value (a visit more than an SMS). Which
pairs get which slots is a transportation problem, solved exactly as a
minimum-cost flow (OR-Tools): the capacity of a slot can never be exceeded, and
no better assignment exists."""

from __future__ import annotations

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
    n = len(pairs)
    if n == 0:
        return pd.Series([], dtype=object)
    slots: dict[tuple[str, str], int] = {}
    starts, ends, caps, costs, arc_pair, arc_channel = [], [], [], [], [], []
    top = max(float(pairs["priority"].max()), 1e-12)
    first_slot = 2 + n
    for i, (manager, channels, priority) in enumerate(
        zip(pairs["manager_id"], pairs["channels"], pairs["priority"], strict=True)
    ):
        for ch in channels:
            key = (manager, ch)
            if ch not in UNLIMITED and capacity.get(key, 0) <= 0:
                continue
            node = slots.setdefault(key, first_slot + len(slots))
            starts.append(2 + i)
            ends.append(node)
            caps.append(1)
            costs.append(-round(SCALE * float(priority) * weights.get(ch, 1.0) / top))
            arc_pair.append(i)
            arc_channel.append(ch)
    assign_arcs = len(starts)
    # source -> each pair; each pair -> sink directly (left undone); each slot -> sink
    starts += [0] * n + list(range(2, 2 + n)) + list(slots.values())
    ends += list(range(2, 2 + n)) + [1] * n + [1] * len(slots)
    caps += [1] * n + [1] * n + [n if k[1] in UNLIMITED else int(capacity.get(k, 0)) for k in slots]
    costs += [0] * (2 * n + len(slots))
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        np.array(starts, dtype=np.int32),
        np.array(ends, dtype=np.int32),
        np.array(caps, dtype=np.int64),
        np.array(costs, dtype=np.int64),
    )
    flow.set_nodes_supplies(np.array([0, 1], dtype=np.int32), np.array([n, -n], dtype=np.int64))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"capacity assignment failed: status {status}")
    used = flow.flows(arcs[:assign_arcs])
    channel: list[str | None] = [None] * n
    for k in np.flatnonzero(used):
        channel[arc_pair[k]] = arc_channel[k]
    return pd.Series(channel, index=pairs.index, dtype=object)


def _windows(channel: str, occupation: str | None, policy: ContactPolicy) -> Sequence[str]:
    if channel == "visit" and occupation in policy.visit_windows:
        return policy.visit_windows[occupation]
    return policy.windows.get(channel, ["09:00-17:00"])


def schedule(
    tasks: pd.DataFrame,
    day: date,
    policy: ContactPolicy,
    booked: Mapping[tuple[str, str], int] | None = None,
    not_before: datetime | None = None,
) -> pd.DataFrame:
    """Adds ``scheduled_at`` and ``window`` to tasks (manager_id, channel, priority,
    occupation): each manager's contacts on a channel, best first, one after
    another through the channel's windows (visits by the customer's occupation),
    after the ``booked`` slots of the day and not before ``not_before``."""
    out = tasks.copy()
    if out.empty:
        out["scheduled_at"] = pd.Series(dtype="datetime64[ns, Asia/Shanghai]")
        out["window"] = pd.Series(dtype=object)
        return out
    out["win_key"] = [
        tuple(_windows(ch, occ, policy)) for ch, occ in zip(out["channel"], out["occupation"], strict=True)
    ]
    out = out.sort_values(["priority"], ascending=False, kind="stable")
    out["k"] = out.groupby(["manager_id", "channel", "win_key"], sort=False).cumcount()
    if booked:
        out["k"] += [booked.get((m, c), 0) for m, c in zip(out["manager_id"], out["channel"], strict=True)]
    saturday = day + timedelta(days=(5 - day.weekday()) % 7)
    at = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, Asia/Shanghai]")
    label = pd.Series(None, index=out.index, dtype=object)
    for (channel, wins), sub in out.groupby(["channel", "win_key"], sort=False):
        minutes = policy.minutes.get(channel, 5)
        k = sub["k"].to_numpy()
        if "weekend" in wins:
            offset = np.minimum(10 * 60 + k * minutes, 17 * 60 - minutes)
            base = pd.Timestamp(saturday, tz=SHANGHAI)
            at.loc[sub.index] = base + pd.to_timedelta(offset, unit="m")
            label.loc[sub.index] = "weekend"
            continue
        spans = [parse_window(w) for w in wins]
        room = np.array([max(0, (e - s_) // minutes) for s_, e in spans])
        before = np.concatenate([[0], np.cumsum(room)[:-1]])
        which = np.minimum(np.searchsorted(np.cumsum(room), k, side="right"), len(spans) - 1)
        starts = np.array([s_ for s_, _ in spans])
        # beyond the windows' room the contacts queue at the last window's close
        offset = np.minimum(
            starts[which] + (k - before[which]) * minutes, np.array([e for _, e in spans])[which] - minutes
        )
        base = pd.Timestamp(day, tz=SHANGHAI)
        at.loc[sub.index] = base + pd.to_timedelta(offset, unit="m")
        label.loc[sub.index] = [wins[i] for i in which]
    if not_before is not None:
        # an event's task: its slot is now at the earliest
        floor = pd.Timestamp(not_before).tz_convert(SHANGHAI).ceil("min")
        at = at.where(at >= floor, floor)
    out["scheduled_at"] = at
    out["window"] = label
    return out.drop(columns=["win_key", "k"]).loc[tasks.index]
