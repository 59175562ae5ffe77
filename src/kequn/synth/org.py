"""The bank's organisation, staff and employers of the synthetic bank."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kequn.synth.catalog import (
    BANK_NAME,
    DISTRICT_NAMES,
    EMPLOYER_NAMES,
    GIVEN_FEMALE,
    GIVEN_MALE,
    ROADS,
    SHANXI_CITIES,
    SURNAMES,
)

#: expected share of customers per tier band, used to size the teams
BAND_SHARES = {"mass": 0.78, "mass_affluent": 0.13, "affluent": 0.07, "wealth": 0.017, "private": 0.003}
#: daily capacity by channel: phone, visit, wechat, sms
CAPACITY = {
    "private_banker": (15, 3, 40, 50),
    "wealth_manager": (25, 4, 60, 100),
    "remote_manager": (40, 1, 120, 300),
    "service_manager": (60, 2, 200, 500),
    "branch_head": (5, 2, 20, 20),
}
#: which role owns customers of each band (DOMAIN.md §4)
BAND_ROLE = {
    "mass": "service_manager",
    "mass_affluent": "remote_manager",
    "affluent": "wealth_manager",
    "wealth": "wealth_manager",
    "private": "private_banker",
}


@dataclass(frozen=True)
class Org:
    branches: list[dict[str, object]]
    managers: list[dict[str, object]]
    outlet_ids: list[str]
    outlet_city: np.ndarray  # city index per outlet
    outlet_weight: np.ndarray  # share of customers per outlet
    #: (outlet index, role) -> manager indices; private bankers keyed by (-1 - city)
    team: dict[tuple[int, str], np.ndarray]


def person_names(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    """Chinese names for ``len(male)`` people, vectorised."""
    n = len(male)
    surnames = np.array([s for s, _ in SURNAMES])
    weights = np.array([w for _, w in SURNAMES])
    sur = surnames[rng.choice(len(surnames), size=n, p=weights / weights.sum())]
    gm = np.array(list(GIVEN_MALE))
    gf = np.array(list(GIVEN_FEMALE))
    first = np.where(male, gm[rng.integers(0, len(gm), n)], gf[rng.integers(0, len(gf), n)])
    second = np.where(male, gm[rng.integers(0, len(gm), n)], gf[rng.integers(0, len(gf), n)])
    two = rng.random(n) < 0.72
    given = np.where(two, np.char.add(first, second), first)
    return np.char.add(sur, given)


def build_org(n_customers: int, seed: int) -> Org:
    rng = np.random.default_rng([seed, 11])
    n_outlets = int(np.clip(round(n_customers / 2500), len(SHANXI_CITIES), 600))
    city_w = np.array([c[3] for c in SHANXI_CITIES])
    per_city = np.maximum(1, np.floor(city_w / city_w.sum() * n_outlets)).astype(int)
    while per_city.sum() < n_outlets:
        per_city[int(np.argmax(city_w / city_w.sum() * n_outlets - per_city))] += 1

    branches: list[dict[str, object]] = [
        {
            "branch_id": "B00",
            "name": f"{BANK_NAME}总行",
            "parent_id": None,
            "level": "head_office",
            "city": "太原",
        }
    ]
    outlet_ids: list[str] = []
    outlet_city: list[int] = []
    for ci, (city, _, _, _) in enumerate(SHANXI_CITIES):
        bid = f"B{ci + 1:02d}"
        branches.append(
            {
                "branch_id": bid,
                "name": f"{BANK_NAME}{city}分行",
                "parent_id": "B00",
                "level": "branch",
                "city": city,
            }
        )
        n_sub = max(1, int(np.ceil(per_city[ci] / 3)))
        for si in range(n_sub):
            sid = f"{bid}{si + 1:02d}"
            district = DISTRICT_NAMES[si % len(DISTRICT_NAMES)]
            suffix = "" if si < len(DISTRICT_NAMES) else str(si // len(DISTRICT_NAMES) + 1)
            branches.append(
                {
                    "branch_id": sid,
                    "name": f"{city}{district}{suffix}支行",
                    "parent_id": bid,
                    "level": "sub_branch",
                    "city": city,
                }
            )
        for oi in range(per_city[ci]):
            parent = f"{bid}{oi % n_sub + 1:02d}"
            oid = f"{parent}{oi // n_sub + 1:02d}"
            road = ROADS[(oi * 7 + ci) % len(ROADS)]
            suffix = "" if oi < len(ROADS) else str(oi // len(ROADS) + 1)
            branches.append(
                {
                    "branch_id": oid,
                    "name": f"{city}{road}{suffix}网点",
                    "parent_id": parent,
                    "level": "outlet",
                    "city": city,
                }
            )
            outlet_ids.append(oid)
            outlet_city.append(ci)
    weight = rng.lognormal(0, 0.45, size=len(outlet_ids))
    weight /= weight.sum()
    city_arr = np.array(outlet_city)

    managers: list[dict[str, object]] = []
    team: dict[tuple[int, str], list[int]] = {}

    def hire(branch_id: str, role: str, key: tuple[int, str] | None) -> None:
        cap = CAPACITY.get(role, (0, 0, 0, 0))
        managers.append(
            {
                "manager_id": f"M{len(managers) + 1:06d}",
                "branch_id": branch_id,
                "role": role,
                "capacity_phone": cap[0],
                "capacity_visit": cap[1],
                "capacity_wechat": cap[2],
                "capacity_sms": cap[3],
                "active": True,
            }
        )
        if key is not None:
            team.setdefault(key, []).append(len(managers) - 1)

    for role, count in (("hq", 3), ("compliance", 2)):
        for _ in range(count):
            hire("B00", role, None)
    for ci in range(len(SHANXI_CITIES)):
        bid = f"B{ci + 1:02d}"
        hire(bid, "branch_head", None)
        hire(bid, "compliance", None)
        expected_private = n_customers * weight[city_arr == ci].sum() * BAND_SHARES["private"]
        for _ in range(max(1, round(expected_private / 40))):
            hire(bid, "private_banker", (-1 - ci, "private_banker"))
    for oi, oid in enumerate(outlet_ids):
        expected = n_customers * weight[oi]
        sizes = {
            "service_manager": expected * BAND_SHARES["mass"] / 1200,
            "remote_manager": expected * BAND_SHARES["mass_affluent"] / 600,
            "wealth_manager": expected * (BAND_SHARES["affluent"] + BAND_SHARES["wealth"]) / 250,
        }
        hire(oid, "branch_head", None)
        for role, size in sizes.items():
            for _ in range(max(1, round(size))):
                hire(oid, role, (oi, role))
        hire(oid, "lobby_manager", None)
        hire(oid, "teller", None)
        hire(oid, "teller", None)

    male = rng.random(len(managers)) < 0.45
    names = person_names(rng, male)
    for m, name in zip(managers, names, strict=True):
        m["name"] = str(name)
    # about one in a hundred relationship managers has just left, book still attached
    for m in managers:
        if m["role"] in BAND_ROLE.values() and rng.random() < 0.01:
            m["active"] = False
    return Org(
        branches=branches,
        managers=managers,
        outlet_ids=outlet_ids,
        outlet_city=city_arr,
        outlet_weight=weight,
        team={k: np.array(v) for k, v in team.items()},
    )


@dataclass(frozen=True)
class Employers:
    rows: list[dict[str, object]]
    city: np.ndarray
    industry: np.ndarray
    payday: np.ndarray
    bonus_month: np.ndarray
    bonus_day: np.ndarray
    payroll: np.ndarray


INDUSTRY_WEIGHTS = {
    "government": 6,
    "public_institution": 6,
    "education": 8,
    "healthcare": 6,
    "research": 2,
    "oil_trade": 3,
    "energy": 9,
    "manufacturing": 12,
    "trade": 12,
    "finance": 3,
    "technology": 5,
    "construction": 7,
    "catering": 8,
    "agriculture": 6,
    "other": 7,
}
BONUS_DATES = ("01-15", "01-20", "01-25", "02-01", "06-30", "12-20", "12-31")


def build_employers(n_customers: int, seed: int, org: Org) -> Employers:
    rng = np.random.default_rng([seed, 12])
    n = max(30, n_customers // 120)
    inds = np.array(list(INDUSTRY_WEIGHTS))
    iw = np.array(list(INDUSTRY_WEIGHTS.values()), dtype=float)
    industry = inds[rng.choice(len(inds), n, p=iw / iw.sum())]
    outlet = rng.choice(len(org.outlet_ids), n, p=org.outlet_weight)
    payday = rng.choice([5, 8, 10, 15, 20, 25, 28], n, p=[0.2, 0.1, 0.25, 0.15, 0.15, 0.1, 0.05])
    bonus = rng.choice(BONUS_DATES, n)
    payroll = rng.random(n) < 0.85
    talent_p = np.where(
        np.isin(industry, ["education", "healthcare", "research"]),
        0.7,
        np.where(industry == "technology", 0.4, 0.05),
    )
    talent = rng.random(n) < talent_p
    rows: list[dict[str, object]] = []
    for i in range(n):
        city = str(SHANXI_CITIES[int(org.outlet_city[outlet[i]])][0])
        pool = EMPLOYER_NAMES[str(industry[i])]
        rows.append(
            {
                "employer_id": f"E{i + 1:06d}",
                "name": f"{city}{pool[i % len(pool)]}{'' if i < len(pool) * 11 else i}",
                "industry": str(industry[i]),
                "payday": int(payday[i]),
                "bonus_date": str(bonus[i]),
                "payroll_agreement": bool(payroll[i]),
                "talent_employer": bool(talent[i]),
                "home_branch_id": org.outlet_ids[int(outlet[i])],
            }
        )
    return Employers(
        rows=rows,
        city=org.outlet_city[outlet],
        industry=industry,
        payday=payday,
        bonus_month=np.array([int(b[:2]) for b in bonus]),
        bonus_day=np.array([int(b[3:]) for b in bonus]),
        payroll=payroll,
    )
