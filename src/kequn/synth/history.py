"""The synthetic bank's past: its own customer attributes beyond the contract
(marital status, education, a housing loan, a credit default flag), and two
years of campaign contacts whose outcomes follow a hidden function of those
attributes, of the customer's age, of the contact's channel and month, of the
deposit rate at the time, and of the customer's own contact history.

The function is not given to any model: ``true_probability`` exists so that a
test can compare what Kequn learns with what could be learnt at best. Every
contact row carries, as its own attributes, what the bank knew of the customer
when it called (as a real campaign history does), so training never needs
today's card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

#: the bank's own customer attributes: name -> (type, label)
CUSTOMER_ATTRIBUTES = {
    "marital": ("str", "婚姻状况"),
    "education": ("str", "学历"),
    "housing_loan": ("bool", "住房贷款"),
    "credit_default": ("bool", "征信违约记录"),
}
#: what each contact row carries about the customer and the moment
CONTACT_ATTRIBUTES = {
    "age": ("int", "接触时年龄"),
    **CUSTOMER_ATTRIBUTES,
    "deposit_rate": ("number", "当期一年期存款利率(%)"),
}
MARITAL = np.array(["married", "single", "divorced"])
EDUCATION = np.array(["primary", "secondary", "university", "postgraduate"])
#: the campaigns of the past two years: code, action, channel, base chance
CAMPAIGNS = (
    ("KMH", "campaign_offer", "phone", 0.10),  # 开门红
    ("RENEW", "maturity_renewal", "phone", 0.14),
    ("PENSION", "campaign_offer", "visit", 0.08),
    ("FUND", "product_interest_call", "phone", 0.07),
    ("WX", "campaign_offer", "wechat", 0.05),
    ("SMS", "reactivation", "sms", 0.03),
)
CHANNEL_EFFECT = {"phone": 0.0, "visit": 0.5, "wechat": -0.3, "sms": -0.6}
POSITIVE = ("interested", "sold")
TRUTH_FILE = "history_truth.csv"


def customer_attributes(rng: np.random.Generator, age: np.ndarray) -> dict[str, np.ndarray]:
    """Each customer's attributes, as the bank's core system keeps them."""
    n = len(age)
    married = np.where(age < 28, 0.25, np.where(age < 40, 0.7, 0.8))
    u = rng.random(n)
    marital = np.where(u < married, "married", np.where(u < married + 0.12, "divorced", "single"))
    edu_p = np.where(age[:, None] < 45, [0.08, 0.37, 0.45, 0.10], [0.25, 0.45, 0.26, 0.04])
    cum = edu_p.cumsum(axis=1)
    education = EDUCATION[(rng.random(n)[:, None] > cum).sum(axis=1).clip(0, 3)]
    housing = rng.random(n) < np.where((age > 28) & (age < 55), 0.45, 0.12)
    default = rng.random(n) < 0.04
    return {"marital": marital, "education": education, "housing_loan": housing, "credit_default": default}


def deposit_rate(day: np.ndarray) -> np.ndarray:
    """The one-year deposit rate (%) on each day: moving between 1.6 and 2.2 with
    the central bank's cycle (a trend no earlier contact had seen could not be
    learnt by any model from the past)."""
    months = (day - np.datetime64("2025-01-01", "D")).astype("timedelta64[D]").astype(float) / 30.44
    return np.round(1.9 + 0.3 * np.sin(months / 2.5), 2)


def true_logit(
    campaign: np.ndarray,
    channel: np.ndarray,
    month: np.ndarray,
    age: np.ndarray,
    attrs: dict[str, np.ndarray],
    rate: np.ndarray,
    recent_30: np.ndarray,
    contacts_90: np.ndarray,
    last_positive: np.ndarray,
    prev_campaign_positive: np.ndarray,
) -> np.ndarray:
    base = {code: np.log(p / (1 - p)) for code, _, _, p in CAMPAIGNS}
    z = np.array([base[c] for c in campaign])
    z += np.array([CHANNEL_EFFECT[c] for c in channel])
    edu = attrs["education"]
    z += np.where(np.isin(edu, ["university", "postgraduate"]), 0.7, np.where(edu == "primary", -0.5, 0.0))
    z += np.where(attrs["marital"] == "single", 0.4, 0.0)
    z -= 1.0 * attrs["credit_default"] + 0.35 * attrs["housing_loan"]
    z += np.where(age >= 60, 0.7, np.where(age < 30, 0.35, 0.0))
    z += np.where((age >= 60) & (campaign == "PENSION"), 0.8, 0.0)
    z -= 1.4 * (rate - 2.0)
    z += np.where(np.isin(month, [1, 2]), 0.4, 0.0)
    z -= 0.8 * recent_30 + 0.2 * contacts_90
    z += 1.2 * last_positive + 0.6 * prev_campaign_positive
    return z


def true_probability(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


@dataclass
class History:
    columns: dict[str, object]
    truth: np.ndarray  # each row's true chance of success


def make_history(
    rng: np.random.Generator,
    customer_ids: np.ndarray,
    age_now: np.ndarray,
    attrs: dict[str, np.ndarray],
    owners: np.ndarray,
    as_of: date,
    months: int,
    products: dict[str, str],
) -> History:
    """Campaign contacts over ``months`` months before ``as_of``, each outcome
    drawn from the hidden chance given what came before it for that customer.
    ``products``: campaign code -> the product it offered."""
    end = np.datetime64(as_of, "D")
    first = end - np.timedelta64(int(months * 30.44), "D")
    span = int((end - first).astype(int))
    parts_c, parts_d, parts_k = [], [], []
    for k in range(max(len(CAMPAIGNS), months // 2)):
        start = int(rng.integers(0, max(1, span - 35)))
        chosen = np.flatnonzero(rng.random(len(customer_ids)) < 0.22)
        parts_c.append(chosen)
        parts_d.append(start + rng.integers(0, 21, len(chosen)))
        parts_k.append(np.full(len(chosen), k % len(CAMPAIGNS)))
        # a follow-up a week or two later for some of them
        again = chosen[rng.random(len(chosen)) < 0.25]
        parts_c.append(again)
        parts_d.append(start + 21 + rng.integers(0, 14, len(again)))
        parts_k.append(np.full(len(again), k % len(CAMPAIGNS)))
    cust, day_off, code_ix = np.concatenate(parts_c), np.concatenate(parts_d), np.concatenate(parts_k)
    keep = day_off < span
    order = np.lexsort((day_off[keep], cust[keep]))
    cust, day_off, code_ix = cust[keep][order], day_off[keep][order], code_ix[keep][order]
    n = len(cust)
    # each contact's place among its customer's, and what came before it
    new = np.r_[True, cust[1:] != cust[:-1]]
    starts = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    rank = np.arange(n) - starts
    codes = np.array([c[0] for c in CAMPAIGNS])[code_ix]
    channels = np.array([c[2] for c in CAMPAIGNS])[code_ix]
    days = first + day_off.astype("timedelta64[D]")
    month = (days.astype("datetime64[M]").astype(int) % 12) + 1
    age = (age_now[cust] - (end - days).astype(int) / 365.25).astype(int)
    rate = deposit_rate(days)
    row_attrs = {name: attrs[name][cust] for name in CUSTOMER_ATTRIBUTES}
    ok = np.zeros(n, dtype=bool)
    p = np.zeros(n)
    for r in range(int(rank.max()) + 1 if n else 0):
        at = np.flatnonzero(rank == r)
        recent = np.zeros(len(at))
        last90 = np.zeros(len(at))
        last_ok = np.zeros(len(at), dtype=bool)
        prev_ok = np.zeros(len(at), dtype=bool)
        prev_found = np.zeros(len(at), dtype=bool)
        for j in range(1, r + 1):  # the contacts before, latest first
            before = at - j
            gap = day_off[at] - day_off[before]
            recent = np.maximum(recent, gap < 30)
            last90 += gap < 90
            if j == 1:
                last_ok = ok[before]
            other = (codes[before] != codes[at]) & ~prev_found
            prev_ok = np.where(other, ok[before], prev_ok)
            prev_found |= other
        z = true_logit(
            codes[at],
            channels[at],
            month[at],
            age[at],
            {name: v[at] for name, v in row_attrs.items()},
            rate[at],
            recent,
            last90,
            last_ok,
            prev_ok,
        )
        p[at] = true_probability(z)
        ok[at] = rng.random(len(at)) < p[at]
    sold = ok & (rng.random(n) < 0.5)
    misses = np.array(["declined", "declined", "maybe_later", "reached", "ignored"])[rng.integers(0, 5, n)]
    misses = np.where(np.isin(channels, ["sms", "wechat"]) & (misses == "reached"), "ignored", misses)
    outcome = np.where(sold, "sold", np.where(ok, "interested", misses))
    # Beijing time, as the bank's systems write it (no offset)
    moments = (
        days.astype("datetime64[s]")
        + rng.integers(9, 18, n).astype("timedelta64[h]")
        + rng.integers(0, 60, n).astype("timedelta64[m]")
    )
    amounts = rng.uniform(1e4, 2e5, n)
    out: dict[str, object] = {
        "contact_id": [f"H{i + 1:09d}" for i in range(n)],
        "customer_id": [str(x) for x in customer_ids[cust]],
        "ts": moments,
        "channel": channels.tolist(),
        "action": [CAMPAIGNS[k][1] for k in code_ix],
        "campaign_id": codes.tolist(),
        "product_id": [products.get(c) for c in codes],
        "outcome": outcome.tolist(),
        "amount": [round(float(a), 2) if s else None for a, s in zip(amounts, sold, strict=True)],
        "manager_id": list(owners[cust]),
        "age": age.tolist(),
        **{name: v.tolist() for name, v in row_attrs.items()},
        "deposit_rate": rate.tolist(),
    }
    return History(out, p)


def mapping_toml() -> str:
    """The mapping a data engineer writes for this bank's attributes."""
    lines = ["version = 1", 'name = "synthetic bank: its own attributes"', ""]
    for table, attributes in (("customers", CUSTOMER_ATTRIBUTES), ("contacts", CONTACT_ATTRIBUTES)):
        for name, (kind, label) in attributes.items():
            lines += [f"[tables.{table}.attributes.{name}]", f'type = "{kind}"', f'label = "{label}"', ""]
    return "\n".join(lines)


def history_window(as_of: date, months: int) -> tuple[date, date]:
    return as_of - timedelta(days=int(months * 30.44)), as_of
