"""The nightly eligibility funnel in SQL, every customer at once: which pairs of
customer and action are eligible, applicable, suitable and within the contact
policy, and why each one that is not, is not. The rules are those of
``decide.policy``; a property test holds this SQL to them."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import ibis
import pandas as pd

from kequn.decide.policy import CONTACTED, REJECTED
from kequn.ingest.sql import literal
from kequn.pipeline.predicates import compile_node
from kequn.playbook import LoadedPlaybook

STAGES = ("eligible", "applicable", "suitable", "within_contact_policy", "arbitrated", "within_capacity")


def _in(values: frozenset[str] | tuple[str, ...]) -> str:
    return ", ".join(literal(v) for v in sorted(values))


def register_playbook(duck: duckdb.DuckDBPyConnection, pb: LoadedPlaybook) -> None:
    actions = pd.DataFrame(
        [
            {
                "action": a.name,
                "kind": a.kind,
                "personalised": a.personalised,
                "product": a.product,
                "prior": a.prior,
                "channels": list(a.channels),
            }
            for a in pb.playbook.actions
        ]
    )
    mapping = pd.DataFrame(
        [
            {"trigger": t.name, "action": a, "urgency": t.urgency}
            for t in pb.playbook.triggers
            for a in t.actions
        ]
    )
    consent = pd.DataFrame(
        [{"channel": c, "purpose": p} for c, p in pb.playbook.contact.channel_consent.items()]
    )
    for name, frame in (
        ("k_actions", actions),
        ("k_trigger_actions", mapping),
        ("k_channel_consent", consent),
    ):
        duck.register(f"{name}_df", frame)
        duck.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_df")
        duck.unregister(f"{name}_df")


def action_values(duck: duckdb.DuckDBPyConnection, profiles: str, pb: LoadedPlaybook) -> None:
    """k_values(customer_id, action, value): each action's worth for the customers
    it was proposed to, by the action's own expression."""
    con = ibis.duckdb.from_connection(duck)
    schema, table = profiles.split(".")
    p = con.table(table, database=schema)
    pairs = con.table("k_hits")
    parts = []
    for a in pb.playbook.actions:
        mine = p.semi_join(pairs.filter(pairs.action == a.name), "customer_id")
        value = compile_node(pb.expression("actions", a.name).tree, mine)
        parts.append(
            mine.select(
                customer_id=mine.customer_id,
                action=ibis.literal(a.name),
                value=ibis.coalesce(value.cast("float64"), 0.0),
            )
        )
    sql = con.compile(ibis.union(*parts))
    duck.execute(f"CREATE OR REPLACE TEMP TABLE k_values AS {sql}")


def build_pairs(
    duck: duckdb.DuckDBPyConnection,
    run_schema: str,
    snapshot_schema: str,
    pb: LoadedPlaybook,
    now: datetime,
    triggers: bool = True,
) -> None:
    """Creates k_pairs: one row per customer and proposed action, with the stage it
    stopped at (NULL: passed the contact policy) and the channels allowed.

    Expects the temp tables k_owner(customer_id, manager_id), k_handover(customer_id),
    k_prefs(customer_id, do_not_contact, personalised_opt_out),
    k_consent_ops(customer_id, purpose, granted, ts), k_history(customer_id, action,
    kind, outcome, at) and k_open(customer_id, action); k_campaign_hits(customer_id,
    trigger, urgency, action, channels) adds campaigns' treated members (its trigger
    "campaign:<id>", its channels a subset of the action's). ``triggers=False``
    decides on the campaign pairs alone."""
    c = pb.playbook.contact
    ensure_campaign_hits(duck)
    proposed = (
        f"""SELECT t.customer_id, t.trigger, t.urgency, m.action
            FROM {run_schema}.triggers t JOIN k_trigger_actions m USING (trigger)
            UNION ALL
            SELECT customer_id, 'handover', 0.6, 'handover_intro' FROM k_handover
            UNION ALL"""
        if triggers
        else ""
    )
    duck.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_hits AS
        WITH hits AS (
            {proposed}
            SELECT customer_id, trigger, urgency, action FROM k_campaign_hits),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY customer_id, action
                                         ORDER BY urgency DESC, trigger) AS rn
            FROM hits)
        SELECT customer_id, trigger, urgency, action FROM ranked WHERE rn = 1""")
    action_values(duck, f"{run_schema}.profiles", pb)
    since_cap = now - timedelta(days=c.cap_days)
    snooze = timedelta(days=c.snooze_days)
    ts = "TIMESTAMPTZ"
    duck.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_consent AS
        WITH all_events AS (
            SELECT customer_id, purpose, granted, ts FROM {snapshot_schema}.consents
            UNION ALL
            SELECT customer_id, purpose, granted, ts FROM k_consent_ops),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY customer_id, purpose ORDER BY ts DESC)
                AS rn FROM all_events
            WHERE customer_id IN (SELECT customer_id FROM k_hits))
        SELECT customer_id, purpose, granted FROM ranked WHERE rn = 1""")
    duck.execute("""
        CREATE OR REPLACE TEMP TABLE k_allowed AS
        WITH opts AS (
            SELECT h.customer_id, h.action, a.kind, u.channel, u.pos
            FROM k_hits h JOIN k_actions a USING (action),
                 unnest(a.channels) WITH ORDINALITY AS u(channel, pos))
        SELECT o.customer_id, o.action,
               list(o.channel ORDER BY o.pos) FILTER (
                   WHERE CASE WHEN o.kind = 'marketing' THEN coalesce(g.granted, FALSE)
                              ELSE coalesce(g.granted, TRUE) END) AS channels
        FROM opts o LEFT JOIN k_channel_consent cc USING (channel)
        LEFT JOIN k_consent g ON g.customer_id = o.customer_id AND g.purpose = cc.purpose
        GROUP BY ALL""")
    k = c.suppress_after
    duck.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_pause AS
        WITH rejected AS (
            SELECT customer_id, action, "at",
                   lag("at", {k - 1}) OVER (PARTITION BY customer_id, action ORDER BY "at")
                       AS first_at
            FROM k_history WHERE outcome IN ({_in(REJECTED)}))
        SELECT customer_id, action, max("at") + INTERVAL {c.suppress_days} DAY AS until
        FROM rejected
        WHERE first_at IS NOT NULL AND "at" - first_at <= INTERVAL {c.suppress_window_days} DAY
        GROUP BY ALL""")
    duck.execute(f"""
        CREATE OR REPLACE TEMP TABLE k_pairs AS
        WITH recent AS (
            SELECT customer_id, count(*) AS n FROM k_history
            WHERE kind = 'marketing' AND outcome IN ({_in(CONTACTED)})
              AND "at" >= {ts} '{since_cap.isoformat()}'
            GROUP BY 1),
        snoozed AS (
            SELECT customer_id, action, max("at") AS last FROM k_history
            WHERE outcome = 'maybe_later' GROUP BY ALL),
        recs AS (
            SELECT r.customer_id, r.product_id, r.product_name, r.asset_class, r.rank,
                   r.expected_return, r.is_pension, r.dual_recording,
                   coalesce(d.term_days, d.lockup_days) AS term_days
            FROM {run_schema}.recommendations r
            JOIN {snapshot_schema}.products d USING (product_id)),
        consents AS (
            SELECT customer_id,
                   bool_or(purpose = 'personalised_recommendation' AND NOT granted) AS refused
            FROM k_consent GROUP BY 1)
        SELECT h.customer_id, h.trigger, h.action, h.urgency, a.kind, a.personalised,
               a.product, a.prior, o.manager_id, v.value, p.tier, p.lifecycle, p.life_stage,
               p.age, p.aum_month_end, p.health_score, p.risk_valid, p.segments, p.occupation,
               rec.product_id, rec.product_name, rec.expected_return, rec.is_pension,
               rec.term_days, coalesce(rec.dual_recording, FALSE) AS dual_recording,
               CASE WHEN coalesce(rec.dual_recording, FALSE)
                    THEN (CASE WHEN CASE WHEN a.kind = 'marketing' THEN coalesce(vg.granted, FALSE)
                                         ELSE coalesce(vg.granted, TRUE) END
                               THEN ['visit'] ELSE [] END)
                    ELSE coalesce(al.channels, []) END AS channels,
               CASE
                 WHEN o.manager_id IS NULL THEN 'applicable:unowned'
                 WHEN (coalesce(pr.personalised_opt_out, FALSE) OR coalesce(cs.refused, FALSE))
                      AND (a.kind = 'marketing' OR a.personalised)
                   THEN 'applicable:personalised_opt_out'
                 WHEN a.product <> 'none' AND rec.product_id IS NULL
                   THEN 'applicable:no_suitable_product'
                 WHEN coalesce(pr.do_not_contact, FALSE) AND a.kind <> 'compliance'
                   THEN 'within_contact_policy:do_not_contact'
                 WHEN op.action IS NOT NULL THEN 'within_contact_policy:already_open'
                 WHEN len(CASE WHEN coalesce(rec.dual_recording, FALSE)
                               THEN (CASE WHEN CASE WHEN a.kind = 'marketing'
                                                    THEN coalesce(vg.granted, FALSE)
                                                    ELSE coalesce(vg.granted, TRUE) END
                                          THEN ['visit'] ELSE [] END)
                               ELSE coalesce(al.channels, []) END) = 0
                   THEN 'within_contact_policy:no_consent_for_channel'
                 WHEN a.kind = 'marketing' AND coalesce(rc.n, 0) >= {c.marketing_cap}
                   THEN 'within_contact_policy:marketing_cap'
                 WHEN pa.until > {ts} '{now.isoformat()}'
                   THEN 'within_contact_policy:suppressed'
                 WHEN sz.last + INTERVAL {snooze.days} DAY > {ts} '{now.isoformat()}'
                   THEN 'within_contact_policy:snoozed'
               END AS dropped
        FROM k_hits h
        JOIN k_actions a USING (action)
        JOIN {run_schema}.profiles p USING (customer_id)
        LEFT JOIN k_owner o USING (customer_id)
        LEFT JOIN k_values v USING (customer_id, action)
        LEFT JOIN k_allowed al USING (customer_id, action)
        LEFT JOIN k_prefs pr USING (customer_id)
        LEFT JOIN consents cs USING (customer_id)
        LEFT JOIN k_open op USING (customer_id, action)
        LEFT JOIN recent rc USING (customer_id)
        LEFT JOIN k_pause pa USING (customer_id, action)
        LEFT JOIN snoozed sz USING (customer_id, action)
        LEFT JOIN (
            SELECT * FROM recs r JOIN k_actions x ON x.product <> 'none'
                 AND (x.product = 'any' OR x.product = r.asset_class)
            QUALIFY row_number() OVER (PARTITION BY r.customer_id, x.action ORDER BY r.rank) = 1
        ) rec ON rec.customer_id = h.customer_id AND rec.action = h.action
        LEFT JOIN k_consent vg ON vg.customer_id = h.customer_id AND vg.purpose = (
            SELECT purpose FROM k_channel_consent WHERE channel = 'visit')""")
    # a campaign contacts only through its own channels, a subset of the action's
    duck.execute("""
        CREATE OR REPLACE TEMP TABLE k_pairs AS
        SELECT p.* REPLACE (
                   CASE WHEN ch.channels IS NULL THEN p.channels
                        ELSE list_filter(p.channels, lambda x: list_contains(ch.channels, x)) END
                       AS channels,
                   CASE WHEN p.dropped IS NULL AND ch.channels IS NOT NULL
                             AND len(list_filter(p.channels, lambda x: list_contains(ch.channels, x))) = 0
                        THEN 'within_contact_policy:no_consent_for_campaign_channel'
                        ELSE p.dropped END AS dropped)
        FROM k_pairs p LEFT JOIN k_campaign_hits ch USING (customer_id, trigger, action)""")


def ensure_campaign_hits(duck: duckdb.DuckDBPyConnection) -> None:
    """An empty k_campaign_hits when no campaign was loaded."""
    duck.execute("""
        CREATE TEMP TABLE IF NOT EXISTS k_campaign_hits (
            customer_id VARCHAR, trigger VARCHAR, urgency DOUBLE, action VARCHAR, channels VARCHAR[])""")
