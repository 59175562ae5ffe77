"""A campaign with a known true effect, planted in the synthetic bank: each member
converts with a base rate, treated members with the base rate plus the planted
lift; each member's AUM drifts at random, treated members' by the planted AUM
lift more. What the results page estimates can then be checked against truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import select

from kequn.decide.simulate import OUTCOME_COLUMNS
from kequn.store import Store
from kequn.store.bulk import load_rows, update_column
from kequn.store.campaign_models import CampaignMember


@dataclass(frozen=True)
class PlantedEffect:
    base_rate: float = 0.05
    lift: float = 0.0
    aum_drift_sd: float = 20_000.0
    aum_lift: float = 0.0
    sale_amount: float = 50_000.0


def planted_outcomes(arms: pd.DataFrame, effect: PlantedEffect, seed: int) -> pd.DataFrame:
    """``arms``: customer_id, arm, aum_start. Returns sold, amount and aum_end per member."""
    rng = np.random.default_rng(seed)
    treated = (arms["arm"] == "treated").to_numpy()
    p = np.clip(effect.base_rate + effect.lift * treated, 0.0, 1.0)
    sold = rng.random(len(arms)) < p
    amount = np.where(sold, np.round(rng.lognormal(np.log(effect.sale_amount), 0.5, len(arms)), 2), 0.0)
    drift = rng.normal(0.0, effect.aum_drift_sd, len(arms)) + effect.aum_lift * treated
    start = arms["aum_start"].astype(float).to_numpy()
    return pd.DataFrame(
        {
            "customer_id": arms["customer_id"].to_numpy(),
            "arm": arms["arm"].to_numpy(),
            "sold": sold,
            "amount": amount,
            "aum_end": np.round(np.maximum(start + drift, 0.0), 2),
            "aum_start": start,
        }
    )


def plant_campaign_effect(
    ops: Store, campaign_id: str, effect: PlantedEffect, seed: int, at: datetime
) -> int:
    """Writes the planted sales as outcomes and the members' new AUM on their cards."""
    with ops.session() as s:
        members = s.execute(
            select(CampaignMember.customer_id, CampaignMember.arm, CampaignMember.aum_start).where(
                CampaignMember.campaign_id == campaign_id
            )
        ).all()
    arms = pd.DataFrame(members, columns=["customer_id", "arm", "aum_start"])
    out = planted_outcomes(arms, effect, seed)
    # a drift that would take AUM below zero is cut at zero: the planted AUM lift holds exactly
    # only where it is not; tests plant on members with AUM well above the drift
    sold = out[out["sold"]]
    with ops.engine.begin() as con:
        load_rows(
            con,
            "outcomes",
            OUTCOME_COLUMNS,
            [
                (
                    f"planted:{campaign_id}:{seed}:{r.customer_id}",
                    None,
                    r.customer_id,
                    "system:planted",
                    "campaign_offer",
                    "marketing",
                    None,
                    "sold",
                    None,
                    Decimal(str(r.amount)),
                    None,
                    None,
                    at,
                )
                for r in sold.itertuples()
            ],
        )
        update_column(
            con,
            "customers",
            "customer_id",
            "aum",
            [(r.customer_id, Decimal(str(r.aum_end))) for r in out.itertuples()],
        )
    return len(sold)
