"""Scoring tonight's proposals with the model in force: the same features as
training (``kequn.learn.features``), now at the moment of the decision.

A proposal is a target at that moment: its customer, action (campaign or
product when it has one) and the channel it would go by. Its history is every
earlier contact — the bank's own of the last year, as the run keeps them, and
the outcomes logged in Kequn — and its named values are read from the
customer's profile (the bank's attributes ride with it) by the names the model
learnt. A name the profile does not have is unknown, as it would be for a
customer the bank knows nothing more of.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from kequn.learn.features import LABELS, Tables, frame
from kequn.learn.model import Model

TARGETS = pa.schema(
    [
        ("key", pa.int64()),
        ("customer_id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("action", pa.string()),
        ("campaign", pa.string()),
        ("product_id", pa.string()),
        ("channel", pa.string()),
    ]
)
EVENTS = pa.schema(
    [
        ("customer_id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("campaign", pa.string()),
        ("outcome", pa.string()),
    ]
)


def targets(pairs: pd.DataFrame, now: datetime) -> pa.Table:
    """The proposals as targets (``pairs``: customer_id, action, and where known
    campaign_id, product_id and channel)."""
    n = len(pairs)

    def col(name: str) -> list[Any]:
        if name not in pairs:
            return [None] * n
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in pairs[name]]

    actions = col("action")
    campaigns = [c or a for c, a in zip(col("campaign_id"), actions, strict=True)]
    return pa.Table.from_pydict(
        {
            "key": list(range(n)),
            "customer_id": col("customer_id"),
            "ts": [now] * n,
            "action": actions,
            "campaign": campaigns,
            "product_id": col("product_id"),
            "channel": col("channel"),
        },
        schema=TARGETS,
    )


def named(model: Model) -> list[str]:
    return list((model.spec.extra.get("named") or {}).keys())


def score_batch(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    pairs: pd.DataFrame,
    now: datetime,
    profiles: str,
    events: str,
) -> np.ndarray:
    """Every pair's chance by the model (``profiles``, ``events``: relations of
    ``con``: the run's profiles, and every earlier contact)."""
    if not len(pairs):
        return np.zeros(0)
    return model.predict(features_batch(con, model, pairs, now, profiles, events))


def features_batch(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    pairs: pd.DataFrame,
    now: datetime,
    profiles: str,
    events: str,
) -> pd.DataFrame:
    """The model's inputs for every pair, in the pairs' order."""
    con.register("k_score_targets_arrow", targets(pairs, now))
    con.execute("CREATE OR REPLACE TEMP TABLE k_score_targets AS SELECT * FROM k_score_targets_arrow")
    con.unregister("k_score_targets_arrow")
    have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {profiles}").fetchall()}
    names = named(model)
    picked = ", ".join(f'p."{n}"' if n in have else f'NULL AS "{n}"' for n in names)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_score_values AS
        SELECT t.key {", " + picked if picked else ""}
        FROM k_score_targets t LEFT JOIN {profiles} p USING (customer_id)""")
    return frame(con, Tables("k_score_targets", events, "k_score_values"), names)


_LOCAL = threading.local()


def features_of(
    model: Model,
    pairs: pd.DataFrame,
    now: datetime,
    facts: Mapping[str, Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """The model's inputs for the pairs of a few customers decided in process (an
    event, a batch of events): ``facts`` by customer, ``history`` their earlier
    contacts."""
    con = getattr(_LOCAL, "con", None)
    if con is None:
        con = _LOCAL.con = duckdb.connect(":memory:")
        con.execute("SET threads = 1")
    names = named(model)
    con.register("k_one_targets", targets(pairs, now))
    con.register("k_one_events", pa.Table.from_pylist([dict(h) for h in history], schema=EVENTS))
    of = [facts.get(str(cid)) or {} for cid in pairs["customer_id"]]
    values = {"key": list(range(len(pairs))), **{n: [f.get(n) for f in of] for n in names}}
    con.register("k_one_values", pd.DataFrame(values))
    try:
        return frame(con, Tables("k_one_targets", "k_one_events", "k_one_values"), names)
    finally:
        for name in ("k_one_targets", "k_one_events", "k_one_values"):
            con.unregister(name)


#: how many of the inputs that moved a chance most a task shows
REASONS = 3


def reasons(model: Model, features: pd.DataFrame, top: int = REASONS) -> list[list[dict[str, Any]]]:
    """For each row, the inputs that raised or lowered its chance most: name, the
    banker's word for it, its value, and its effect on the log-odds (LightGBM's
    own contributions, TreeSHAP)."""
    contrib = model.contributions(features)
    named = dict(model.spec.extra.get("named") or {})
    out = []
    for i in range(len(features)):
        row = contrib[i, :-1]
        found = []
        for j in np.argsort(-np.abs(row)):
            name = model.spec.inputs[j].name
            value = _shown(features.iloc[i].get(name))
            # the task itself (its action, campaign, product) and what is unknown of
            # the customer are no reason a banker can act on
            if name in OF_THE_TASK or value is None or abs(row[j]) < 0.01:
                continue
            label = named.get(name) or LABELS.get(name, name)
            found.append({"name": name, "label": label, "value": value, "effect": round(float(row[j]), 3)})
            if len(found) == top:
                break
        out.append(found)
    return out


#: inputs that say which task it is, not who the customer is
OF_THE_TASK = frozenset({"action", "campaign", "product_id"})


def _shown(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str) and value == "none":
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return round(value, 2) if isinstance(value, float) else value
