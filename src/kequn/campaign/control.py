"""The control group: a random share of a campaign's members who get no campaign
contact, so that what the campaign changed can be told from what would have
happened anyway.

Stratified by tier and home unit: each stratum gives up its own share, so the
two arms have the same tier and branch mix. Deterministic for a seed: each
member's place in the draw is a keyed hash of the seed and their id, and each
stratum's fractional share is rounded up or down by a hash of its own, so the
control share is right on average over strata, not only within large ones.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def _unit(seed: int, key: str) -> float:
    """A number in [0, 1) fixed by the seed and the key."""
    h = hashlib.blake2b(key.encode(), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(h, "big") / 2**64


def assign_arms(members: pd.DataFrame, seed: int, control_share: float) -> pd.DataFrame:
    """``members``: customer_id, tier, home_branch_id. Returns them with
    ``stratum`` and ``arm`` (treated or control), in the input's order."""
    if not 0 <= control_share < 1:
        raise ValueError(f"control share {control_share} must be at least 0 and below 1")
    out = members[["customer_id", "tier", "home_branch_id"]].copy()
    out["stratum"] = out["tier"].astype(str) + "|" + out["home_branch_id"].astype(str)
    out["draw"] = [_unit(seed, str(c)) for c in out["customer_id"]]
    out["place"] = out.groupby("stratum")["draw"].rank(method="first").astype(int) - 1
    sizes = out.groupby("stratum")["customer_id"].transform("size").to_numpy()
    wanted = sizes * control_share
    rounding = np.array([_unit(seed, "stratum:" + s) for s in out["stratum"]])
    quota = np.floor(wanted + rounding)
    out["arm"] = np.where(out["place"].to_numpy() < quota, "control", "treated")
    return out.drop(columns=["draw", "place"])
