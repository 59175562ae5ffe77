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
    channels_left = live["channels_left"].to_numpy(dtype=object)
    propensity = np.asarray(score(live), dtype=np.float64)
    priority = (
        np.clip(live["value"].to_numpy(dtype=np.float64), 0, None)
        * propensity
        * live["urgency"].to_numpy(dtype=np.float64)
    )
    # coded from the columns as they are: the night's millions of pairs hold
    # their text as Arrow strings, which pandas codes without a Python object each
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
    managers = live["manager_id"].to_numpy(dtype=object)
    fitted = fit_channels(
        managers[chosen],
        channels_left[chosen].tolist(),
        priority[chosen],
        room.capacity,
        pb.playbook.contact.channel_weight,
    )
    placed = np.array([c is not None and c == c for c in fitted], dtype=bool)
    # each result is one take of the pairs' rows with the columns it adds set on it
    made = chosen[placed]
    channel = fitted[placed]
    at, window = schedule_columns(
        managers[made],
        channel,
        live["occupation"].take(made).to_numpy(),
        priority[made],
        day,
        pb.playbook.contact,
        room.booked,
        room.not_before,
    )
    tasks = _beside(
        live.take(made),
        {
            "channel": channel,
            "propensity": propensity[made],
            "priority": priority[made],
            "scheduled_at": at,
            "window": pd.Series(window, dtype=object),
        },
    )
    # what moved each task's chance most, where a model gave it (shown with the task)
    tasks["propensity_reasons"] = score.reasons(tasks)
    over = chosen[~placed]
    gone = np.concatenate([outranked, over])
    why = ["outranked"] * len(outranked) + ["over_capacity"] * len(over)
    dropped = _beside(
        live.take(gone),
        {
            # object columns, as the pairs' own text columns are (pandas would infer strings)
            "channel": pd.Series(
                [c[0] if len(c) else None for c in channels_left[outranked]] + [None] * len(over),
                dtype=object,
            ),
            "propensity": propensity[gone],
            "priority": priority[gone],
            "stage": pd.Series([rule(r).stage for r in why], dtype=object),
            "rule": pd.Series(why, dtype=object),
        },
    )
    return tasks, dropped


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
