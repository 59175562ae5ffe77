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

from kequn.decide.capacity import UNLIMITED, fit, schedule
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
    if taken is not None and len(taken):
        for (m, ch), n in taken.groupby(["manager_id", "channel"]).size().items():
            if (m, ch) in cap:
                cap[(m, ch)] = max(0, cap[(m, ch)] - int(n))
    return cap


def arbitrate(
    live: pd.DataFrame, room: Room, pb: LoadedPlaybook, score: Scorer, day: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``live``: pairs alive after the rules (manager_id, channels_left, value,
    urgency; ``score`` gives each its propensity). Returns the tasks (with
    channel, scheduled_at, window, propensity, priority) and the pairs dropped
    here (with stage and rule), both on ``live``'s index."""
    if live.empty:
        empty = live.assign(stage=pd.Series(dtype=object), rule=pd.Series(dtype=object))
        return live.assign(channel=pd.Series(dtype=object)), empty
    live = live.copy()
    live["channel"] = live["channels_left"].map(lambda c: c[0] if len(c) else None)
    live["propensity"] = score(live)
    live["priority"] = live["value"].clip(lower=0) * live["propensity"] * live["urgency"]
    live = live.sort_values(
        ["customer_id", "priority", "action"], ascending=[True, False, True], kind="stable"
    )
    rank = live.groupby("customer_id").cumcount()
    keep = pb.playbook.contact.tasks_per_customer_per_day - live["customer_id"].map(room.per_customer).fillna(
        0
    )
    chosen = live[rank < keep].copy()
    outranked = live[rank >= keep]
    options = pd.DataFrame(
        {
            "manager_id": chosen["manager_id"],
            "channels": chosen["channels_left"],
            "priority": chosen["priority"],
        },
        index=chosen.index,
    )
    chosen["channel"] = fit(options, room.capacity, pb.playbook.contact.channel_weight)
    over = chosen[chosen["channel"].isna()]
    tasks = chosen[chosen["channel"].notna()].copy()
    tasks = schedule(tasks, day, pb.playbook.contact, room.booked, room.not_before)
    # what moved each task's chance most, where a model gave it (shown with the task)
    tasks["propensity_reasons"] = score.reasons(tasks)
    dropped = pd.concat(
        [
            outranked.assign(stage=rule("outranked").stage, rule="outranked"),
            over.assign(stage=rule("over_capacity").stage, rule="over_capacity"),
        ]
    )
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
