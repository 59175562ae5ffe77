"""Transactions and consents of the synthetic bank."""

from __future__ import annotations

import calendar
from datetime import date

import numpy as np

from kequn.contract.tables import CONSENT_PURPOSES
from kequn.synth.catalog import BILLERS, MERCHANTS, ONLINE_MERCHANTS, OTHER_BANKS
from kequn.synth.money import HoldingChunk
from kequn.synth.org import Employers
from kequn.synth.people import CustomerChunk
from kequn.synth.shelf import Product

SECOND = np.timedelta64(1, "s")
GREEN_MCC = ("4131", "4111", "4112", "4789", "5552", "4784", "5931", "5964")
SALARY_MEDIAN = {
    "civil_servant": 7000,
    "teacher": 6500,
    "doctor": 11000,
    "nurse": 6000,
    "researcher": 9000,
    "engineer": 8500,
    "office_worker": 6000,
    "executive": 25000,
    "worker": 4500,
    "driver": 5000,
    "catering": 4000,
}


class _Parts:
    """Collects transaction columns from each generator, then stacks them."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(
        self,
        cust: np.ndarray,
        ts: np.ndarray,
        amount: np.ndarray,
        kind: str,
        channel: np.ndarray | str,
        *,
        mcc: np.ndarray | None = None,
        bank: np.ndarray | None = None,
        same_name: np.ndarray | None = None,
        employer: np.ndarray | None = None,
    ) -> None:
        n = len(cust)
        if n == 0:
            return

        def fill(x: np.ndarray | str | None) -> np.ndarray:
            if x is None:
                return np.full(n, None, dtype=object)
            if isinstance(x, str):
                return np.full(n, x, dtype=object)
            return x.astype(object)

        self.parts.append(
            {
                "cust": cust,
                "ts": ts,
                "amount": np.round(amount, 2),
                "type": np.full(n, kind, dtype=object),
                "channel": fill(channel),
                "mcc": fill(mcc),
                "bank": fill(bank),
                "same_name": fill(same_name),
                "employer": fill(employer),
            }
        )

    def stack(self) -> dict[str, np.ndarray]:
        keys = ("cust", "ts", "amount", "type", "channel", "mcc", "bank", "same_name", "employer")
        if not self.parts:
            return {k: np.array([]) for k in keys}
        return {k: np.concatenate([p[k] for p in self.parts]) for k in keys}


def _months(start: date, end: date) -> list[tuple[int, int]]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _choice(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(options))
    w = np.array(list(options.values()), dtype=float)
    return keys[rng.choice(len(keys), n, p=w / w.sum())]


def make_transactions(
    rng: np.random.Generator,
    c: CustomerChunk,
    h: HoldingChunk,
    shelf: list[Product],
    employers: Employers,
    start: date,
    as_of: date,
) -> dict[str, np.ndarray]:
    n = len(c)
    s0 = np.datetime64(start, "s")
    s0d = np.datetime64(start, "D")
    end = np.datetime64(as_of, "D")
    days = int((end - s0d).astype(int)) + 1
    active = ~c.dormant
    parts = _Parts()

    def at(day_offset: np.ndarray, lo_hour: float, hi_hour: float) -> np.ndarray:
        secs = rng.uniform(lo_hour * 3600, hi_hour * 3600, len(day_offset)).astype(np.int64)
        return s0 + (day_offset.astype(np.int64) * 86400 + secs) * SECOND

    def on_dates(cust: np.ndarray, dates: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        keep = (dates >= s0d) & (dates <= end)
        return cust[keep], at((dates[keep] - s0d).astype(int), lo, hi)

    months = _months(start, as_of)
    ptype = np.array([p.type for p in shelf])[h.product]

    # payroll (代发): on the employer's payday, and a bonus on its bonus day
    payroll = np.flatnonzero(c.payroll & active)
    emp = c.employer[payroll]
    occ = c.columns["occupation"][payroll]
    base = np.array([SALARY_MEDIAN.get(o, 4500) for o in occ]) * rng.lognormal(0, 0.35, len(payroll))
    emp_ids = np.char.add("E", np.char.zfill((emp + 1).astype(str), 6))
    for y, m in months:
        last = calendar.monthrange(y, m)[1]
        day = np.minimum(employers.payday[emp], last)
        dates = np.datetime64(f"{y:04d}-{m:02d}-01") + (day - 1) * np.timedelta64(1, "D")
        cust, ts = on_dates(payroll, dates, 9, 11)
        keep = np.isin(payroll, cust)
        parts.add(
            cust, ts, base[keep] * rng.normal(1, 0.03, keep.sum()), "salary", "auto", employer=emp_ids[keep]
        )
        bonus_here = employers.bonus_month[emp] == m
        bday = np.minimum(employers.bonus_day[emp], last)
        bdates = np.datetime64(f"{y:04d}-{m:02d}-01") + (bday - 1) * np.timedelta64(1, "D")
        sel = bonus_here & (bdates >= s0d) & (bdates <= end)
        cust, ts = on_dates(payroll[sel], bdates[sel], 9, 11)
        parts.add(
            cust, ts, base[sel] * rng.uniform(1.5, 6, sel.sum()), "salary", "auto", employer=emp_ids[sel]
        )

    # pensions, on the 10th
    pensioners = np.flatnonzero(c.retired & (rng.random(n) < 0.75))
    amount = rng.lognormal(np.log(3200), 0.3, len(pensioners))
    for y, m in months:
        dates = np.full(len(pensioners), np.datetime64(f"{y:04d}-{m:02d}-10"))
        cust, ts = on_dates(pensioners, dates, 8, 9)
        parts.add(cust, ts, amount[np.isin(pensioners, cust)], "pension", "auto")

    # card spending by merchant category; greener customers ride, charge and shop online
    rate = np.where(active, rng.gamma(2.0, 3.0, n), 0) * days / 30
    count = rng.poisson(rate)
    cust = np.repeat(np.arange(n), count)
    green = rng.random(len(cust)) < np.clip(c.green[cust], 0, 0.9)
    green_w = {k: MERCHANTS[k][1] for k in GREEN_MCC}
    other_w = {k: v[1] for k, v in MERCHANTS.items() if k not in GREEN_MCC}
    mcc = np.where(green, _choice(rng, green_w, len(cust)), _choice(rng, other_w, len(cust)))
    median = np.array([MERCHANTS[k][2] for k in mcc])
    spend = -np.maximum(median * rng.lognormal(0, 0.6, len(cust)), 0.5)
    online = np.isin(mcc, list(ONLINE_MERCHANTS))
    channel = np.where(
        online, "online", _choice(rng, {"pos": 0.5, "unionpay_qr": 0.25, "third_party_pay": 0.25}, len(cust))
    )
    parts.add(cust, at(rng.integers(0, days, len(cust)), 7, 22), spend, "card_spend", channel, mcc=mcc)

    # bills: utilities and phone monthly, taxes now and then
    for mcc_code, p_month in (("4900", 0.8), ("4814", 0.6), ("9311", 0.03), ("9399", 0.05)):
        for _ in range(max(1, round(days / 30))):
            cust = np.flatnonzero(active & (rng.random(n) < p_month))
            amt = -BILLERS[mcc_code][2] * rng.lognormal(0, 0.4, len(cust))
            ch = _choice(rng, {"mobile_app": 0.6, "online": 0.2, "counter": 0.2}, len(cust))
            parts.add(
                cust,
                at(rng.integers(0, days, len(cust)), 8, 21),
                amt,
                "bill_payment",
                ch,
                mcc=np.full(len(cust), mcc_code),
            )

    # repayments of credit cards and loans, monthly
    bal = h.columns["balance"]
    for kind, ttype, day in (("credit_card", "card_repayment", 20), ("loan", "loan_repayment", 5)):
        sel = np.flatnonzero((ptype == kind) & (bal > 0) & active[h.customer])
        for y, m in months:
            dates = np.full(len(sel), np.datetime64(f"{y:04d}-{m:02d}-{day:02d}"))
            cust, ts = on_dates(h.customer[sel], dates, 8, 20)
            keep = (dates >= s0d) & (dates <= end)
            amt = -(bal[sel][keep] * (rng.uniform(0.3, 1.0, keep.sum()) if kind == "credit_card" else 1 / 36))
            ch = (
                _choice(rng, {"mobile_app": 0.7, "auto": 0.2, "counter": 0.1}, len(cust))
                if kind == "credit_card"
                else "auto"
            )
            parts.add(cust, ts, np.minimum(amt, -1), ttype, ch)

    # same-name transfers to other banks: the outflow the remote managers try to keep
    big = np.flatnonzero(c.declining & active)
    k = rng.integers(1, 4, len(big))
    cust = np.repeat(big, k)
    share = np.repeat(rng.uniform(0.5, 1.2, len(big)) / k, k)
    parts.add(
        cust,
        at(rng.integers(0, days, len(cust)), 9, 17),
        -c.aum[cust] * share,
        "transfer_out",
        _choice(rng, {"mobile_app": 0.7, "counter": 0.3}, len(cust)),
        bank=np.array(OTHER_BANKS)[rng.integers(0, len(OTHER_BANKS), len(cust))],
        same_name=np.ones(len(cust), dtype=bool),
    )
    small = np.flatnonzero(active & ~c.declining & (rng.random(n) < 0.06))
    parts.add(
        small,
        at(rng.integers(0, days, len(small)), 9, 20),
        -np.maximum(c.aum[small] * rng.uniform(0.05, 0.3, len(small)), 100),
        "transfer_out",
        "mobile_app",
        bank=np.array(OTHER_BANKS)[rng.integers(0, len(OTHER_BANKS), len(small))],
        same_name=rng.random(len(small)) < 0.7,
    )
    incoming = np.flatnonzero(active & (rng.random(n) < 0.15))
    parts.add(
        incoming,
        at(rng.integers(0, days, len(incoming)), 9, 20),
        rng.lognormal(np.log(5000), 1.0, len(incoming)),
        "transfer_in",
        "mobile_app",
        bank=np.array(OTHER_BANKS)[rng.integers(0, len(OTHER_BANKS), len(incoming))],
        same_name=rng.random(len(incoming)) < 0.4,
    )

    # cash
    p_cash = np.where(c.age >= 55, 0.45, 0.25)
    count = np.where(active & (rng.random(n) < p_cash), rng.poisson(1.5 * days / 30, n), 0)
    cust = np.repeat(np.arange(n), count)
    parts.add(
        cust,
        at(rng.integers(0, days, len(cust)), 8, 21),
        -100.0 * rng.integers(1, 30, len(cust)),
        "cash_withdrawal",
        _choice(rng, {"atm": 0.8, "counter": 0.2}, len(cust)),
    )
    dep = np.flatnonzero(active & (rng.random(n) < 0.08))
    parts.add(
        dep,
        at(rng.integers(0, days, len(dep)), 9, 17),
        100.0 * rng.integers(5, 200, len(dep)),
        "cash_deposit",
        "counter",
    )

    # quarterly interest on demand deposits, on the 21st of the quarter's last month
    dd = np.flatnonzero(ptype == "demand_deposit")
    dd_balance = np.bincount(h.customer[dd], weights=bal[dd], minlength=n)
    for y, m in months:
        if m % 3 == 0:
            cust = np.flatnonzero(dd_balance * 0.0015 / 4 >= 0.01)
            dates = np.full(len(cust), np.datetime64(f"{y:04d}-{m:02d}-21"))
            cust2, ts = on_dates(cust, dates, 0, 1)
            parts.add(cust2, ts, dd_balance[cust2] * 0.0015 / 4, "interest", "auto")

    # purchases of the positions opened within the window
    bought = np.flatnonzero(h.opened_in_window & active[h.customer])
    opened = h.columns["open_date"][bought]
    cost = np.nan_to_num(h.columns["cost"][bought], nan=0.0)
    cust, ts = on_dates(h.customer[bought], opened, 9, 17)
    keep = (opened >= s0d) & (opened <= end)
    parts.add(
        cust,
        ts,
        -np.maximum(cost[keep], 1),
        "purchase",
        _choice(rng, {"mobile_app": 0.6, "counter": 0.4}, len(cust)),
    )

    # other income (family, rent, business, other banks) so that most customers'
    # money roughly balances; a few save hard and grow, the outflow ones decline
    cols = parts.stack()
    external = cols["type"] != "purchase"  # buying a product moves money, not out of the bank
    flows = np.bincount(
        cols["cust"][external].astype(np.int64), weights=cols["amount"][external].astype(float), minlength=n
    )
    ratio = np.where(rng.random(n) < 0.12, rng.uniform(1.3, 2.5, n), rng.uniform(0.9, 1.1, n))
    top_up = np.where(active & ~c.declining & (flows < 0), -flows * ratio, 0.0)
    earners = np.flatnonzero(top_up >= 1)
    pieces = np.maximum(1, np.minimum(len(months), 3))
    cust = np.repeat(earners, pieces)
    amount = np.repeat(top_up[earners] / pieces, pieces)
    cash = c.age[cust] >= 60
    parts.add(
        cust[~cash],
        at(rng.integers(0, days, (~cash).sum()), 9, 20),
        amount[~cash],
        "transfer_in",
        _choice(rng, {"mobile_app": 0.7, "online": 0.2, "counter": 0.1}, int((~cash).sum())),
        bank=np.array(OTHER_BANKS)[rng.integers(0, len(OTHER_BANKS), int((~cash).sum()))],
        same_name=rng.random(int((~cash).sum())) < 0.3,
    )
    parts.add(
        cust[cash], at(rng.integers(0, days, cash.sum()), 9, 16), amount[cash], "cash_deposit", "counter"
    )
    cols = parts.stack()
    order = np.lexsort((cols["ts"], cols["cust"]))
    cols = {k: v[order] for k, v in cols.items()}
    cust = cols["cust"].astype(np.int64)
    first_dd = np.full(n, "", dtype=object)
    dd_rev = dd[::-1]
    first_dd[h.customer[dd_rev]] = h.columns["account_id"][dd_rev]
    return {
        "customer_id": c.columns["customer_id"][cust],
        "account_id": first_dd[cust],
        "ts": cols["ts"].astype("datetime64[s]"),
        "amount": cols["amount"].astype(float),
        "currency": np.full(len(cust), "CNY"),
        "channel": cols["channel"],
        "type": cols["type"],
        "counterparty_bank": cols["bank"],
        "same_name": cols["same_name"],
        "merchant_category": cols["mcc"],
        "employer_id": cols["employer"],
    }


CONSENT_P = {
    "marketing_phone": 0.72,
    "marketing_sms": 0.8,
    "marketing_wechat": 0.6,
    "personalised_recommendation": 0.85,
    "third_party_sharing": 0.15,
    "sensitive_processing": 0.9,
}
PIPL_IN_FORCE = np.datetime64("2021-11-01T10:00:00")


def make_consents(rng: np.random.Generator, c: CustomerChunk, as_of: date) -> dict[str, np.ndarray]:
    n = len(c)
    end = np.datetime64(as_of, "s") + np.timedelta64(20 * 3600, "s")
    opened = c.open_date.astype("datetime64[s]") + rng.integers(9 * 3600, 17 * 3600, n) * SECOND
    migrated = opened < PIPL_IN_FORCE
    first_ts = np.where(migrated, PIPL_IN_FORCE, opened)
    first_ts = np.minimum(first_ts, end)
    source = np.where(
        migrated, "migration", _choice(rng, {"counter": 0.5, "mobile_app": 0.4, "online": 0.1}, n)
    )
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("cust", "purpose", "granted", "ts", "source")}
    for purpose, p in CONSENT_P.items():
        granted = rng.random(n) < p
        rows["cust"].append(np.arange(n))
        rows["purpose"].append(np.full(n, purpose))
        rows["granted"].append(granted)
        rows["ts"].append(first_ts)
        rows["source"].append(source)
        # some customers later withdraw (or refuse personalised targeting)
        changes = np.flatnonzero(
            granted
            & (
                rng.random(n)
                < (
                    0.05
                    if purpose.startswith("marketing")
                    else 0.03
                    if purpose == "personalised_recommendation"
                    else 0
                )
            )
        )
        span = np.maximum((end - first_ts[changes]).astype(np.int64), 2)
        later = first_ts[changes] + (rng.random(len(changes)) * (span - 1)).astype(np.int64) * SECOND
        later = np.maximum(later, first_ts[changes] + SECOND)
        rows["cust"].append(changes)
        rows["purpose"].append(np.full(len(changes), purpose))
        rows["granted"].append(np.zeros(len(changes), dtype=bool))
        rows["ts"].append(later)
        rows["source"].append(_choice(rng, {"mobile_app": 0.6, "phone": 0.2, "counter": 0.2}, len(changes)))
    cols = {k: np.concatenate(v) for k, v in rows.items()}
    order = np.lexsort((cols["ts"], cols["purpose"], cols["cust"]))
    cols = {k: v[order] for k, v in cols.items()}
    assert set(cols["purpose"]) <= set(CONSENT_PURPOSES)
    return {
        "customer_id": c.columns["customer_id"][cols["cust"]],
        "purpose": cols["purpose"],
        "granted": cols["granted"],
        "ts": cols["ts"],
        "source": cols["source"],
    }
