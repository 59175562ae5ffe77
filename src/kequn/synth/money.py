"""Holdings of the synthetic bank: who holds which product, and how much."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from kequn.synth.people import DAY, CustomerChunk
from kequn.synth.shelf import Product

# type -> (gamma shape of its weight in the customer's wealth)
WEIGHT_SHAPE = {
    "demand_deposit": 2.0,
    "time_deposit": 2.5,
    "large_cd": 3.0,
    "wealth_product": 2.5,
    "fund": 1.5,
    "insurance": 1.0,
    "precious_metal": 0.6,
    "trust": 3.0,
    "pension": 1.0,
    "individual_pension": 0.4,
}
ASSET_TYPES = tuple(WEIGHT_SHAPE)


@dataclass
class HoldingChunk:
    columns: dict[str, np.ndarray]
    customer: np.ndarray  # position in the customer chunk
    product: np.ndarray  # index into the shelf
    opened_in_window: np.ndarray


def _probabilities(c: CustomerChunk) -> dict[str, tuple[np.ndarray, int]]:
    """Per type: probability of holding it, and the most positions of it."""
    aum, age = c.aum, c.age
    a5, a20, a30, a300 = aum > 5e4, aum > 2e5, aum > 3e5, aum > 3e6
    f = np.asarray
    return {
        "demand_deposit": (f(np.ones(len(aum))), 2),
        "time_deposit": (0.25 + 0.3 * a5 + 0.1 * (age > 50), 3),
        "large_cd": (0.5 * a30, 2),
        "wealth_product": (0.05 + 0.35 * a5 + 0.2 * a20, 3),
        "fund": (0.06 + 0.25 * a5 + 0.15 * a20 + 0.08 * (age < 40), 5),
        "insurance": (0.08 + 0.2 * a20 + 0.05 * (c.risk > 0), 2),
        "precious_metal": (0.02 + 0.08 * a20, 1),
        "trust": (0.5 * a300, 2),
        "pension": ((age >= 45) * (0.04 + 0.08 * a20), 1),
        "individual_pension": (((age >= 25) & (age < 60)) * 0.05, 1),
        "loan": (((age >= 22) & (age <= 60)) * 0.14, 1),
        "credit_card": (f(np.full(len(aum), 0.38)), 1),
    }


def make_holdings(
    rng: np.random.Generator, c: CustomerChunk, shelf: list[Product], as_of: date, window_start: date
) -> HoldingChunk:
    asof = np.datetime64(as_of, "D")
    start = np.datetime64(window_start, "D")
    n = len(c)
    types = np.array([p.type for p in shelf])
    risks = np.array([p.risk for p in shelf])
    on_sale = np.array([p.on_sale for p in shelf])
    terms = np.array([p.term_days or 0 for p in shelf])
    min_amt = np.array([float(p.min_amount) for p in shelf])

    cust_parts, type_parts = [], []
    for kind, (p, most) in _probabilities(c).items():
        holds = rng.random(n) < p
        count = np.where(holds, rng.integers(1, most + 1, n), 0)
        if kind == "demand_deposit":
            count = np.where(rng.random(n) < 0.6, 2, 1)
        cust_parts.append(np.repeat(np.arange(n), count))
        type_parts.append(np.full(int(count.sum()), kind))
    cust = np.concatenate(cust_parts)
    kind = np.concatenate(type_parts)
    order = np.lexsort((kind, cust))
    cust, kind = cust[order], kind[order]
    m = len(cust)

    # product: of that type, within the customer's risk level (unassessed: R1-R2);
    # one in 25 positions sits above it (bought before a re-assessment)
    product = np.empty(m, dtype=np.int64)
    allowed = np.where(c.risk[cust] > 0, c.risk[cust], 2)
    allowed = np.where(rng.random(m) < 0.04, 5, allowed)
    for t in np.unique(kind):
        sel = np.flatnonzero(kind == t)
        pool = np.flatnonzero((types == t) & (on_sale | (rng.random(len(types)) < 0.5)))
        pool = pool[np.argsort(risks[pool], kind="stable")]
        upto = np.searchsorted(risks[pool], allowed[sel], side="right")
        upto = np.maximum(upto, 1)
        product[sel] = pool[(rng.random(len(sel)) * upto).astype(int)]

    # balances: the customer's wealth split by gamma weights over asset positions
    is_asset = np.isin(kind, ASSET_TYPES)
    shape = np.array([WEIGHT_SHAPE.get(k, 1.0) for k in kind])
    weight = np.where(is_asset, rng.gamma(shape), 0.0)
    mass = c.aum[cust] < 5e4
    weight = np.where(mass & (kind == "demand_deposit"), weight * 4, weight)
    total = np.bincount(cust, weights=weight, minlength=n)
    balance = np.where(is_asset, c.aum[cust] * weight / np.maximum(total[cust], 1e-9), 0.0)
    balance = np.where(is_asset, np.maximum(balance, min_amt[product]), balance)
    # liabilities: positive outstanding amounts
    loan_size = np.where(
        terms[product] > 3650, rng.lognormal(np.log(4e5), 0.5, m), rng.lognormal(np.log(8e4), 0.7, m)
    )
    balance = np.where(kind == "loan", loan_size, balance)
    balance = np.where(
        kind == "credit_card", np.where(rng.random(m) < 0.3, 0.0, rng.lognormal(np.log(4e3), 1.0, m)), balance
    )
    balance = np.round(balance, 2)
    adb = np.round(np.maximum(balance * rng.normal(1.0, 0.05, m), 0), 2)
    adb = np.where(c.declining[cust] & is_asset, np.round(balance * rng.uniform(1.2, 1.8, m), 2), adb)

    gain = np.select(
        [
            kind == "fund",
            kind == "wealth_product",
            kind == "precious_metal",
            np.isin(kind, ["pension", "trust"]),
        ],
        [
            rng.normal(0.01, 0.12, m),
            rng.uniform(0.0, 0.03, m),
            rng.normal(0.05, 0.1, m),
            rng.uniform(0.0, 0.05, m),
        ],
        0.0,
    )
    cost = np.where(is_asset, np.round(balance / (1 + gain), 2), np.nan)

    # dates: term products mature within one term after the as-of date
    cust_open = c.open_date[cust]
    term = terms[product]
    has_term = (term > 0) & np.isin(
        kind, ["time_deposit", "large_cd", "wealth_product", "trust", "pension", "loan"]
    )
    maturity = asof + (rng.random(m) * np.maximum(term, 1)).astype(int) * DAY + DAY
    opened_term = maturity - term * DAY
    span = np.maximum((asof - cust_open).astype(int), 1)
    opened_free = asof - (rng.random(m) * span).astype(int) * DAY
    open_date = np.where(has_term, opened_term, opened_free)
    open_date = np.maximum(open_date, cust_open)
    open_date = np.minimum(open_date, asof)
    maturity = np.where(has_term, np.maximum(maturity, open_date + term * DAY), np.datetime64("NaT"))
    first = np.r_[True, cust[1:] != cust[:-1]]
    open_date = np.where(first & (kind == "demand_deposit"), cust_open, open_date)

    position = np.arange(m) - np.maximum.accumulate(np.where(first, np.arange(m), 0))
    account = np.char.add(
        np.char.add("6217", np.char.zfill(c.index[cust].astype(str), 9)),
        np.char.zfill(position.astype(str), 3),
    )
    return HoldingChunk(
        columns={
            "account_id": account,
            "customer_id": c.columns["customer_id"][cust],
            "product_id": np.array([p.product_id for p in shelf])[product],
            "balance": balance,
            "avg_daily_balance_month": adb,
            "cost": cost,
            "currency": np.full(m, "CNY"),
            "open_date": open_date,
            "maturity_date": maturity,
        },
        customer=cust,
        product=product,
        opened_in_window=(open_date >= start) & is_asset & (kind != "demand_deposit"),
    )
