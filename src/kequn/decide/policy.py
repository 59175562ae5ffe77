"""Contact policy as pure functions over one customer's consents, preferences
and contact history. The real-time path calls them directly; the nightly batch
applies the same rules in SQL, and a property test holds the two together."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kequn.playbook.model import Action, ContactPolicy
from kequn.privacy import consent as consent_rules

#: outcomes that mean the customer was contacted (they count against the cap)
CONTACTED = frozenset(
    {"reached", "interested", "declined", "sold", "maybe_later", "complaint", "ignored", "do_not_contact"}
)
#: outcomes that count towards pausing an action
REJECTED = frozenset({"ignored", "declined"})


@dataclass(frozen=True, slots=True)
class PastContact:
    action: str
    kind: str
    outcome: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ContactState:
    """What the policy needs to know about one customer."""

    consents: dict[str, bool] = field(default_factory=dict)  # purpose -> latest grant
    do_not_contact: bool = False
    personalised_opt_out: bool = False
    history: tuple[PastContact, ...] = ()
    open_actions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    stage: str  # the stage the pair did not pass, or "within_contact_policy"
    reason: str
    channel: str | None = None


def opted_out(state: ContactState) -> bool:
    return consent_rules.opted_out(state.consents, state.personalised_opt_out)


def applicable(action: Action, state: ContactState) -> Verdict:
    if opted_out(state) and (action.kind == "marketing" or action.personalised):
        return Verdict(False, "applicable", "personalised_opt_out")
    return Verdict(True, "applicable", "")


def allowed_channels(action: Action, state: ContactState, policy: ContactPolicy) -> list[str]:
    """Marketing needs the channel's consent granted; service and compliance go
    through any channel the customer has not refused."""
    return [
        channel
        for channel in action.channels
        if consent_rules.channel_allowed(action.kind, channel, state.consents, policy.channel_consent)
    ]


def suppressed_until(action: str, state: ContactState, policy: ContactPolicy) -> datetime | None:
    """The end of the latest pause: ``suppress_after`` rejections of the action
    within ``suppress_window_days`` pause it for ``suppress_days`` from the last."""
    rejected = sorted(c.at for c in state.history if c.action == action and c.outcome in REJECTED)
    k = policy.suppress_after
    until: datetime | None = None
    for i in range(k - 1, len(rejected)):
        if rejected[i] - rejected[i - k + 1] <= timedelta(days=policy.suppress_window_days):
            end = rejected[i] + timedelta(days=policy.suppress_days)
            until = end if until is None else max(until, end)
    return until


def contact_policy(
    action: Action,
    state: ContactState,
    policy: ContactPolicy,
    now: datetime,
    forced_channel: str | None = None,
) -> Verdict:
    """The first contact rule this customer-action pair breaks, or the channel to use."""
    stage = "within_contact_policy"
    if state.do_not_contact and action.kind != "compliance":
        return Verdict(False, stage, "do_not_contact")
    if action.name in state.open_actions:
        return Verdict(False, stage, "already_open")
    if forced_channel is not None:
        # dual recording: the sale happens in the branch, with the branch channel's consent
        channels = allowed_channels(action.model_copy(update={"channels": [forced_channel]}), state, policy)
    else:
        channels = allowed_channels(action, state, policy)
    if not channels:
        return Verdict(False, stage, "no_consent_for_channel")
    if action.kind == "marketing":
        since = now - timedelta(days=policy.cap_days)
        recent = sum(
            1 for c in state.history if c.kind == "marketing" and c.at >= since and c.outcome in CONTACTED
        )
        if recent >= policy.marketing_cap:
            return Verdict(False, stage, "marketing_cap")
    until = suppressed_until(action.name, state, policy)
    if until is not None and now < until:
        return Verdict(False, stage, "suppressed")
    mine = sorted((c for c in state.history if c.action == action.name), key=lambda c: c.at)
    later = [c for c in mine if c.outcome == "maybe_later"]
    if later and now < later[-1].at + timedelta(days=policy.snooze_days):
        return Verdict(False, stage, "snoozed")
    return Verdict(True, stage, "", channels[0])
