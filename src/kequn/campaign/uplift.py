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

import numpy as np
from scipy import stats


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
    z = float(stats.norm.ppf(0.5 + level / 2))
    p_t, p_c = k_t / n_t, k_c / n_c
    l_t, u_t = _wilson(k_t, n_t, z)
    l_c, u_c = _wilson(k_c, n_c, z)
    d = p_t - p_c
    low = d - math.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
    high = d + math.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return Estimate(d, low, high, level)


def mean_uplift(treated: Sequence[float], control: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean of treated minus mean of control, Welch's t interval."""
    t = np.asarray(treated, dtype=float)
    c = np.asarray(control, dtype=float)
    if len(t) < 2 or len(c) < 2:
        d = float(t.mean() - c.mean()) if len(t) and len(c) else 0.0
        return Estimate(d, -math.inf, math.inf, level)
    d = float(t.mean() - c.mean())
    vt, vc = t.var(ddof=1) / len(t), c.var(ddof=1) / len(c)
    se = math.sqrt(vt + vc)
    if se == 0:
        return Estimate(d, d, d, level)
    dof = (vt + vc) ** 2 / (vt**2 / (len(t) - 1) + vc**2 / (len(c) - 1))
    q = float(stats.t.ppf(0.5 + level / 2, dof))
    return Estimate(d, d - q * se, d + q * se, level)


def scaled(e: Estimate, by: float) -> Estimate:
    return Estimate(e.value * by, e.low * by, e.high * by, e.level)
