"""The synthetic product shelf: a few hundred products of every type and risk level."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from kequn.synth.catalog import BANK_NAME, FUND_HOUSES, INSURERS, TRUSTS, WEALTH_ISSUERS


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str
    type: str
    risk_level: str
    asset_class: str
    liquidity: str
    lockup_days: int | None
    term_days: int | None
    min_amount: Decimal
    issuer: str
    is_pension: bool
    is_green: bool
    expected_return: Decimal | None
    volatility: Decimal | None
    fee_rate: Decimal | None
    on_sale: bool = True

    @property
    def risk(self) -> int:
        return int(self.risk_level[1])


def _rate(x: float) -> Decimal:
    return Decimal(f"{x:.4f}")


def build_shelf(seed: int) -> list[Product]:
    """About 300 products; deterministic for a seed."""
    rng = np.random.default_rng([seed, 101])
    out: list[Product] = []

    def add(kind: str, prefix: str, **kw: object) -> None:
        pid = f"{prefix}{len([p for p in out if p.type == kind]) + 1:04d}"
        out.append(Product(product_id=pid, type=kind, **kw))  # type: ignore[arg-type]

    bank = BANK_NAME
    for name, rate in (("活期储蓄", 0.0015), ("薪金宝活期", 0.0020), ("社保卡活期", 0.0015)):
        add(
            "demand_deposit",
            "DD",
            name=name,
            risk_level="R1",
            asset_class="cash",
            liquidity="T0",
            lockup_days=None,
            term_days=None,
            min_amount=Decimal("0.00"),
            issuer=bank,
            is_pension=False,
            is_green=False,
            expected_return=_rate(rate),
            volatility=_rate(0),
            fee_rate=None,
        )
    for label, days, rate in (
        ("三个月", 91, 0.0115),
        ("六个月", 182, 0.0135),
        ("一年", 365, 0.0155),
        ("二年", 730, 0.0165),
        ("三年", 1095, 0.0195),
        ("五年", 1825, 0.0200),
    ):
        for variant in ("整存整取", "零存整取"):
            add(
                "time_deposit",
                "TD",
                name=f"{variant}{label}",
                risk_level="R1",
                asset_class="fixed_income",
                liquidity="closed",
                lockup_days=days,
                term_days=days,
                min_amount=Decimal("50.00"),
                issuer=bank,
                is_pension=False,
                is_green=False,
                expected_return=_rate(rate - (0.001 if variant == "零存整取" else 0)),
                volatility=_rate(0),
                fee_rate=None,
            )
    for label, days, rate in (
        ("1个月", 30, 0.0130),
        ("3个月", 91, 0.0140),
        ("6个月", 182, 0.0160),
        ("1年", 365, 0.0180),
        ("2年", 730, 0.0190),
        ("3年", 1095, 0.0225),
    ):
        add(
            "large_cd",
            "CD",
            name=f"大额存单{label}",
            risk_level="R1",
            asset_class="fixed_income",
            liquidity="closed",
            lockup_days=days,
            term_days=days,
            min_amount=Decimal("200000.00"),
            issuer=bank,
            is_pension=False,
            is_green=False,
            expected_return=_rate(rate),
            volatility=_rate(0),
            fee_rate=None,
        )

    themes = ("稳享", "安盈", "鑫益", "周周宝", "季季红", "半年盈", "年年丰", "晋享", "ESG绿色")
    for i in range(90):
        risk = int(rng.choice([1, 2, 2, 2, 3, 3, 4]))
        closed = rng.random() < 0.6
        days = int(rng.choice([90, 180, 365, 730])) if closed else None
        theme = themes[i % len(themes)]
        add(
            "wealth_product",
            "WP",
            name=f"{theme}{i + 1:02d}期理财",
            risk_level=f"R{risk}",
            asset_class="cash"
            if risk == 1 and not closed
            else "fixed_income"
            if risk <= 2
            else "equity"
            if risk >= 4
            else "alternative",
            liquidity="closed" if closed else ("T0" if risk == 1 else "T1"),
            lockup_days=days,
            term_days=days,
            min_amount=Decimal("10000.00"),
            issuer=str(rng.choice(WEALTH_ISSUERS)),
            is_pension=False,
            is_green=theme == "ESG绿色",
            expected_return=_rate(0.018 + 0.007 * risk + rng.normal(0, 0.003)),
            volatility=_rate(0.005 * risk * risk),
            fee_rate=_rate(0.003 + 0.001 * risk),
        )

    kinds = (
        ("货币", 1, "cash", "T0", 0.017, 0.002),
        ("短债", 2, "fixed_income", "T1", 0.025, 0.01),
        ("纯债", 2, "fixed_income", "T1", 0.03, 0.02),
        ("偏债混合", 3, "fixed_income", "T1", 0.045, 0.06),
        ("平衡混合", 3, "equity", "T1", 0.06, 0.12),
        ("偏股混合", 4, "equity", "T1", 0.08, 0.2),
        ("沪深300指数", 4, "equity", "T1", 0.07, 0.22),
        ("行业主题股票", 5, "equity", "T1", 0.09, 0.3),
        ("QDII", 5, "equity", "T1", 0.08, 0.25),
        ("黄金ETF联接", 4, "alternative", "T1", 0.05, 0.15),
        ("新能源主题", 5, "equity", "T1", 0.09, 0.32),
    )
    for i in range(110):
        label, risk, cls, liq, _, vol = kinds[i % len(kinds)]
        house = FUND_HOUSES[i % len(FUND_HOUSES)]
        add(
            "fund",
            "FD",
            name=f"{house[:-2]}{label}{'A' if i % 2 == 0 else 'C'}",
            risk_level=f"R{risk}",
            asset_class=cls,
            liquidity=liq,
            lockup_days=None,
            term_days=None,
            min_amount=Decimal("10.00"),
            issuer=house,
            is_pension=False,
            is_green=label == "新能源主题",
            expected_return=None,
            volatility=_rate(vol * float(rng.uniform(0.85, 1.15))),
            fee_rate=_rate(0.005 if risk <= 2 else 0.015),
        )

    for i, (name, risk) in enumerate(
        [
            ("重大疾病保险", 1),
            ("百万医疗险", 1),
            ("意外伤害保险", 1),
            ("定期寿险", 1),
            ("终身寿险", 2),
            ("年金保险", 2),
            ("增额终身寿", 2),
            ("少儿教育金", 2),
            ("两全保险", 2),
            ("投资连结保险", 4),
            ("万能险", 2),
            ("防癌险", 1),
        ]
        * 2
    ):
        insurer = INSURERS[i % len(INSURERS)]
        add(
            "insurance",
            "IN",
            name=f"{insurer}{name}",
            risk_level=f"R{risk}",
            asset_class="protection",
            liquidity="closed",
            lockup_days=3650 if risk >= 2 else 365,
            term_days=3650 if risk >= 2 else 365,
            min_amount=Decimal("1000.00"),
            issuer=insurer,
            is_pension=False,
            is_green=False,
            expected_return=None,
            volatility=None,
            # the bank's agency commission on the premium (bancassurance): a
            # branch's fee income moves with what it sells
            fee_rate=_rate(0.05 if risk >= 2 else 0.08),
        )

    for i, (name, risk, liq) in enumerate(
        [
            ("积存金", 3, "T0"),
            ("实物金条", 3, "T1"),
            ("纪念币", 2, "T1"),
            ("白银积存", 4, "T0"),
            ("熊猫金币", 3, "T1"),
            ("生肖金", 3, "T1"),
            ("金饰", 3, "T1"),
            ("贵金属定投", 3, "T0"),
            ("钱币收藏册", 2, "T1"),
            ("金条10克", 3, "T1"),
        ]
    ):
        add(
            "precious_metal",
            "PM",
            name=name,
            risk_level=f"R{risk}",
            asset_class="alternative",
            liquidity=liq,
            lockup_days=None,
            term_days=None,
            min_amount=Decimal("500.00"),
            issuer=bank if i % 2 else "上海黄金交易所",
            is_pension=False,
            is_green=False,
            expected_return=None,
            volatility=_rate(0.15),
            fee_rate=_rate(0.008),  # the dealing spread on gold and silver
        )

    for i in range(12):
        risk = int(rng.choice([3, 4, 5]))
        days = int(rng.choice([365, 730, 1095]))
        name = "家族信托" if i % 4 == 0 else "集合资金信托计划"
        add(
            "trust",
            "TR",
            name=f"{TRUSTS[i % len(TRUSTS)]}{name}{i + 1}号",
            risk_level=f"R{risk}",
            asset_class="alternative",
            liquidity="closed",
            lockup_days=days,
            term_days=days,
            min_amount=Decimal("1000000.00") if name == "家族信托" else Decimal("300000.00"),
            issuer=TRUSTS[i % len(TRUSTS)],
            is_pension=False,
            is_green=False,
            expected_return=_rate(0.045 + 0.005 * risk),
            volatility=_rate(0.05 * risk),
            fee_rate=_rate(0.01),
        )

    for i in range(12):
        risk = 2 if i % 3 else 3
        days = 1825 if i % 2 == 0 else 2555
        is_fund = i % 4 == 3
        add(
            "pension",
            "PN",
            name=("养老目标日期基金" if is_fund else "养老理财") + f"{2035 + i * 5}",
            risk_level=f"R{risk}",
            asset_class="fixed_income" if risk == 2 else "equity",
            liquidity="closed",
            lockup_days=days,
            term_days=days,
            min_amount=Decimal("1.00"),
            issuer=FUND_HOUSES[i % len(FUND_HOUSES)] if is_fund else WEALTH_ISSUERS[i % len(WEALTH_ISSUERS)],
            is_pension=True,
            is_green=False,
            # banks carry a benchmark in the data; Kequn never shows it for pension
            expected_return=_rate(0.04 + 0.002 * i),
            volatility=_rate(0.04 * risk),
            fee_rate=_rate(0.004),
        )
    for i, (name, risk, cls) in enumerate(
        [
            ("个人养老金储蓄", 1, "fixed_income"),
            ("个人养老金理财", 2, "fixed_income"),
            ("个人养老金基金Y份额", 3, "equity"),
            ("个人养老金专属商业养老保险", 2, "protection"),
            ("个人养老金国债", 1, "fixed_income"),
            ("个人养老金指数基金", 4, "equity"),
        ]
    ):
        add(
            "individual_pension",
            "IP",
            name=name,
            risk_level=f"R{risk}",
            asset_class=cls,
            liquidity="closed",
            lockup_days=3650,
            term_days=None,
            min_amount=Decimal("1.00"),
            issuer=bank if risk == 1 else FUND_HOUSES[i % len(FUND_HOUSES)],
            is_pension=True,
            is_green=False,
            expected_return=None,
            volatility=_rate(0.03 * risk),
            fee_rate=_rate(0.002),
        )

    for name, days in (
        ("白领优享贷", 1095),
        ("人才贷", 1825),
        ("个人住房按揭贷款", 9125),
        ("消费贷", 1095),
        ("个人经营贷", 1095),
        ("新能源车贷", 1825),
        ("助学贷款", 2190),
        ("公积金组合贷", 9125),
    ):
        add(
            "loan",
            "LN",
            name=name,
            risk_level="R1",
            asset_class="liability",
            liquidity="T0",
            lockup_days=None,
            term_days=days,
            min_amount=Decimal("0.00"),
            issuer=bank,
            is_pension=False,
            is_green=name == "新能源车贷",
            expected_return=None,
            volatility=None,
            fee_rate=None,
        )
    for name in ("普卡信用卡", "金卡信用卡", "白金卡信用卡", "低碳主题信用卡", "ETC联名卡", "青年卡"):
        add(
            "credit_card",
            "CC",
            name=name,
            risk_level="R1",
            asset_class="liability",
            liquidity="T0",
            lockup_days=None,
            term_days=None,
            min_amount=Decimal("0.00"),
            issuer=bank,
            is_pension=False,
            is_green=name == "低碳主题信用卡",
            expected_return=None,
            volatility=None,
            fee_rate=None,
        )
    # a handful of products taken off sale: held, never recommended
    for idx in rng.choice(len(out), size=8, replace=False):
        p = out[int(idx)]
        if p.type in ("wealth_product", "fund", "trust"):
            out[int(idx)] = Product(
                **{**{f: getattr(p, f) for f in p.__dataclass_fields__}, "on_sale": False}
            )
    return out
