"""Customers of the synthetic bank, generated a chunk at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from kequn.contract.idcard import CHECK_CHARS, WEIGHTS
from kequn.synth.catalog import MOBILE_PREFIXES, OCCUPATION_INDUSTRY, OTHER_REGIONS, SHANXI_CITIES
from kequn.synth.org import BAND_ROLE, Employers, Org, person_names

DAY = np.timedelta64(1, "D")
AGE_BANDS = (
    (18, 25, 0.10),
    (26, 35, 0.20),
    (36, 45, 0.19),
    (46, 55, 0.19),
    (56, 65, 0.16),
    (66, 75, 0.11),
    (76, 90, 0.05),
)
#: lines between bands, in yuan (DOMAIN.md §4 defaults)
BAND_LINES = (50_000, 200_000, 1_000_000, 6_000_000)
BANDS = ("mass", "mass_affluent", "affluent", "wealth", "private")


def band_of(aum: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(BAND_LINES), aum, side="right")


def id_numbers(region: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """18-digit resident ID numbers with correct check digits, vectorised."""
    birth_str = np.datetime_as_string(birth, unit="D")
    ymd = np.char.replace(birth_str, "-", "")
    seq_str = np.char.zfill(seq.astype(str), 3)
    first17 = np.char.add(np.char.add(region, ymd), seq_str)
    digits = np.frombuffer(first17.astype("S17").tobytes(), dtype=np.uint8).reshape(-1, 17) - 48
    total = (digits.astype(np.int64) * np.array(WEIGHTS)).sum(axis=1) % 11
    checks = np.array(list(CHECK_CHARS))[total]
    return np.char.add(first17, checks)


@dataclass
class CustomerChunk:
    """The rows to write plus the hidden facts the later tables depend on."""

    columns: dict[str, np.ndarray]
    index: np.ndarray
    age: np.ndarray
    aum: np.ndarray  # target AUM in yuan
    risk: np.ndarray  # 0 unassessed, 1..5
    outlet: np.ndarray
    employer: np.ndarray  # -1 when none
    payroll: np.ndarray  # bool: salary paid through the bank
    retired: np.ndarray
    dormant: np.ndarray
    declining: np.ndarray
    green: np.ndarray  # propensity for low-carbon spending, 0..1
    open_date: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    p = np.array([b[2] for b in AGE_BANDS])
    band = rng.choice(len(AGE_BANDS), n, p=p / p.sum())
    lo = np.array([b[0] for b in AGE_BANDS])[band]
    hi = np.array([b[1] for b in AGE_BANDS])[band]
    return rng.integers(lo, hi + 1)


def _occupations(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    working = np.array(
        [
            "civil_servant",
            "teacher",
            "doctor",
            "nurse",
            "researcher",
            "engineer",
            "office_worker",
            "executive",
            "merchant",
            "catering",
            "worker",
            "farmer",
            "driver",
            "self_employed",
            "unemployed",
            "other",
        ]
    )
    w = np.array([6, 6, 2.5, 2.5, 1, 6, 16, 2, 9, 5, 12, 8, 4, 8, 3, 5], dtype=float)
    occ = working[rng.choice(len(working), len(age), p=w / w.sum())]
    student = (age <= 22) & (rng.random(len(age)) < 0.6)
    retired = ((age >= 60) & (rng.random(len(age)) < 0.85)) | ((age >= 55) & (rng.random(len(age)) < 0.35))
    occ = np.where(student, "student", occ)
    return np.where(retired, "retired", occ)


def make_customers(
    rng: np.random.Generator, start: int, n: int, as_of: date, org: Org, employers: Employers
) -> CustomerChunk:
    idx = np.arange(start, start + n)
    asof = np.datetime64(as_of, "D")
    age = _ages(rng, n)
    male = rng.random(n) < 0.49
    birth = asof - (age * 365.25 + rng.integers(1, 365, n)).astype(int) * DAY
    outlet = rng.choice(len(org.outlet_ids), n, p=org.outlet_weight)
    city = org.outlet_city[outlet]
    local = rng.random(n) < np.where(age < 35, 0.72, 0.86)

    region = np.empty(n, dtype="U6")
    for ci, (_, prefix, suffixes, _) in enumerate(SHANXI_CITIES):
        sel = city == ci
        region[sel] = np.char.add(prefix, np.array(suffixes)[rng.integers(0, len(suffixes), sel.sum())])
    others = np.array(OTHER_REGIONS)
    region = np.where(local, region, others[rng.integers(0, len(others), n)])
    seq = rng.integers(0, 500, n) * 2 + np.where(male, 1, 0)
    id_number = id_numbers(region, birth, seq)

    prefixes = np.array(MOBILE_PREFIXES)
    phone = np.char.add(
        prefixes[rng.integers(0, len(prefixes), n)],
        np.char.zfill(rng.integers(0, 100_000_000, n).astype(str), 8),
    )
    phone = np.where(rng.random(n) < 0.04, None, phone)

    occupation = _occupations(rng, age)
    retired = occupation == "retired"

    # employer: same city, matching industry where the occupation implies one
    employer = np.full(n, -1)
    has_job = ~np.isin(
        occupation, ["student", "retired", "unemployed", "farmer", "self_employed", "merchant"]
    ) & (rng.random(n) < 0.7)
    for occ_name, industries in OCCUPATION_INDUSTRY.items():
        for ci in range(len(SHANXI_CITIES)):
            sel = np.flatnonzero(has_job & (occupation == occ_name) & (city == ci))
            if not len(sel):
                continue
            pool = np.flatnonzero((employers.city == ci) & np.isin(employers.industry, industries))
            if not len(pool):
                pool = np.flatnonzero(employers.city == ci)
            if len(pool):
                employer[sel] = pool[rng.integers(0, len(pool), len(sel))]
    payroll = (employer >= 0) & employers.payroll[np.maximum(employer, 0)]

    # wealth: heavy-tailed, rising with age and with some occupations
    bonus = np.select(
        [
            np.isin(occupation, ["executive", "merchant", "doctor"]),
            np.isin(occupation, ["civil_servant", "teacher", "engineer", "researcher"]),
            np.isin(occupation, ["student", "unemployed", "farmer"]),
        ],
        [0.45, 0.15, -0.35],
        0.0,
    )
    log_aum = rng.normal(3.85 + 0.012 * (age - 40) + bonus, 1.0)
    aum = np.round(10**log_aum, 2)

    tenure_years = np.minimum(age - 18, rng.exponential(8, n))
    open_date = asof - (tenure_years * 365.25).astype(int) * DAY - DAY
    new = rng.random(n) < 0.03
    open_date = np.where(new, asof - rng.integers(1, 90, n) * DAY, open_date)

    band = band_of(aum)
    assessed = rng.random(n) < np.where(band >= 1, 0.95, 0.7)
    young_p = np.array([0.12, 0.30, 0.35, 0.17, 0.06])
    old_p = np.array([0.25, 0.40, 0.25, 0.08, 0.02])
    risk = np.where(age >= 60, rng.choice(5, n, p=old_p), rng.choice(5, n, p=young_p)) + 1
    risk = np.where(assessed, risk, 0)
    age_of_assessment = np.select(
        [rng.random(n) < 0.7, rng.random(n) < 0.33],
        [rng.integers(0, 330, n), rng.integers(330, 365, n)],
        rng.integers(365, 900, n),
    )
    assessed_on = asof - age_of_assessment * DAY
    assessed_on = np.maximum(assessed_on, open_date)

    # owners: likelier for richer customers; the role follows a noisy view of
    # the band, so some customers sit with the neighbouring tier's role
    owned = rng.random(n) < np.array([0.45, 0.75, 0.9, 0.97, 0.99])[band]
    seen_band = band_of(aum * rng.lognormal(0, 0.25, n))
    owner = np.full(n, None, dtype=object)
    for b, bname in enumerate(BANDS):
        role = BAND_ROLE[bname]
        for o in range(len(org.outlet_ids)):
            key = (-1 - int(org.outlet_city[o]), role) if role == "private_banker" else (o, role)
            sel = np.flatnonzero(owned & (seen_band == b) & (outlet == o))
            team = org.team.get(key)
            if len(sel) and team is not None:
                picks = team[rng.integers(0, len(team), len(sel))]
                owner[sel] = [org.managers[i]["manager_id"] for i in picks]

    dependants = np.where((age >= 25) & (age <= 55), rng.poisson(1.2, n), rng.poisson(0.3, n))
    tag_pool = np.array(["手机银行签约", "网银签约", "社保卡", "ETC", "医保账户", "公积金"])
    tags = np.array(
        [";".join(tag_pool[rng.random(len(tag_pool)) < 0.3]) or None for _ in range(n)], dtype=object
    )

    employer_ids = np.where(
        employer >= 0, np.char.add("E", np.char.zfill((employer + 1).astype(str), 6)), None
    )
    columns = {
        "customer_id": np.char.add("C", np.char.zfill(idx.astype(str), 9)),
        "name": person_names(rng, male),
        "id_number": id_number,
        "phone": phone,
        "gender": np.where(male, "M", "F"),
        "birth_date": birth,
        "occupation": occupation,
        "employer_id": employer_ids,
        "home_branch_id": np.array(org.outlet_ids)[outlet],
        "open_date": open_date,
        "hukou_local": local,
        "risk_level": np.where(risk > 0, np.char.add("C", risk.astype(str)), None),
        "risk_assessed_on": np.where(risk > 0, assessed_on, np.datetime64("NaT")),
        "owner_manager_id": owner,
        "dependants": dependants,
        "tags": tags,
    }
    return CustomerChunk(
        columns=columns,
        index=idx,
        age=age,
        aum=aum,
        risk=risk,
        outlet=outlet,
        employer=employer,
        payroll=payroll,
        retired=retired,
        dormant=rng.random(n) < np.where(band == 0, 0.1, 0.03),
        declining=rng.random(n) < np.where(band >= 1, 0.06, 0.02),
        green=rng.beta(1.2, 5, n) * np.where(age < 45, 1.4, 0.8),
        open_date=open_date,
    )
