"""The last two stages, after the rules: which of a customer's live actions is
worth their day (value × propensity × urgency, at most
``tasks_per_customer_per_day``), and which of those fit their manager's
capacity by channel. The nightly batch arbitrates every live pair at once; an
event, a campaign launch or a salon lead arbitrates its few pairs against what
is left of the day. Each is judged by ``judge``: the night's and a campaign's
pairs as frames (``arbitrate``), an event's as rows (``arbitrate_rows``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from kequn.decide.capacity import fit_channels, rank_within, schedule_columns
from kequn.decide.propensity import Scorer
from kequn.playbook import LoadedPlaybook
from kequn.rules import rule

CHANNELS = ("phone", "visit", "wechat", "sms")

#: what ``arbitrate`` reads of a live pair, and its scorer (a model's inputs
#: are the customer's facts, found by customer_id; its targets the pair's
#: action, campaign and product)
READS = (
    "customer_id",
    "trigger",
    "action",
    "campaign_id",
    "product_id",
    "manager_id",
    "channels_left",
    "value",
    "urgency",
    "occupation",
)


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


@dataclass(frozen=True)
class Verdicts:
    """What the arbitration made of the pairs, by their positions: each pair's
    propensity and priority; the pairs that became tasks (``made``, each
    customer's best first) with their channel, time and window; the pairs
    ``outranked`` by the customer's better ones and those ``over`` their
    manager's capacity."""

    propensity: np.ndarray
    priority: np.ndarray
    made: np.ndarray
    channel: np.ndarray
    scheduled_at: pd.DatetimeIndex
    window: np.ndarray
    outranked: np.ndarray
    over: np.ndarray
    #: the channel an outranked pair would have had first (its first allowed)
    outranked_channel: list[str | None]

    @property
    def gone(self) -> np.ndarray:
        return np.concatenate([self.outranked, self.over])

    @property
    def gone_channel(self) -> list[str | None]:
        """Each dropped pair's channel, in ``gone``'s order: an outranked pair's
        first allowed, none for one over capacity."""
        return self.outranked_channel + [None] * len(self.over)

    @property
    def why(self) -> list[str]:
        return ["outranked"] * len(self.outranked) + ["over_capacity"] * len(self.over)


def judge(
    columns: Mapping[str, Any], propensity: np.ndarray, room: Room, pb: LoadedPlaybook, day: date
) -> Verdicts:
    """The last two stages on the pairs' columns (those ``ARBITRATED`` names,
    the trigger optional; each a sequence, one value a pair) and their
    ``propensity``: which of each customer's pairs are worth their day, and
    which of those fit their manager's capacity by channel. The one
    arbitration: the night's frames and an event's rows are both judged here.

    Ranked on whole columns: an event arbitrates one or two pairs, and a frame
    operation per step cost it more than the rules did."""
    customer_id = columns["customer_id"]
    n = len(customer_id)
    channels_left = _objects(columns["channels_left"])
    priority = np.clip(_floats(columns["value"]), 0, None) * propensity * _floats(columns["urgency"])
    # coded from the columns as they are: the night's millions of pairs hold
    # their text as Arrow strings, which pandas codes without a Python object each
    customers = _codes(customer_id)
    actions = _codes(columns["action"])
    triggers = _codes(columns["trigger"]) if "trigger" in columns else np.zeros(n, np.int64)
    # each customer's pairs best first, ties by action and trigger: an order the
    # pairs' content decides, never the order they came in (the batch reads them
    # from DuckDB's threads in no fixed order, and equal priorities are common:
    # one product's value, one propensity). The capacity's assignment and the
    # schedule follow this order among equals, so they are fixed by it too.
    order = np.lexsort((np.arange(n), triggers, actions, -priority, customers))
    rank = rank_within(customers, order)
    ids = customer_id.tolist() if hasattr(customer_id, "tolist") else customer_id
    per_customer = np.fromiter((room.per_customer.get(c, 0) for c in ids), dtype=np.int64, count=n)
    kept = rank < pb.playbook.contact.tasks_per_customer_per_day - per_customer
    chosen = order[kept[order]]
    outranked = order[~kept[order]]
    managers = _objects(columns["manager_id"])
    fitted = fit_channels(
        managers[chosen],
        channels_left[chosen].tolist(),
        priority[chosen],
        room.capacity,
        pb.playbook.contact.channel_weight,
    )
    placed = np.array([c is not None and c == c for c in fitted], dtype=bool)
    made = chosen[placed]
    channel = fitted[placed]
    at, window = schedule_columns(
        managers[made],
        channel,
        _taken(columns["occupation"], made),
        priority[made],
        day,
        pb.playbook.contact,
        room.booked,
        room.not_before,
    )
    return Verdicts(
        propensity=propensity,
        priority=priority,
        made=made,
        channel=channel,
        scheduled_at=at,
        window=window,
        outranked=outranked,
        over=chosen[~placed],
        outranked_channel=[c[0] if len(c) else None for c in channels_left[outranked]],
    )


def _codes(values: Any) -> np.ndarray:
    """Each value's code in the sorted distinct values (a frame's column as it
    is; an event's list as objects)."""
    found = values if isinstance(values, pd.Series | np.ndarray) else _objects(values)
    return pd.factorize(found, sort=True)[0]


def _floats(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


def _taken(values: Any, at: np.ndarray) -> np.ndarray:
    """The values at positions ``at`` (of a night's column, only those converted)."""
    if isinstance(values, pd.Series):
        return values.take(at).to_numpy()
    return _objects(values)[at]


def _objects(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # one by one: a list of lists would be read as a matrix
        out[i] = v
    return out


def arbitrate(
    live: pd.DataFrame, room: Room, pb: LoadedPlaybook, score: Scorer, day: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``live``: pairs alive after the rules (manager_id, channels_left, value,
    urgency; ``score`` gives each its propensity). Returns the tasks (with
    channel, scheduled_at, window, propensity, priority) and the pairs dropped
    here (with stage and rule), both on ``live``'s index: ``judge`` on the
    frame's columns, the pairs' rows taken once at the end."""
    if live.empty:
        empty = live.assign(stage=pd.Series(dtype=object), rule=pd.Series(dtype=object))
        return live.assign(channel=pd.Series(dtype=object)), empty
    v = judge(live, np.asarray(score(live), dtype=np.float64), room, pb, day)
    # each result is one take of the pairs' rows with the columns it adds set on it
    tasks = _beside(
        live.take(v.made),
        {
            "channel": v.channel,
            "propensity": v.propensity[v.made],
            "priority": v.priority[v.made],
            "scheduled_at": v.scheduled_at,
            "window": pd.Series(v.window, dtype=object),
        },
    )
    # what moved each task's chance most, where a model gave it (shown with the task)
    tasks["propensity_reasons"] = score.reasons(tasks)
    gone = v.gone
    dropped = _beside(
        live.take(gone),
        {
            # object columns, as the pairs' own text columns are (pandas would infer strings)
            "channel": pd.Series(v.gone_channel, dtype=object),
            "propensity": v.propensity[gone],
            "priority": v.priority[gone],
            "stage": pd.Series([rule(r).stage for r in v.why], dtype=object),
            "rule": pd.Series(v.why, dtype=object),
        },
    )
    return tasks, dropped


def arbitrate_rows(
    live: Sequence[Mapping[str, Any]], room: Room, pb: LoadedPlaybook, score: Scorer, day: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``arbitrate`` on a few pairs as rows (an event's, a lead's): the tasks
    and the dropped pairs, each a copy of its pair's row with the columns
    ``arbitrate`` sets on its frames. No frame is built unless a model scores the pairs: for an event's
    four pairs, building, taking and setting frames cost more than judging."""
    if not live:
        return [], []
    columns: dict[str, list[Any]] = {
        name: [r.get(name) for r in live] for name in ARBITRATED if name in live[0]
    }
    if score.by_action is not None:
        propensity = score.by_action(columns["action"])
    else:
        propensity = np.asarray(score(_frame(live)), dtype=np.float64)
    v = judge(columns, propensity, room, pb, day)
    tasks = [
        {
            **live[i],
            "channel": v.channel[k],
            "propensity": float(v.propensity[i]),
            "priority": float(v.priority[i]),
            "scheduled_at": v.scheduled_at[k],
            "window": v.window[k],
        }
        for k, i in enumerate(v.made)
    ]
    # what moved each task's chance most, read with the channel it was given (as
    # the night's tasks are)
    reasons = score.reasons(_frame(tasks)) if score.explain is not None else [[] for _ in tasks]
    for task, why in zip(tasks, reasons, strict=True):
        task["propensity_reasons"] = why
    channels = v.gone_channel
    dropped = [
        {
            **live[i],
            "channel": channels[k],
            "propensity": float(v.propensity[i]),
            "priority": float(v.priority[i]),
            "stage": rule(why).stage,
            "rule": why,
        }
        for k, (i, why) in enumerate(zip(v.gone, v.why, strict=True))
    ]
    return tasks, dropped


#: the pairs' columns ``judge`` reads
ARBITRATED = (
    "customer_id",
    "trigger",
    "action",
    "manager_id",
    "channels_left",
    "value",
    "urgency",
    "occupation",
)


def _frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as the frame a scorer reads: the columns of ``READS`` they have and
    a task's channel, text as object columns (pandas would infer its strings,
    slower to build for a few rows and unlike what the scorer is given at
    night)."""
    columns: dict[str, Any] = {}
    for name in (*READS, "channel"):
        if rows and name in rows[0]:
            values = [r.get(name) for r in rows]
            text = any(isinstance(v, str) for v in values)
            columns[name] = pd.Series(values, dtype=object) if text else values
    return pd.DataFrame(columns, index=range(len(rows)))


def _beside(rows: pd.DataFrame, columns: Mapping[str, object]) -> pd.DataFrame:
    """``rows`` (a take of the pairs, a frame of its own) with ``columns`` set
    on them. An array's text is inferred as pandas infers it; a Series keeps
    its own type. Set one by one, not joined beside them in one ``concat``:
    the join was cheaper for an event's few rows, but the night's talk tracks
    then read the 1,000,000-customer bank's tasks some 5 s slower (26.4 s
    against 21.4 s; 19.5 s before either), for a reason not found."""
    index = rows.index
    for name, values in columns.items():
        rows[name] = values.set_axis(index) if isinstance(values, pd.Series) else values
    return rows
