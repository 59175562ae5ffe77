"""Uplift: what a campaign changed, treated against control, with its interval.

Conversion is a difference of two proportions (Newcombe's hybrid score
interval, which keeps its coverage when conversions are rare, unlike the plain
Wald interval); AUM change is a difference of means with Welch's interval, since
the arms' spreads differ. The incremental AUM is the per-member uplift times the
treated members, with the interval scaled alike."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    level: float = 0.95

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def proportion_uplift(k_t: int, n_t: int, k_c: int, n_c: int, level: float = 0.95) -> Estimate:
    """Treated rate minus control rate (Newcombe 1998, method 10)."""
    if n_t == 0 or n_c == 0:
        return Estimate(0.0, -1.0, 1.0, level)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p_t, p_c = k_t / n_t, k_c / n_c
    l_t, u_t = _wilson(k_t, n_t, z)
    l_c, u_c = _wilson(k_c, n_c, z)
    d = p_t - p_c
    low = d - math.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
    high = d + math.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return Estimate(d, low, high, level)


@dataclass(frozen=True)
class Moments:
    """A sample as its size, sum and sum of squares: what a database can add up."""

    n: int
    total: float
    squares: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Moments:
        x = np.asarray(values, dtype=float)
        return cls(len(x), float(x.sum()), float((x * x).sum()))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max(0.0, (self.squares - self.n * self.mean**2) / (self.n - 1))


def welch_uplift(treated: Moments, control: Moments, level: float = 0.95) -> Estimate:
    """Mean of treated minus mean of control, Welch's t interval."""
    if treated.n == 0 or control.n == 0:
        return Estimate(0.0, -math.inf, math.inf, level)
    d = treated.mean - control.mean
    if treated.n < 2 or control.n < 2:
        return Estimate(d, -math.inf, math.inf, level)
    vt, vc = treated.variance / treated.n, control.variance / control.n
    se = math.sqrt(vt + vc)
    if se == 0:
        return Estimate(d, d, d, level)
    dof = (vt + vc) ** 2 / (vt**2 / (treated.n - 1) + vc**2 / (control.n - 1))
    from scipy import stats

    q = float(stats.t.ppf(0.5 + level / 2, dof))
    return Estimate(d, d - q * se, d + q * se, level)


def mean_uplift(treated: Sequence[float], control: Sequence[float], level: float = 0.95) -> Estimate:
    """Welch's interval from the values themselves."""
    return welch_uplift(Moments.of(treated), Moments.of(control), level)


def scaled(e: Estimate, by: float) -> Estimate:
    return Estimate(e.value * by, e.low * by, e.high * by, e.level)
