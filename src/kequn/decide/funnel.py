"""The eligibility funnel: from proposals (a customer, an action, the trigger
that proposed it) to the pairs still alive after every rule, and the pairs each
stage dropped with the rule that dropped them.

The funnel is Ibis over a fixed set of input tables (``INPUTS``, each with its
schema): the nightly batch builds them for every customer on DuckDB or Spark,
a real-time event for its one customer in this process's in-memory DuckDB
(``kequn.rules.local``). Either way ``pairs`` joins them into one row per
proposal, and the stages, in the order of ``STAGES``, each split the pairs
they receive into kept and dropped. The rules themselves live in
``kequn.rules``; this module only says which stage applies which.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from kequn.pipeline.predicates import compile_node
from kequn.playbook import LoadedPlaybook
from kequn.playbook.columns import EVENT, SCOPES
from kequn.rules import STAGE_NAMES, rule
from kequn.rules import consent as consent_rules
from kequn.rules import contact as contact_rules
from kequn.rules import suitability as suit

STAGES = STAGE_NAMES
TS = dt.Timestamp(timezone="UTC")
_KIND = {"int": dt.int64, "float": dt.float64, "str": dt.string, "bool": dt.boolean, "date": dt.date}


@functools.cache
def fact_schema() -> ibis.Schema:
    """A customer's facts, as the funnel reads them: every column a trigger or an
    action's value may name (the event's fields NULL at night), the owner the
    decision settled on, and what suitability needs."""
    cols: dict[str, dt.DataType] = {
        "customer_id": dt.string,
        "at_bank": dt.boolean,
        "manager_id": dt.string,
        "manager_active": dt.boolean,
        "risk_assessed_on": dt.date,
    }
    for name, doc in SCOPES["trigger"].items():
        cols[name] = dt.Array(dt.string) if doc.type == "list" else _KIND[doc.type]
    return ibis.schema(cols)


#: the funnel's inputs and their shapes: one contract for every path
INPUTS: dict[str, ibis.Schema] = {
    "k_clock": ibis.schema({"now": TS, "day": dt.date}),
    "k_proposals": ibis.schema(
        {
            "customer_id": dt.string,
            "trigger": dt.string,
            "urgency": dt.float64,
            "action": dt.string,
            "campaign_id": dt.string,
            "campaign_channels": dt.Array(dt.string),
        }
    ),
    "k_actions": ibis.schema(
        {
            "action": dt.string,
            "kind": dt.string,
            "personalised": dt.boolean,
            "product_need": dt.string,
            "prior": dt.float64,
            "channels": dt.Array(dt.string),
        }
    ),
    "k_facts": fact_schema(),
    "k_offers": ibis.schema(
        {
            "customer_id": dt.string,
            "rank": dt.int64,
            "asset_class": dt.string,
            "product_id": dt.string,
            "product_name": dt.string,
            "product_type": dt.string,
            "product_risk": dt.int64,
            "closed": dt.boolean,
            "is_pension": dt.boolean,
            "term_days": dt.int64,
            "on_sale": dt.boolean,
            "expected_return": dt.float64,
        }
    ),
    "k_consent_events": ibis.schema(
        {"customer_id": dt.string, "purpose": dt.string, "granted": dt.boolean, "ts": TS}
    ),
    "k_prefs": ibis.schema(
        {"customer_id": dt.string, "do_not_contact": dt.boolean, "personalised_opt_out": dt.boolean}
    ),
    "k_history": ibis.schema(
        {"customer_id": dt.string, "action": dt.string, "kind": dt.string, "outcome": dt.string, "at": TS}
    ),
    "k_open": ibis.schema({"customer_id": dt.string, "action": dt.string}),
}
EVENT_COLUMNS = tuple(EVENT)
#: what a pair keeps of the customer's facts: the stages' inputs, the features
#: propensity reads, and what a task's talk track and schedule need
PAIR_BASE = (
    "customer_id",
    "trigger",
    "urgency",
    "action",
    "campaign_id",
    "campaign_channels",
    "kind",
    "personalised",
    "product_need",
    "prior",
    "channels",
    "value",
    "at_bank",
    "manager_id",
    "manager_active",
    "risk_level",
    "risk_assessed_on",
    "age",
    "liquid_reserve_months",
    "first_time_investor",
    "tier",
    "lifecycle",
    "life_stage",
    "aum_month_end",
    "health_score",
    "risk_valid",
    "segments",
    "occupation",
    "now",
    "day",
)


def facts_judged(pb: LoadedPlaybook) -> frozenset[str]:
    """The customer's facts the funnel reads under ``pb``: what its triggers and
    its actions' worth name, and what the stages after read of a pair
    (``PAIR_BASE``; ``pairs`` keeps nothing else of the facts). A path that reads
    one customer's profile for a decision reads these for the rules; what a
    task is written from (its talk track, the model's inputs) only for the
    customers left with a live pair."""
    found = _JUDGED.get(pb.digest)
    if found is None:
        named = {c for tr in pb.playbook.triggers for c in pb.expression("triggers", tr.name).columns}
        named |= {c for a in pb.playbook.actions for c in pb.expression("actions", a.name).columns}
        found = _JUDGED[pb.digest] = frozenset((named | set(PAIR_BASE)) & set(fact_schema()))
    return found


_JUDGED: dict[str, frozenset[str]] = {}


def action_rows(pb: LoadedPlaybook) -> list[dict[str, object]]:
    return [
        {
            "action": a.name,
            "kind": a.kind,
            "personalised": a.personalised,
            "product_need": a.product,
            "prior": float(a.prior),
            "channels": list(a.channels),
        }
        for a in pb.playbook.actions
    ]


@dataclass(frozen=True)
class Split:
    kept: ir.Table
    dropped: ir.Table  # the pairs' columns and ``stage``, ``rule``


#: a stage: the rule a pair breaks at it (NULL: the pair passes)
Stage = Callable[[ir.Table, LoadedPlaybook], ir.StringValue]


def split(pairs: ir.Table, name: str, pb: LoadedPlaybook) -> Split:
    """One stage applied alone: the pairs it keeps, and those it drops with the rule."""
    why = dict(SQL_STAGES)[name](pairs, pb)
    marked = pairs.mutate(_why=why)
    return Split(
        marked.filter(marked._why.isnull()).drop("_why"),
        marked.filter(marked._why.notnull()).mutate(stage=ibis.literal(name), rule=marked._why).drop("_why"),
    )


def _code(name: str, stage: str) -> ir.StringValue:
    r = rule(name)
    assert r.stage == stage, f"rule {name} belongs to {r.stage}, not {stage}"
    return ibis.literal(r.code)


def eligible(pairs: ir.Table, pb: LoadedPlaybook) -> ir.StringValue:
    """A customer still with the bank, whom someone owns, whose manager is still
    with the bank."""
    why = ibis.cases(
        (~pairs.at_bank.fill_null(False), _code("left_bank", "eligible")),
        (pairs.manager_id.isnull(), _code("unowned", "eligible")),
        (~pairs.manager_active.fill_null(False), _code("inactive_manager", "eligible")),
        else_=ibis.null("string"),
    )
    return why


def applicable(pairs: ir.Table, pb: LoadedPlaybook) -> ir.StringValue:
    """A customer who did not refuse personalised targeting, for marketing and
    personalised actions."""
    why = ibis.cases(
        (
            consent_rules.refused_personalisation(pairs, pairs.kind, pairs.personalised),
            _code("personalised_opt_out", "applicable"),
        ),
        else_=ibis.null("string"),
    )
    return why


def suitable(pairs: ir.Table, pb: LoadedPlaybook) -> ir.StringValue:
    """An action that offers a product has a suitable one for this customer today."""
    needs = pairs.product_need != "none"
    why = ibis.cases(
        (needs & pairs.product_id.isnull(), _code("no_suitable_product", "suitable")),
        (needs, pairs.broken_rule),
        else_=ibis.null("string"),
    )
    return why


def within_contact_policy(pairs: ir.Table, pb: LoadedPlaybook) -> ir.StringValue:
    """Do-not-contact, one open task per action, a channel the customer consented
    to, the marketing cap, suppression, snoozes and the pause after a contact."""
    policy = pb.playbook.contact
    s = "within_contact_policy"
    why = ibis.cases(
        (consent_rules.no_contact(pairs, pairs.kind), _code("do_not_contact", s)),
        (contact_rules.already_open(pairs), _code("already_open", s)),
        (pairs.allowed.length() == 0, _code("no_consent_for_channel", s)),
        (
            pairs.campaign_channels.notnull() & (pairs.channels_left.length() == 0),
            _code("no_consent_for_campaign_channel", s),
        ),
        (contact_rules.over_cap(pairs, pairs.kind, policy), _code("marketing_cap", s)),
        (contact_rules.suppressed(pairs, pairs.now), _code("suppressed", s)),
        (contact_rules.snoozed(pairs, pairs.now), _code("snoozed", s)),
        (contact_rules.contacted_recently(pairs, pairs.now), _code("contacted_recently", s)),
        else_=ibis.null("string"),
    )
    return why


#: the stages the funnel runs as SQL; arbitration and capacity follow in Python
SQL_STAGES: tuple[tuple[str, Stage], ...] = (
    ("eligible", eligible),
    ("applicable", applicable),
    ("suitable", suitable),
    ("within_contact_policy", within_contact_policy),
)


def _customer_side(f: ir.Table, pb: LoadedPlaybook) -> suit.CustomerSide:
    s = pb.playbook.suitability
    return suit.CustomerSide(
        risk_num=suit.risk_num(f.risk_level),
        valid=suit.assessment_valid(f.risk_level, f.risk_assessed_on, f.day, s),
        reserve_ok=suit.reserve_ok(f.liquid_reserve_months, s),
        pension_age_ok=suit.pension_age_ok(f.age, s),
        pension_paying_in=suit.pension_paying_in(f.age, s),
    )


def _product_side(o: ir.Table) -> suit.ProductSide:
    return suit.ProductSide(
        risk_num=o.product_risk,
        type=o.product_type,
        closed=o.closed,
        is_pension=o.is_pension,
        term_days=o.term_days,
        on_sale=o.on_sale,
    )


def pairs(t: dict[str, ir.Table], pb: LoadedPlaybook) -> ir.Table:
    """One row per proposal with everything every stage reads (``t``: INPUTS)."""
    s = pb.playbook.suitability
    policy = pb.playbook.contact
    clock = t["k_clock"]
    facts = t["k_facts"].cross_join(clock)
    p = t["k_proposals"].join(t["k_actions"], "action")
    p = p.join(facts, "customer_id")
    # each action's worth, by its own expression over the customer's facts
    p = p.mutate(
        value=ibis.coalesce(
            ibis.cases(
                *(
                    (
                        p.action == a.name,
                        compile_node(pb.expression("actions", a.name).tree, p).cast("float64"),
                    )
                    for a in pb.playbook.actions
                ),
                else_=ibis.null("float64"),
            ),
            0.0,
        )
    )
    p = p.select(*PAIR_BASE)
    # the product: the best-ranked suitable offer of the class the action needs;
    # when none is suitable, the best-ranked one, to say which rule it broke
    o = t["k_offers"]
    wants = p.select("customer_id", "action", "product_need", *_suit_inputs())
    wants = wants.filter(wants.product_need != "none")
    cand = wants.join(o, "customer_id")
    cand = cand.filter((cand.product_need == "any") | (cand.asset_class == cand.product_need))
    broke = suit.broken(_customer_side(cand, pb), _product_side(cand), s)
    dual = suit.dual_recording(cand.age, cand.first_time_investor, _product_side(cand), s)
    cand = cand.mutate(broken_rule=broke, dual_recording=dual)
    cand = cand.mutate(
        pick=ibis.row_number().over(
            group_by=[cand.customer_id, cand.action],
            order_by=[cand.broken_rule.notnull(), cand.rank, cand.product_id],
        )
    )
    best = cand.filter(cand.pick == 0).select(
        "customer_id",
        "action",
        "product_id",
        "product_name",
        "product_type",
        "product_risk",
        "is_pension",
        "term_days",
        "expected_return",
        "broken_rule",
        "dual_recording",
    )
    p = _with(p, best, ["customer_id", "action"])
    # the contact state: consents, preferences, history, open tasks
    p = _with(p, consent_rules.latest_consents(t["k_consent_events"]), ["customer_id"])
    p = _with(p, t["k_prefs"], ["customer_id"])
    history = t["k_history"]
    p = _with(p, contact_rules.recent_marketing(history, clock, policy), ["customer_id"])
    p = _with(p, contact_rules.paused(history, policy), ["customer_id", "action"])
    of = contact_rules.occasions(trigger.actions for trigger in pb.playbook.triggers)
    p = _with(
        p.mutate(occasion=contact_rules.occasion(p.action, of)),
        contact_rules.reached(history, policy, of),
        ["customer_id", "occasion"],
    ).drop("occasion")
    opened = t["k_open"].distinct().mutate(already_open=ibis.literal(True))
    p = _with(p, opened, ["customer_id", "action"])
    # the channels the customer allows for this action; dual recording means the branch
    channel_consent = pb.playbook.contact.channel_consent
    allowed = p.channels.filter(lambda ch: consent_rules.channel_allowed(p, p.kind, ch, channel_consent))
    allowed = ibis.ifelse(
        p.dual_recording.fill_null(False),
        ibis.array(["visit"]).filter(
            lambda ch: consent_rules.channel_allowed(p, p.kind, ch, channel_consent)
        ),
        allowed,
    )
    p = p.mutate(allowed=allowed)
    left = p.allowed.filter(lambda ch: p.campaign_channels.contains(ch))
    return p.mutate(channels_left=ibis.ifelse(p.campaign_channels.isnull(), p.allowed, left))


def _with(left: ir.Table, right: ir.Table, keys: list[str]) -> ir.Table:
    """``left`` with ``right``'s other columns, matched on ``keys`` (NULL where
    nothing matches)."""
    j = left.left_join(right, keys)
    return j.select(left, *(right[c] for c in right.columns if c not in keys))


def _suit_inputs() -> list[str]:
    return ["risk_level", "risk_assessed_on", "day", "age", "liquid_reserve_months", "first_time_investor"]


@dataclass(frozen=True)
class Funnel:
    alive: ir.Table
    dropped: ir.Table


def verdicts(t: dict[str, ir.Table], pb: LoadedPlaybook) -> ir.Table:
    """Every pair with the stage and rule that stopped it (both NULL: alive after
    the SQL stages). The stages apply in order: a pair is judged by a stage only
    if every stage before passed it, so the first rule broken is the one named."""
    p = pairs(t, pb)
    whys = [(name, stage(p, pb)) for name, stage in SQL_STAGES]
    return p.mutate(
        stage=ibis.cases(*((why.notnull(), name) for name, why in whys), else_=ibis.null("string")),
        rule=ibis.coalesce(*(why for _, why in whys)),
    )


def run(t: dict[str, ir.Table], pb: LoadedPlaybook) -> Funnel:
    """The SQL stages over ``pairs``: what is alive after them, and every pair
    dropped with its stage and rule."""
    v = verdicts(t, pb)
    return Funnel(v.filter(v.rule.isnull()), v.filter(v.rule.notnull()))


def proposals_for(
    facts: ir.Table, pb: LoadedPlaybook, extra: ir.Table | None = None, triggers: bool = True
) -> ir.Table:
    """Every action a trigger proposes for the customers of ``facts`` (the most
    urgent trigger kept for an action proposed twice), with ``extra`` proposals
    (campaign members, a tier handover) in the same shape."""
    parts = []
    if triggers:
        f = facts
        for tr in pb.playbook.triggers:
            hit = f.filter(compile_node(pb.expression("triggers", tr.name).tree, f).fill_null(False))
            for a in tr.actions:
                parts.append(
                    hit.select(
                        customer_id=hit.customer_id,
                        trigger=ibis.literal(tr.name),
                        urgency=ibis.literal(round(tr.urgency * 1000), type="int64").cast("float64") / 1000,
                        action=ibis.literal(a),
                        campaign_id=ibis.null("string"),
                        campaign_channels=ibis.null(dt.Array(dt.string)),
                    )
                )
    if extra is not None:
        parts.append(extra)
    if not parts:
        raise ValueError("nothing to propose")
    hits = ibis.union(*parts) if len(parts) > 1 else parts[0]
    ranked = hits.mutate(
        rn=ibis.row_number().over(
            group_by=[hits.customer_id, hits.action], order_by=[ibis.desc(hits.urgency), hits.trigger]
        )
    )
    return ranked.filter(ranked.rn == 0).drop("rn")
