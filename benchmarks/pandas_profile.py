"""A plain pandas implementation of Kequn's profile (the default playbook's
features, tiers, stages, segments, health and recommendations), for the
benchmark to compare against. Written as a careful analyst would with pandas:
vectorised group-bys and merges, no Python loops over customers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

CLASSES = ["cash", "fixed_income", "equity", "alternative", "protection"]
AUM_TYPES = [
    "demand_deposit",
    "time_deposit",
    "large_cd",
    "wealth_product",
    "fund",
    "insurance",
    "precious_metal",
    "trust",
    "pension",
    "individual_pension",
]
RISK_TYPES = ["wealth_product", "fund", "trust", "precious_metal", "pension", "individual_pension"]
LADDER = [
    ("private_central", 20e6),
    ("private", 6e6),
    ("wealth", 1e6),
    ("affluent", 2e5),
    ("mass_affluent", 5e4),
    ("mass", 0.0),
]
CARBON = {  # behaviour: (predicate on transactions, grams, points)
    "bus": (lambda t: (t.type == "card_spend") & (t.merchant_category == "4131"), 150, 2),
    "metro": (lambda t: (t.type == "card_spend") & (t.merchant_category == "4111"), 180, 2),
    "rail": (lambda t: (t.type == "card_spend") & (t.merchant_category == "4112"), 2500, 10),
    "bike": (lambda t: (t.type == "card_spend") & (t.merchant_category == "4789"), 90, 1),
    "ev": (lambda t: (t.type == "card_spend") & (t.merchant_category == "5552"), 1200, 5),
    "etc": (lambda t: (t.type == "card_spend") & (t.merchant_category == "4784"), 50, 1),
    "second_hand": (lambda t: (t.type == "card_spend") & (t.merchant_category == "5931"), 500, 3),
    "online": (lambda t: (t.type == "card_spend") & (t.channel == "online"), 30, 1),
    "qr": (lambda t: (t.type == "card_spend") & (t.channel == "unionpay_qr"), 10, 1),
    "utility": (
        lambda t: (
            (t.type == "bill_payment")
            & (t.merchant_category == "4900")
            & t.channel.isin(["mobile_app", "online"])
        ),
        60,
        1,
    ),
    "telecom": (
        lambda t: (
            (t.type == "bill_payment")
            & (t.merchant_category == "4814")
            & t.channel.isin(["mobile_app", "online"])
        ),
        20,
        1,
    ),
    "gov": (
        lambda t: (
            (t.type == "bill_payment")
            & t.merchant_category.isin(["9311", "9399"])
            & t.channel.isin(["mobile_app", "online"])
        ),
        100,
        2,
    ),
    "card_repay": (lambda t: (t.type == "card_repayment") & t.channel.isin(["mobile_app", "online"]), 20, 1),
    "transfer": (lambda t: t.type.isin(["transfer_out", "transfer_in"]) & (t.channel == "mobile_app"), 40, 1),
    "purchase": (lambda t: (t.type == "purchase") & (t.channel == "mobile_app"), 40, 1),
}


def profile(
    tables: dict[str, pd.DataFrame], targets: pd.DataFrame, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    asof = pd.Timestamp(as_of)
    c = tables["customers"].copy()
    e = tables["employers"][["employer_id", "industry", "talent_employer"]]
    c = c.merge(e, on="employer_id", how="left")
    birth = pd.to_datetime(c.birth_date)
    c["age"] = (
        as_of.year - birth.dt.year - ((birth.dt.month * 100 + birth.dt.day) > as_of.month * 100 + as_of.day)
    )
    c["tenure_days"] = (asof - pd.to_datetime(c.open_date)).dt.days
    c["risk_num"] = c.risk_level.str[1].astype(float).fillna(0).astype(int)
    assessed = (asof - pd.to_datetime(c.risk_assessed_on)).dt.days
    c["risk_valid"] = (c.risk_num > 0) & (assessed < 365)
    c["tags_list"] = c.tags.fillna("").str.split(";")

    p = tables["products"].copy()
    p["p_risk"] = p.risk_level.str[1].astype(int)
    h = tables["holdings"].merge(
        p[["product_id", "type", "asset_class", "liquidity", "p_risk"]], on="product_id"
    )
    h = h.merge(c[["customer_id", "risk_num", "risk_valid"]], on="customer_id")
    h["bal"] = h.balance.astype(float)
    h["adb"] = h.avg_daily_balance_month.fillna(h.balance).astype(float)
    h["is_asset"] = h.type.isin(AUM_TYPES)
    h["above"] = h.is_asset & (
        (h.p_risk > h.risk_num.clip(lower=1)) | (~h.risk_valid & h.type.isin(RISK_TYPES))
    )
    a = h[h.is_asset]
    g = a.groupby("customer_id")
    agg = pd.DataFrame({"aum_month_end": g.bal.sum(), "aum_avg_daily": g.adb.sum()})
    by_class = a.pivot_table(
        index="customer_id", columns="asset_class", values="bal", aggfunc="sum", fill_value=0.0
    )
    for cls in CLASSES:
        agg[f"{cls}_amount"] = by_class.get(cls, 0.0)
    agg["liquid_assets"] = (
        a[a.liquidity.isin(["T0", "T1"]) & (a.asset_class != "protection")].groupby("customer_id").bal.sum()
    )
    agg["fund_balance"] = a[a.type == "fund"].groupby("customer_id").bal.sum()
    agg["wealth_balance"] = a[a.type == "wealth_product"].groupby("customer_id").bal.sum()
    agg["above_amount"] = a[a.above].groupby("customer_id").bal.sum()
    agg["investments"] = a[a.type.isin(["wealth_product", "fund", "trust"])].groupby("customer_id").size()
    per_product = a[a.bal > 0].groupby(["customer_id", "product_id"]).bal.sum()
    share = per_product / per_product.groupby(level=0).transform("sum")
    agg["n_products"] = per_product.groupby(level=0).size()
    agg["hhi"] = (share**2).groupby(level=0).sum()
    terms = a[a.maturity_date.notna() & (a.bal > 0)].copy()
    terms["bucket"] = ((pd.to_datetime(terms.maturity_date) - asof).dt.days // 91).clip(upper=8)
    tb = terms.groupby(["customer_id", "bucket"]).bal.sum()
    agg["term_positions"] = terms.groupby("customer_id").size()
    agg["peak_share"] = tb.groupby(level=0).max() / tb.groupby(level=0).sum()

    t = tables["transactions"]
    t = t[
        t.ts
        >= pd.Timestamp(
            date(as_of.year, as_of.month - 3 if as_of.month > 3 else as_of.month + 9, min(as_of.day, 28)),
            tz="Asia/Shanghai",
        )
    ]
    t = t.assign(
        amt=t.amount.astype(float),
        initiated=~t.type.isin(["salary", "pension", "interest", "fee"]) & (t.channel.fillna("") != "auto"),
        month=t.ts.dt.year * 100 + t.ts.dt.month,
    )
    tg = t.groupby("customer_id")
    flows = pd.DataFrame(
        {
            "salary_months": t[t.type == "salary"].groupby("customer_id").month.nunique(),
            "pension_months": t[t.type == "pension"].groupby("customer_id").month.nunique(),
            "spend_total": -t[t.type.isin(["card_spend", "bill_payment", "cash_withdrawal"])]
            .groupby("customer_id")
            .amt.sum(),
            "same_name_out": -t[(t.type == "transfer_out") & t.same_name.fillna(False)]
            .groupby("customer_id")
            .amt.sum(),
            "txn_count": tg.initiated.sum(),
            "last_txn": t[t.initiated].groupby("customer_id").ts.max(),
            "net_flow": t[~t.type.isin(["purchase", "redemption"])].groupby("customer_id").amt.sum(),
        }
    )
    points = pd.Series(0, index=flows.index, dtype=float)
    for pred, _grams, pts in CARBON.values():
        points = points.add(t[pred(t)].groupby("customer_id").size() * pts, fill_value=0)
    flows["green_points"] = points

    f = (
        c.set_index("customer_id")
        .join(agg)
        .join(flows)
        .fillna({**{k: 0.0 for k in [*agg.columns, *flows.columns] if k != "last_txn"}})
    )
    f["aum"] = f.aum_avg_daily
    f["spend_monthly"] = f.spend_total / 3
    f["liquid_reserve_months"] = np.where(
        f.spend_monthly > 0,
        f.liquid_assets / f.spend_monthly.where(f.spend_monthly > 0),
        np.where(f.liquid_assets > 0, 99.0, 0.0),
    )
    before = f.aum_month_end - f.net_flow
    f["aum_growth"] = np.where(before > 0, f.aum_month_end / before.where(before > 0) - 1, np.nan)
    f["days_since"] = (asof.tz_localize("Asia/Shanghai") - f.last_txn).dt.days.fillna(93)

    lines = np.array([x[1] for x in LADDER])
    idx = np.argmax(f.aum.to_numpy()[:, None] >= lines[None, :], axis=1)
    f["tier"] = np.array([x[0] for x in LADDER])[idx]
    nxt = np.where(idx > 0, lines[np.maximum(idx - 1, 0)], np.nan)
    f["near_threshold"] = (idx > 0) & (f.aum >= nxt * 0.9)
    f["life_stage"] = np.select(
        [
            (f.age >= 60) | (f.occupation == "retired") | (f.pension_months > 0),
            f.age >= 50,
            (f.age < 30) & (f.dependants.fillna(0) == 0),
            (f.age < 40) | ((f.age < 45) & (f.dependants.fillna(0) > 0)),
        ],
        ["retired", "pre_retirement", "young_single", "family_building"],
        "family_mature",
    )
    f["lifecycle"] = np.select(
        [
            f.tenure_days <= 90,
            (f.days_since >= 180) | ((f.txn_count == 0) & (f.tenure_days > 180)),
            f.aum_growth <= -0.3,
            f.aum_growth >= 0.1,
        ],
        ["onboarding", "dormant", "declining", "growing"],
        "mature",
    )
    segs = {
        "silver": (f.age >= 60) | (f.pension_months > 0),
        "social_security": f.tags_list.apply(lambda x: "社保卡" in x) | (f.pension_months > 0),
        "payroll": f.salary_months >= 2,
        "oil_trade": f.industry == "oil_trade",
        "civil_service": f.industry.isin(["government", "public_institution"])
        | (f.occupation == "civil_servant"),
        "merchant": f.occupation.isin(["merchant", "self_employed"]) | (f.industry == "trade"),
        "teacher": (f.occupation == "teacher") | (f.industry == "education"),
        "talent": f.talent_employer.fillna(False).astype(bool)
        | f.occupation.isin(["doctor", "researcher", "executive"]),
        "new_citizen": f.hukou_local == False,  # noqa: E712
        "young": f.age.between(18, 30),
        "women": f.gender == "F",
        "fund_holder": f.fund_balance > 0,
        "vip_wealth": f.tier.isin(["wealth", "private", "private_central"]) & (f.wealth_balance > 0),
        "asset_upgrade": f.near_threshold,
        "outside_money": (f.same_name_out >= 50000) | (f.same_name_out > f.aum),
        "low_carbon": f.green_points >= 50,
        "dormant": f.lifecycle == "dormant",
        "family_trust_prospect": f.tier.isin(["private", "private_central"]),
    }
    for name, mask in segs.items():
        f[f"seg_{name}"] = mask.fillna(False).astype(bool)
    seg_frame = pd.DataFrame({k: np.where(v, k, None) for k, v in segs.items()}, index=f.index)
    f["segments"] = seg_frame.apply(lambda r: [x for x in r if x], axis=1)

    f["pf_risk"] = f.risk_level.fillna("C1")
    f = (
        f.reset_index()
        .merge(targets, left_on=["pf_risk", "life_stage"], right_on=["pf_risk", "pf_stage"], how="left")
        .set_index("customer_id")
    )
    w = {
        cls: np.where(
            f.aum_month_end > 0, f[f"{cls}_amount"] / f.aum_month_end.where(f.aum_month_end > 0), 0.0
        )
        for cls in CLASSES
    }
    dist = sum(np.abs(w[cls] - f[f"target_{cls}"]) for cls in CLASSES) / 2
    for cls in CLASSES:
        f[f"gap_{cls}"] = f[f"target_{cls}"] * f.aum_month_end - f[f"{cls}_amount"]
    sub = pd.DataFrame(index=f.index)
    sub["allocation"] = np.where(f.aum_month_end > 0, (100 * (1 - dist)).clip(0, 100), 0)
    sub["growth"] = np.where(f.aum_growth.isna(), 50, (50 + 250 * f.aum_growth).clip(0, 100))
    need = f.spend_monthly * 6
    sub["liquidity"] = np.where(
        need > 0,
        (100 * f.liquid_assets / need.where(need > 0)).clip(0, 100),
        np.where(f.liquid_assets > 0, 100, 0),
    )
    share = np.where(f.aum_month_end > 0, f.above_amount / f.aum_month_end.where(f.aum_month_end > 0), 0)
    sub["risk_match"] = (100 - 250 * share).clip(0, 100)
    n_eff = np.where(f.hhi > 0, 1 / f.hhi.where(f.hhi > 0), 0)
    sub["diversification"] = np.where(f.aum_month_end > 0, (100 * (n_eff - 1) / 3).clip(0, 100), 0)
    ratio = (100 * f.protection_amount / (100_000 * (1 + f.dependants.fillna(0)))).clip(0, 100)
    sub["protection"] = np.where(
        f.age >= 65, np.where(f.protection_amount > 0, np.maximum(ratio, 70), 60), ratio
    )
    term_n = f.term_positions.clip(upper=8)
    sub["maturity"] = np.where(
        f.term_positions < 2,
        100,
        (100 * (1 - f.peak_share.fillna(1)) / (1 - 1 / term_n.where(term_n > 1))).clip(0, 100),
    )
    weights = {
        "allocation": 0.25,
        "growth": 0.1,
        "liquidity": 0.15,
        "risk_match": 0.2,
        "diversification": 0.1,
        "protection": 0.1,
        "maturity": 0.1,
    }
    sub = sub.round(1)
    f["health_score"] = sum(sub[k] * v for k, v in weights.items()).round(1)
    for k in weights:
        f[f"health_{k}"] = sub[k]
        # the band, as the run keeps it (its sentences are worded when a page shows them)
        f[f"band_{k}"] = np.select([sub[k] < 40, sub[k] < 70], ["poor", "fair"], "good")
    return f, recommend(f, tables, p)


def recommend(f: pd.DataFrame, tables: dict[str, pd.DataFrame], p: pd.DataFrame) -> pd.DataFrame:
    base = f.reset_index()[
        [
            "customer_id",
            "tier",
            "risk_level",
            "life_stage",
            "risk_valid",
            "risk_num",
            "liquid_reserve_months",
            "age",
            "aum_month_end",
            *[f"gap_{c}" for c in CLASSES],
        ]
    ]
    longs = base.melt(id_vars=base.columns[:9].tolist(), var_name="asset_class", value_name="gap")
    longs["asset_class"] = longs.asset_class.str[4:]
    longs = longs[longs.gap >= np.maximum(1000, 0.05 * longs.aum_month_end)]
    longs = longs.sort_values(["customer_id", "gap"], ascending=[True, False])
    longs = longs.groupby("customer_id").head(2)
    longs["gap_fit"] = np.where(longs.groupby("customer_id").cumcount() == 0, 1.0, 0.5)
    prod = p[p.on_sale.fillna(True) & p.type.isin(AUM_TYPES)].drop(columns=["risk_level"]).copy()
    prod["is_risk"] = prod.type.isin(RISK_TYPES) | (prod.p_risk >= 2)
    prod["ret"] = prod.groupby("asset_class").expected_return.rank(pct=True).fillna(0.5)
    held = tables["holdings"][["customer_id", "product_id"]].drop_duplicates()
    cells = f.reset_index()[["customer_id", "tier", "risk_level", "life_stage"]]
    pop = (
        held.merge(cells, on="customer_id")
        .groupby(["tier", "risk_level", "life_stage", "product_id"], dropna=False)
        .size()
    )
    size = cells.groupby(["tier", "risk_level", "life_stage"], dropna=False).size()
    pop = (pop / size.reindex(pop.index.droplevel(3)).to_numpy()).rename("popularity")
    cand = longs.merge(prod, on="asset_class")
    eff = np.where(cand.risk_valid, cand.risk_num, 0)
    ok = (
        (cand.p_risk <= np.maximum(eff, 1))
        & ((eff >= 1) | ~cand.is_risk)
        & ((cand.liquid_reserve_months >= 6) | (cand.liquidity != "closed"))
        & (cand.min_amount.astype(float) <= cand.gap)
    )
    cand = cand[ok].merge(held.assign(held=True), on=["customer_id", "product_id"], how="left")
    cand = cand[cand.held.isna()]
    cand = cand.merge(pop.reset_index(), on=["tier", "risk_level", "life_stage", "product_id"], how="left")
    cand["score"] = 0.35 * cand.gap_fit + 0.35 * cand.popularity.fillna(0) + 0.2 * cand.ret
    cand = cand.sort_values(["customer_id", "score"], ascending=[True, False])
    return cand.groupby("customer_id").head(3)
