"""The last two stages, after the rules: which of a customer's live actions is
worth their day (value × propensity × urgency, at most
``tasks_per_customer_per_day``), and which of those fit their manager's
capacity by channel. The nightly batch arbitrates every live pair at once; an
event, a campaign launch or a salon lead arbitrates its few pairs against what
is left of the day. Both call ``arbitrate``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from kequn.decide.capacity import UNLIMITED, fit, rank_within, schedule
from kequn.decide.propensity import Scorer
from kequn.playbook import LoadedPlaybook
from kequn.rules import rule

CHANNELS = ("phone", "visit", "wechat", "sms")


@dataclass
class Room:
    """What is left of the day: each manager's capacity by channel, each
    customer's tasks already made, and the slots already booked."""

    capacity: dict[tuple[str, str], int]
    per_customer: Mapping[str, int] = field(default_factory=dict)
    booked: Mapping[tuple[str, str], int] = field(default_factory=dict)
    not_before: datetime | None = None


def capacity_of(staff: pd.DataFrame, taken: pd.DataFrame | None = None) -> dict[tuple[str, str], int]:
    """Each active manager's capacity by channel (``staff``: manager_id and
    capacity_<channel>), less ``taken`` (manager_id, channel: today's tasks)."""
    cap = {
        (m, ch): int(v)
        for ch in CHANNELS
        for m, v in zip(staff["manager_id"], staff[f"capacity_{ch}"].fillna(0), strict=True)
    }
    counts: dict[tuple[str, str], int] = {}
    if taken is not None and len(taken):
        counts = {(m, ch): int(n) for (m, ch), n in taken.groupby(["manager_id", "channel"]).size().items()}
    return remaining(cap, counts)


def remaining(
    capacity: Mapping[tuple[str, str], int], taken: Mapping[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    """What is left of each (manager, channel)'s capacity after ``taken`` tasks."""
    return {key: max(0, int(n) - int(taken.get(key, 0))) for key, n in capacity.items()}


def arbitrate(
    live: pd.DataFrame, room: Room, pb: LoadedPlaybook, score: Scorer, day: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``live``: pairs alive after the rules (manager_id, channels_left, value,
    urgency; ``score`` gives each its propensity). Returns the tasks (with
    channel, scheduled_at, window, propensity, priority) and the pairs dropped
    here (with stage and rule), both on ``live``'s index.

    Ranked on whole columns and the pairs' rows taken once at the end: an event
    arbitrates one or two pairs, and a frame operation per step cost it more
    than the rules did."""
    if live.empty:
        empty = live.assign(stage=pd.Series(dtype=object), rule=pd.Series(dtype=object))
        return live.assign(channel=pd.Series(dtype=object)), empty
    n = len(live)
    first = [c[0] if len(c) else None for c in live["channels_left"].tolist()]
    propensity = np.asarray(score(live), dtype=np.float64)
    priority = (
        np.clip(live["value"].to_numpy(dtype=np.float64), 0, None)
        * propensity
        * live["urgency"].to_numpy(dtype=np.float64)
    )
    customers, _ = pd.factorize(live["customer_id"], sort=True)
    actions, _ = pd.factorize(live["action"], sort=True)
    triggers = (
        pd.factorize(live["trigger"], sort=True)[0] if "trigger" in live.columns else np.zeros(n, np.int64)
    )
    # each customer's pairs best first, ties by action and trigger: an order the
    # pairs' content decides, never the order they came in (the batch reads them
    # from DuckDB's threads in no fixed order, and equal priorities are common:
    # one product's value, one propensity). The capacity's assignment and the
    # schedule follow this order among equals, so they are fixed by it too.
    order = np.lexsort((np.arange(n), triggers, actions, -priority, customers))
    rank = rank_within(customers, order)
    per_customer = np.fromiter(
        (room.per_customer.get(c, 0) for c in live["customer_id"].tolist()), dtype=np.int64, count=n
    )
    kept = rank < pb.playbook.contact.tasks_per_customer_per_day - per_customer
    chosen = order[kept[order]]
    outranked = order[~kept[order]]
    fitted = fit(
        pd.DataFrame(
            {
                "manager_id": live["manager_id"].to_numpy(dtype=object)[chosen],
                "channels": live["channels_left"].to_numpy(dtype=object)[chosen],
                "priority": priority[chosen],
            }
        ),
        room.capacity,
        pb.playbook.contact.channel_weight,
    ).to_numpy(dtype=object)
    placed = np.array([c is not None and c == c for c in fitted], dtype=bool)
    # each result is one take of the pairs' rows with its columns set on it (a
    # frame per part, assigned and concatenated, cost an event more than its rules)
    made = chosen[placed]
    tasks = live.take(made)
    tasks["channel"] = fitted[placed]
    tasks["propensity"] = propensity[made]
    tasks["priority"] = priority[made]
    tasks = schedule(tasks, day, pb.playbook.contact, room.booked, room.not_before)
    # what moved each task's chance most, where a model gave it (shown with the task)
    tasks["propensity_reasons"] = score.reasons(tasks)
    over = chosen[~placed]
    gone = np.concatenate([outranked, over])
    dropped = live.take(gone)
    # object columns, as the pairs' own text columns are (pandas would infer strings)
    channel = [first[i] for i in outranked] + [None] * len(over)
    dropped["channel"] = pd.Series(channel, index=dropped.index, dtype=object)
    dropped["propensity"] = propensity[gone]
    dropped["priority"] = priority[gone]
    why = ["outranked"] * len(outranked) + ["over_capacity"] * len(over)
    dropped["stage"] = pd.Series([rule(r).stage for r in why], index=dropped.index, dtype=object)
    dropped["rule"] = pd.Series(why, index=dropped.index, dtype=object)
    return tasks, dropped


def unlimited(channel: str) -> bool:
    return channel in UNLIMITED


def as_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Rows from the row engine as the frame ``arbitrate`` reads."""
    frame = pd.DataFrame(rows)
    for col in ("value", "urgency", "prior"):
        if col in frame:
            frame[col] = frame[col].astype(float)
    if "channels_left" in frame:
        frame["channels_left"] = frame["channels_left"].map(lambda c: list(c) if c is not None else [])
    return (
        frame.reset_index(drop=True)
        if len(frame)
        else frame.astype({"value": np.float64} if "value" in frame else {})
    )
