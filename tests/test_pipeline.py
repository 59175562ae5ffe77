"""The customer pipeline on the small synthetic bank (DuckDB)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest

from kequn import warehouse
from kequn.ingest.derived import HELD_LISTS
from kequn.ingest.store import schema_for
from kequn.pipeline import groups, run_pipeline, runs
from kequn.pipeline.catalog import list_runs, run_file
from kequn.pipeline.classify import tiers
from kequn.pipeline.engines import DuckDBEngine
from kequn.pipeline.health import counted_weights, portfolio_rows
from kequn.pipeline.health_texts import diagnoses
from kequn.pipeline.profile import build, published
from kequn.pipeline.run import pick_snapshot
from kequn.pipeline.texts import CLASS_ZH
from kequn.playbook import load_playbook
from kequn.playbook.columns import CLASSIFICATIONS, FEATURES
from kequn.playbook.model import ASSET_CLASSES, BANDS, HEALTH_COMPONENTS, MAY_BE_UNKNOWN, UNKNOWN_BAND
from kequn.warehouse import copy_store
from tests.law import needs_dual_recording, violations

from .conftest import SMALL, read


def read_worded(store: Path, sql: str) -> list[tuple[object, ...]]:
    """``sql`` over the store, its ``profiles`` with each component's finding and
    advice (``finding_*``, ``action_*``) as the customer's page words them."""
    pb = load_playbook()
    con = warehouse.reader(store, "all")
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    try:
        cur = con.execute("SELECT * FROM profiles")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        for row in rows:
            worded = diagnoses(row, pb)
            for c in HEALTH_COMPONENTS:
                said = worded[c]
                row[f"finding_{c}"], row[f"action_{c}"] = (
                    (str(said[0]), str(said[1])) if said else (None, None)
                )
        worded = pa.Table.from_pylist(rows)
        con.register("worded_profiles", worded)
        return con.execute(re.sub(r"\bprofiles\b", "worded_profiles", sql)).fetchall()
    finally:
        con.close()


def test_every_customer_has_one_profile(run_store: Path) -> None:
    assert read(run_store, "SELECT count(*), count(DISTINCT customer_id) FROM profiles") == [(SMALL, SMALL)]


def test_every_customer_has_a_health_score_with_every_component_explained(run_store: Path) -> None:
    def bands(component: str) -> tuple[str, ...]:
        return (*BANDS, UNKNOWN_BAND) if component in MAY_BE_UNKNOWN else BANDS

    # a component without a score is one that could not be judged, and says so
    checks = " OR ".join(
        f"(health_{c} IS NULL) <> (band_{c} = '{UNKNOWN_BAND}') OR health_{c} NOT BETWEEN 0 AND 100 "
        f"OR coalesce(finding_{c}, '') = '' OR coalesce(action_{c}, '') = '' OR band_{c} NOT IN {bands(c)} "
        f"OR finding_{c} LIKE '%{{%'"
        for c in HEALTH_COMPONENTS
    )
    assert read_worded(
        run_store, f"SELECT count(*) FROM profiles WHERE health_score IS NULL OR {checks}"
    ) == [(0,)]
    # the score is the weighted mean of the components judged, worked out again
    # in Decimal from the published sub-scores
    weights = load_playbook().playbook.health.weights
    rows = read(run_store, f"SELECT health_score, {', '.join(f'health_{c}' for c in weights)} FROM profiles")
    unjudged = 0
    for score, *subs in rows:
        judged = [
            (Decimal(str(w)), Decimal(str(v)))
            for w, v in zip(weights.values(), subs, strict=True)
            if v is not None
        ]
        unjudged += len(judged) < len(weights)
        expected = sum(w * v for w, v in judged) / sum(w for w, _ in judged)
        assert abs(Decimal(str(score)) - expected) <= Decimal("0.05"), (score, subs)
    assert unjudged, "the small bank has customers with a component that cannot be judged"


def test_a_component_that_cannot_be_judged_counts_neither_way(run_store: Path) -> None:
    """15 points of a customer's score once came from a liquidity "100" beside
    "no spending to count a reserve in". A component that cannot be judged now
    counts neither as full nor as nothing: the score lies strictly between the
    two (unless the judged ones are all but 0 or all but 100); and the shares the
    customer's page shows (``counted_weights``) add the judged components'
    points up to the score."""
    weights = load_playbook().playbook.health.weights
    rows = read(run_store, f"SELECT health_score, {', '.join(f'health_{c}' for c in weights)} FROM profiles")
    seen = 0
    for score, *subs in rows:
        scores = dict(zip(weights, subs, strict=True))
        if all(v is not None for v in subs):
            continue
        shares = counted_weights(weights, scores)
        assert {c for c, w in shares.items() if w is None} == {c for c, v in scores.items() if v is None}
        assert abs(sum(w for w in shares.values() if w is not None) - 1) < 1e-9
        assert abs(sum(v * shares[c] for c, v in scores.items() if v is not None) - score) <= 0.05 + 1e-9
        as_nothing = sum(weights[c] * (v if v is not None else 0.0) for c, v in scores.items())
        as_full = sum(weights[c] * (v if v is not None else 100.0) for c, v in scores.items())
        if not 1 <= score <= 99:
            continue  # all but nothing, or all but full, either way
        assert as_nothing + 0.05 < score < as_full - 0.05, (score, scores)
        seen += 1
    assert seen > 100


def test_growth_that_cannot_be_judged_says_so_and_is_not_called_steady(run_store: Path) -> None:
    """A customer with no assets before the period has no growth to judge: the
    finding says so (not "moved —%, a steady pace"), there is no score, and a
    customer whose growth is known is judged on it."""
    pb = load_playbook()
    unknown = pb.playbook.health.texts["growth"][UNKNOWN_BAND]
    rows = read_worded(
        run_store,
        "SELECT aum_growth IS NULL, band_growth, finding_growth, action_growth, health_growth, count(*) "
        "FROM profiles GROUP BY ALL",
    )
    unjudged = [r for r in rows if r[0]]
    judged = [r for r in rows if not r[0]]
    assert unjudged and judged, "the small bank has customers of both kinds"
    assert {(r[1], r[2], r[3], r[4]) for r in unjudged} == {
        (UNKNOWN_BAND, unknown.finding, unknown.action, None)
    }
    assert {r[1] for r in judged} <= set(BANDS)
    assert not [r for r in rows if "—" in r[2]]


def test_risk_match_without_a_valid_assessment_is_not_called_matched(run_store: Path) -> None:
    """A customer with no valid risk assessment is never told their holdings
    "match" their tolerance and to re-assess "before it expires": where the
    score would be good, the finding says there is no valid assessment and how
    much of the money needs one. A customer with a valid assessment is judged
    on it; money held above it without one still marks the score down."""
    pb = load_playbook()
    h = pb.playbook.health
    unknown = h.texts["risk_match"][UNKNOWN_BAND]
    rows = read_worded(
        run_store,
        "SELECT risk_valid, round(above_risk_share * 100)::INT, band_risk_match, finding_risk_match, "
        "action_risk_match, health_risk_match FROM profiles",
    )
    unassessed = [r for r in rows if not r[0]]
    assessed = [r for r in rows if r[0]]
    assert assessed and [r for r in unassessed if r[1] == 0] and [r for r in unassessed if r[1] > 0]
    for _valid, pct, band, finding, action, score in unassessed:
        if score is None:
            assert (band, finding, action) == (
                UNKNOWN_BAND,
                unknown.finding.replace("{above_risk_pct}", str(pct)),
                unknown.action,
            )
        else:
            # money held above the level without an assessment: judged on it
            assert band in ("poor", "fair") and score < h.good_from
    assert {r[2] for r in assessed} <= set(BANDS)
    assert {r[3] for r in assessed if r[2] == "good"} == {h.texts["risk_match"]["good"].finding}


def test_a_maturity_ladder_that_is_not_there_is_not_called_well_spread(run_store: Path) -> None:
    """A customer with fewer than two fixed-term holdings (the 360 showed "到期分布均衡"
    to one who held only demand deposits) is told there is no ladder to judge;
    one with two or more is judged on how their maturities bunch."""
    pb = load_playbook().playbook
    texts = pb.health.texts["maturity"]
    assets = ", ".join(f"'{t}'" for t in pb.aum_product_types)
    rows = read_worded(
        run_store,
        "SELECT h.n < 2, p.band_maturity, p.finding_maturity, p.action_maturity, p.health_maturity, count(*) "
        "FROM profiles p LEFT JOIN (SELECT customer_id, count(*) AS n FROM holdings JOIN products "
        f"USING (product_id) WHERE type IN ({assets}) AND maturity_date IS NOT NULL AND balance > 0 "
        "GROUP BY ALL) h USING (customer_id) GROUP BY ALL",
    )
    few = [r for r in rows if r[0] is None or r[0]]
    ladders = [r for r in rows if r[0] is False]
    assert few and ladders, "the small bank has customers of both kinds"
    assert {r[1:5] for r in few} == {
        (UNKNOWN_BAND, texts[UNKNOWN_BAND].finding, texts[UNKNOWN_BAND].action, None)
    }
    assert {r[1] for r in ladders} <= set(BANDS)


def test_protection_is_not_weighed_against_family_needs_past_the_age_cover_is_bought(
    run_store: Path,
) -> None:
    """A customer of 71 with no cover was told "保障偏低，结合家庭责任补充重疾、医疗保障";
    from ``protection_until_age`` the finding says cover is not measured against
    the family's needs, and younger customers are judged as ever."""
    h = load_playbook().playbook.health
    texts = h.texts["protection"]
    rows = read_worded(
        run_store,
        f"SELECT age >= {h.protection_until_age}, band_protection, finding_protection, action_protection, "
        "protection_amount, health_protection, count(*) FROM profiles GROUP BY ALL",
    )
    old = [r for r in rows if r[0]]
    young = [r for r in rows if not r[0]]
    assert old and young, "the small bank has customers of both kinds"
    assert all(r[5] is not None for r in young)
    for _, band, finding, action, amount, score, _n in old:
        assert band == UNKNOWN_BAND and action == texts[UNKNOWN_BAND].action and score is None
        assert finding == texts[UNKNOWN_BAND].finding.replace(
            "{protection_wan}",
            str((Decimal(str(amount)) / 10_000).quantize(Decimal("0.1"), ROUND_HALF_UP)),
        ), finding
        assert "重疾" not in finding + action and "偏低" not in finding
    assert {r[1] for r in young} <= set(BANDS)


def test_no_individual_pension_is_offered_past_the_age_it_is_paid_into(run_store: Path) -> None:
    """个人养老金 is paid into until the basic pension is drawn: a retiree of 71 was
    offered a ten-year 个人养老金储蓄; younger customers are still offered it."""
    until = load_playbook().playbook.suitability.individual_pension_until_age
    rows = read(
        run_store,
        f"SELECT p.age >= {until}, count(*) FROM recommendations r JOIN profiles p USING (customer_id) "
        "WHERE r.product_type = 'individual_pension' GROUP BY ALL",
    )
    by = dict(rows)
    assert by.get(True, 0) == 0
    assert by.get(False, 0) > 0, "the small bank offers it to younger customers"


def test_a_reserve_is_not_counted_in_months_of_no_spending(run_store: Path) -> None:
    """A customer who spent nothing over the period (the 360 told a dormant one
    "流动资产可覆盖99.0个月支出") is told the reserve cannot be counted in months;
    one who spent is judged in months of their own spending."""
    texts = load_playbook().playbook.health.texts["liquidity"]
    rows = read_worded(
        run_store,
        "SELECT spend_monthly > 0, band_liquidity, finding_liquidity, action_liquidity, health_liquidity, "
        "count(*) FROM profiles GROUP BY ALL",
    )
    assert all(r[4] is None for r in rows if not r[0]) and all(r[4] is not None for r in rows if r[0])
    idle = {r[1:4] for r in rows if not r[0]}
    spent = [r for r in rows if r[0]]
    assert idle == {(UNKNOWN_BAND, texts[UNKNOWN_BAND].finding, texts[UNKNOWN_BAND].action)}
    assert spent and {r[1] for r in spent} <= set(BANDS)
    assert all("个月支出" in r[2] for r in spent)
    assert not any("99.0个月" in r[2] for r in rows)
    many = read_worded(
        run_store,
        "SELECT count(*) FILTER (WHERE finding_liquidity LIKE '%99+个月%'), "
        "count(*) FILTER (WHERE liquid_reserve_months >= 99 AND spend_monthly > 0) FROM profiles",
    )
    assert many[0][0] == many[0][1]


def test_the_pipeline_computes_every_column_a_rule_may_name(bank_store: Path) -> None:
    pb = load_playbook()
    snapshot = pick_snapshot(bank_store, None)
    con = warehouse.reader(bank_store, "all")
    eng = DuckDBEngine(con)
    inputs = eng.inputs(snapshot, None, portfolio_rows(pb), pb.playbook.window_months)
    kept: dict[str, ibis.Table] = {}

    def keep(name: str, expr: ibis.Table, frees: tuple[str, ...] = ()) -> ibis.Table:
        kept[name] = expr
        return expr

    build(inputs, pb, keep)
    # the features are computed inside the profiles' step, which publishes them
    assert set(kept) == {"profiles", "picks"}
    assert set(FEATURES) <= set(kept["profiles"].columns)
    assert set(CLASSIFICATIONS) <= set(kept["profiles"].columns)
    con.close()


def test_the_run_holds_only_the_kept_steps_a_later_step_reads(bank_store: Path, tmp_path: Path) -> None:
    """The run keeps the profiles (they carry every figure read after) and the
    recommendations' picks, and nothing else, on the first run and on a replay
    of its SQL; a run being published keeps its profiles in its own file, and
    its memory holds the picks alone."""
    pb = load_playbook()
    snapshot = pick_snapshot(bank_store, None)

    def held(con: object) -> set[str]:
        rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()  # type: ignore[attr-defined]
        return {r[0] for r in rows if r[0].startswith("_kequn_")}

    con = warehouse.reader(bank_store, "all")
    eng = DuckDBEngine(con)
    inputs = eng.inputs(snapshot, None, portfolio_rows(pb), pb.playbook.window_months)
    outputs = eng.outputs(build(inputs, pb, eng.keep))
    assert held(con) == {"_kequn_profiles", "_kequn_picks"}
    first = {name: con.execute(f"SELECT count(*) FROM {sql}").fetchone() for name, sql in outputs.items()}
    con.close()

    store = copy_store(bank_store, tmp_path / "bank.duckdb")
    con = warehouse.reader(store, "all")
    again = DuckDBEngine(con)
    again.inputs(snapshot, None, portfolio_rows(pb), pb.playbook.window_months)
    with run_file(con, store, "20990101_01", snapshot.as_of) as made:
        again.publish_into(made.name)
        replayed = again.replay(eng.compiled(), lambda name: None)
        assert held(con) == {"_kequn_picks"}
        assert again.written == {"profiles"}
        in_file = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [made.name]
        ).fetchall()
        assert in_file == [("profiles",)]
        assert {
            name: con.execute(f"SELECT count(*) FROM {sql}").fetchone() for name, sql in replayed.items()
        } == first
    con.close()


def test_each_join_of_the_run_builds_on_the_side_its_expression_puts_right(bank_store: Path) -> None:
    """Not offered what they hold: the picks' anti-join hashes the holdings' two
    codes and streams the candidate picks past them, rather than hashing the
    picks' dozen columns (where DuckDB's own choice, by its underestimate of
    the picks, put them at 1,000,000 customers)."""
    pb = load_playbook()
    snapshot = pick_snapshot(bank_store, None)
    con = warehouse.reader(bank_store, "all")
    try:
        eng = DuckDBEngine(con)
        inputs = eng.inputs(snapshot, None, portfolio_rows(pb), pb.playbook.window_months)
        build(inputs, pb, eng.keep)
        picks = next(sql for name, sql, _ in eng.steps if name == "picks")
        plan = json.loads(con.execute(f"EXPLAIN (FORMAT json) {picks}").fetchall()[0][1])
    finally:
        con.close()

    def joins(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if "JOIN" in node.get("name", ""):
            yield node
        for child in node.get("children", []):
            yield from joins(child)

    def scans(node: dict[str, Any]) -> set[str]:
        here = {str(node.get("extra_info", {}).get("Table", ""))} - {""}
        return here.union(*(scans(c) for c in node.get("children", [])))

    anti = [j for p in plan for j in joins(p) if "ANTI" in j["extra_info"].get("Join Type", "")]
    assert [j["extra_info"]["Join Type"] for j in anti] == ["ANTI"]
    # a hash join's second child is the side it builds on
    built = anti[0]["children"][1]
    assert scans(built) == {f"{snapshot.schema}.main.holdings"}, scans(built)


def test_tiers_follow_the_ladder_on_the_first_run(run_store: Path) -> None:
    pb = load_playbook()
    lines = {t.name: t.min_aum for t in pb.playbook.tiers.ladder}
    ladder = list(lines)
    for i, name in enumerate(ladder):
        upper = f"AND aum < {lines[ladder[i - 1]]}" if i else ""
        bad = read(
            run_store,
            f"SELECT count(*) FROM profiles WHERE tier = '{name}' AND NOT (aum >= {lines[name]} {upper})",
        )
        assert bad == [(0,)], name
    shares = dict(read(run_store, "SELECT tier, count(*) / sum(count(*)) OVER () FROM profiles GROUP BY 1"))
    assert 0.6 < shares["mass"] < 0.85
    assert read(run_store, "SELECT DISTINCT tier_move FROM profiles") == [("new",)]


def _tier(rows: list[dict[str, object]]) -> list[tuple[str, str, bool]]:
    pb = load_playbook()
    con = ibis.duckdb.connect()
    t = con.create_table(
        "t", ibis.memtable(rows, schema={"aum": "float64", "aum_x": "decimal(18,2)", "prev_tier": "string"})
    )
    out = con.execute(tiers(t, pb).select("tier", "tier_move", "near_threshold"))
    return list(out.itertuples(index=False, name=None))


def test_hysteresis_keeps_a_tier_until_five_percent_below_its_line() -> None:
    rows = [
        {"aum": 195_000.0, "aum_x": 195_000, "prev_tier": "affluent"},  # 2.5% below: keeps it
        {"aum": 185_000.0, "aum_x": 185_000, "prev_tier": "affluent"},  # 7.5% below: drops
        {"aum": 1_010_000.0, "aum_x": 1_010_000, "prev_tier": "affluent"},  # moves up at once
        {"aum": 185_000.0, "aum_x": 185_000, "prev_tier": "mass_affluent"},
        {"aum": 150_000.0, "aum_x": 150_000, "prev_tier": None},
    ]
    assert _tier(rows) == [
        ("affluent", "same", False),
        ("mass_affluent", "down", True),
        ("wealth", "up", False),
        ("mass_affluent", "same", True),
        ("mass_affluent", "new", False),
    ]


def test_recommendations_keep_every_suitability_rule(run_store: Path) -> None:
    pb = load_playbook()
    s = pb.playbook.suitability
    rows = read(
        run_store,
        """
        SELECT p.age, p.risk_level, p.risk_valid, p.liquid_reserve_months, p.first_time_investor,
               d.type, d.risk_level, d.liquidity, d.is_pension, coalesce(d.term_days,
               d.lockup_days), coalesce(d.on_sale, true), r.dual_recording, r.channel,
               r.expected_return, r.product_id, r.customer_id
        FROM recommendations r JOIN profiles p USING (customer_id)
        JOIN products d USING (product_id)""",
    )
    assert len(rows) > 500
    for (
        age,
        risk,
        valid,
        reserve,
        first,
        kind,
        prisk,
        liq,
        pension,
        term,
        on_sale,
        dual,
        channel,
        expected,
        *_,
    ) in rows:
        level = int(risk[1]) if risk else 0
        found = violations(
            age, level, valid, reserve, kind, int(prisk[1]), liq == "closed", pension, term, on_sale, s
        )
        assert found == [], (age, risk, kind, prisk, found)
        assert bool(dual) == needs_dual_recording(age, first, kind, int(prisk[1]), s)
        assert (channel == "branch") == bool(dual)
        if pension:
            assert expected is None
    held = read(
        run_store, "SELECT count(*) FROM recommendations r JOIN holdings h USING (customer_id, product_id)"
    )
    assert held == [(0,)]


def test_the_recommendations_read_through_the_view_are_those_worded_in_one_statement(
    run_store: Path,
) -> None:
    """The run keeps its picks and their products and words them in a view; the
    recommendations computed in one statement from the snapshot, nothing kept
    on the way (the form the run wrote before), are the same rows, column for
    column and type for type."""
    pb = load_playbook()
    run = runs(run_store)[0]
    assert run.summary.get("previous_run") is None
    snapshot = pick_snapshot(run_store, run.as_of)
    con = warehouse.reader(run_store, "all")
    try:
        eng = DuckDBEngine(con)
        inputs = eng.inputs(snapshot, None, portfolio_rows(pb), pb.playbook.window_months)
        whole = published(build(inputs, pb, lambda name, expr, frees=(): expr))["recommendations"]
        con.execute(f"CREATE TEMP TABLE one_statement AS {eng.con.compile(whole)}")

        def shape(table: str) -> list[tuple[object, ...]]:
            return con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()

        assert shape("one_statement") == shape(f"{run.schema}.recommendations")
        counts = [
            con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})").fetchone()
            for a, b in (
                ("one_statement", f"{run.schema}.recommendations"),
                (f"{run.schema}.recommendations", "one_statement"),
            )
        ]
        total = con.execute("SELECT count(*) FROM one_statement").fetchone()
    finally:
        con.close()
    assert total is not None and total[0] > 500
    assert counts == [(0,), (0,)]


def test_each_recommendation_shows_its_products_own_facts_and_its_customers_own_gap(
    run_store: Path,
) -> None:
    """The run keeps its picks narrow and words them in a view: each row read
    through it names the product's own name, type, class and risk from the
    snapshot, the customer's own gap in that class from the profile (to the
    fen, and in the reasons in 万元), and the customer's risk level only where
    their assessment is valid; a customer's ranks run 1, 2, 3 without a gap."""
    rows = read(
        run_store,
        """
        SELECT r.customer_id, r.rank, r.product_name = d.name, r.product_type = d.type,
               r.asset_class = d.asset_class, r.product_risk = d.risk_level,
               r.is_pension = coalesce(d.is_pension, FALSE),
               r.expected_return IS NOT DISTINCT FROM
                   CASE WHEN coalesce(d.is_pension, FALSE) THEN NULL ELSE d.expected_return::DOUBLE END,
               r.gap_amount, CASE r.asset_class WHEN 'cash' THEN p.gap_cash
                   WHEN 'fixed_income' THEN p.gap_fixed_income WHEN 'equity' THEN p.gap_equity
                   WHEN 'alternative' THEN p.gap_alternative WHEN 'protection' THEN p.gap_protection END,
               p.risk_valid, p.risk_level, r.reasons
        FROM recommendations r JOIN profiles p USING (customer_id) JOIN products d USING (product_id)
        ORDER BY r.customer_id, r.rank""",
    )
    assert len(rows) > 500
    ranks: dict[str, list[int]] = {}
    for cid, rank, *same, gap, own_gap, valid, level, reasons in rows:
        assert all(same), (cid, rank, same)
        assert gap == own_gap and gap > 0
        tenths = (gap / 10_000 * 10).quantize(Decimal(1), ROUND_HALF_UP)
        assert f"配置缺口约{tenths // 10}.{tenths % 10}万元" in reasons, (gap, reasons)
        assert (f"不高于客户风险等级{level}" in reasons) == bool(valid), (valid, level, reasons)
        ranks.setdefault(cid, []).append(rank)
    assert all(r == list(range(1, len(r) + 1)) for r in ranks.values())


def test_recommendations_read_as_a_banker_would_give_them(run_store: Path) -> None:
    """No cover is offered from the age it is no longer bought (the demo offered
    term life insurance to an 87-year-old), while younger customers are offered
    it; and "0% of similar customers hold it" is never given as a reason."""
    until = load_playbook().playbook.health.protection_until_age
    rows = read(
        run_store,
        f"SELECT p.age >= {until}, r.asset_class = 'protection', count(*), "
        "count(*) FILTER (WHERE r.reasons LIKE '%同类客户中0%%持有%'), "
        "count(*) FILTER (WHERE r.popularity > 0.005 AND r.reasons NOT LIKE '%同类客户中%') "
        "FROM recommendations r JOIN profiles p USING (customer_id) GROUP BY ALL",
    )
    by = {(old, cover): n for old, cover, n, _, _ in rows}
    assert by.get((True, True), 0) == 0
    assert by.get((False, True), 0) > 0 and by.get((True, False), 0) > 0
    assert sum(r[3] for r in rows) == 0
    assert sum(r[4] for r in rows) == 0


def test_the_allocation_asks_no_cover_from_the_age_it_is_no_longer_bought(run_store: Path) -> None:
    """From ``protection_until_age`` the model portfolio's protection weight goes
    to the other classes: the allocation never names protection as the short
    class there (the demo told customers over 65 their protection was the
    most short), while it does for younger customers; the targets still sum to 1."""
    pb = load_playbook().playbook
    until = pb.health.protection_until_age
    targets = " + ".join(f"target_{c}" for c in ASSET_CLASSES)
    rows = read_worded(
        run_store,
        f"SELECT age >= {until}, count(*), "
        "count(*) FILTER (WHERE gap_class = 'protection'), "
        "count(*) FILTER (WHERE finding_allocation LIKE '%保障%'), "
        "count(*) FILTER (WHERE target_protection > 0), "
        f"max(abs({targets} - 1)) "
        "FROM profiles WHERE age IS NOT NULL GROUP BY ALL",
    )
    by = {old: rest for old, *rest in rows}
    n_old, short_old, named_old, cover_old, off_old = by[True]
    n_young, short_young, named_young, cover_young, off_young = by[False]
    assert n_old > 0 and short_old == 0 and named_old == 0 and cover_old == 0
    assert short_young > 0 and named_young > 0 and cover_young == n_young
    assert off_old < 1e-9 and off_young < 1e-9


def test_a_run_records_its_playbook_and_snapshot(run_store: Path) -> None:
    (info,) = runs(run_store)
    pb = load_playbook()
    assert info.playbook_version == pb.version and info.playbook_digest == pb.digest
    assert info.snapshot_id == "2026-11-20" and info.engine == "duckdb"
    assert read(run_store, f"SELECT count(*) FROM run_{info.run_id}.profiles") == [(SMALL,)]


def test_a_failed_publish_leaves_the_previous_run_in_place(
    run_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "bank.duckdb"
    copy_store(run_store, store)
    before = read(store, "SELECT count(*), sum(health_score) FROM profiles")
    import kequn.pipeline.catalog as runs_module

    real = runs_module.ensure_catalog

    def fail_midway(con: object) -> None:
        real(con)  # type: ignore[arg-type]
        raise RuntimeError("killed while publishing")

    monkeypatch.setattr(runs_module, "ensure_catalog", fail_midway)
    with pytest.raises(RuntimeError):
        run_pipeline(store)
    assert len(runs(store)) == 1
    assert read(store, "SELECT count(*), sum(health_score) FROM profiles") == before
    assert read(
        store, "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'run_%_02'"
    ) == [(0,)]


def test_every_advised_amount_is_the_customers_own_gap_in_money(run_store: Path) -> None:
    """The gap a recommendation names is the model portfolio's share of the
    customer's AUM less what they already hold in that class, worked out here
    from the snapshot's holdings in Decimal; never more than their AUM, and always
    a step toward the target."""
    pb = load_playbook()
    fx = {code: Decimal(str(rate)) for code, rate in pb.playbook.fx.items()}
    kinds = ", ".join(f"'{t}'" for t in pb.playbook.aum_product_types)
    held: dict[str, dict[str, Decimal]] = {}
    for customer, cls, balance, currency in read(
        run_store,
        f"""SELECT h.customer_id, d.asset_class, h.balance, coalesce(h.currency, 'CNY')
            FROM holdings h JOIN products d USING (product_id) WHERE d.type IN ({kinds})""",
    ):
        money = Decimal(str(balance)) * fx[str(currency)]
        mine = held.setdefault(str(customer), {})
        mine[str(cls)] = mine.get(str(cls), Decimal(0)) + money
        mine["aum"] = mine.get("aum", Decimal(0)) + money
    rows = read(
        run_store,
        """SELECT r.customer_id, r.asset_class, r.gap_amount, r.reasons, p.risk_level, p.life_stage, p.age
           FROM recommendations r JOIN profiles p USING (customer_id)""",
    )
    assert len(rows) > 500
    for customer, cls, gap, reasons, risk, stage, age in rows:
        mine = held.get(str(customer), {})
        aum = mine.get("aum", Decimal(0))
        model = pb.playbook.portfolios.targets[str(risk or "C1")][str(stage)]
        weight = Decimal(str(model[str(cls)]))
        if age is not None and age >= pb.playbook.health.protection_until_age:
            # past the age cover is bought, protection's weight goes to the rest
            weight = weight / (1 - Decimal(str(model["protection"])))
        expected = (weight.quantize(Decimal("0.0001")) * aum - mine.get(str(cls), Decimal(0))).quantize(
            Decimal("0.01")
        )
        assert abs(Decimal(str(gap)) - expected) <= Decimal("0.02"), (customer, cls, gap, expected, aum)
        assert 0 < Decimal(str(gap)) <= aum, (customer, cls, gap, aum)
        # and following the advice moves the allocation toward the target, whether the
        # amount is new money or moved out of another class
        share = mine.get(str(cls), Decimal(0)) / aum
        as_new_money = (mine.get(str(cls), Decimal(0)) + Decimal(str(gap))) / (aum + Decimal(str(gap)))
        as_moved = (mine.get(str(cls), Decimal(0)) + Decimal(str(gap))) / aum
        for after in (as_new_money, as_moved):
            assert abs(after - weight) < abs(share - weight), (customer, cls, share, after, weight)
        # the sentence the manager reads says the same amount, in 万元
        said = re.search(r"补足(\S+?)配置缺口约([\d.]+)万元", str(reasons))
        assert said is not None, reasons
        assert said.group(1) == CLASS_ZH[str(cls)]
        assert abs(Decimal(said.group(2)) - expected / 10_000) <= Decimal("0.05"), (reasons, expected)


def test_a_recommendation_fills_the_gap_its_customer_is_shown(run_store: Path) -> None:
    """Recommendations are chosen from the profiles as published: the amount a
    recommendation fills is, to the fen, the gap the customer's profile shows
    for its class, and that gap reaches the playbook's line on the AUM shown
    (a gap compared unrounded once offered products for a gap the page showed
    below the line)."""
    r = load_playbook().playbook.recommendations
    shown = "CASE r.asset_class " + " ".join(f"WHEN '{c}' THEN p.gap_{c}" for c in ASSET_CLASSES) + " END"
    rows = read(
        run_store,
        f"SELECT r.gap_amount, {shown}, p.aum_month_end "
        "FROM recommendations r JOIN profiles p USING (customer_id)",
    )
    assert len(rows) > 500
    for gap, gap_shown, aum in rows:
        assert gap == gap_shown
        assert float(gap) >= max(r.min_gap_amount, float(aum) * r.min_gap_share)


def test_a_run_lists_no_view_of_an_output_runs_no_longer_write(run_store: Path, tmp_path: Path) -> None:
    """A store whose latest run was written before the green ledger rode on the
    profile has a ``main.carbon_ledger`` view of that run: the next run drops it
    rather than leave it showing an older run than every other view."""
    import duckdb

    store = tmp_path / "bank.duckdb"
    copy_store(run_store, store)
    con = duckdb.connect(str(store))
    try:
        con.execute("CREATE VIEW main.carbon_ledger AS SELECT 'C1' AS customer_id")
    finally:
        con.close()
    run_pipeline(store)
    views = {r[0] for r in read(store, "SELECT view_name FROM duckdb_views() WHERE database_name = 'bank'")}
    assert {"profiles", "recommendations", "triggers"} <= views
    assert "carbon_ledger" not in views


def test_each_customers_holdings_lists_are_their_products_and_types_once_each_in_order(
    run_store: Path,
) -> None:
    """The lists a group condition reads (``products_held``, ``product_types``),
    kept with the snapshot when it is ingested, held to the snapshot's holdings
    gathered in Python; the run makes them no more."""
    run = runs(run_store)[-1]
    snapshot = schema_for(run.as_of)
    want: dict[str, tuple[set[str], set[str]]] = {}
    for customer, product, kind in read(
        run_store,
        "SELECT h.customer_id, h.product_id, d.type FROM holdings h JOIN products d USING (product_id)",
    ):
        held = want.setdefault(str(customer), (set(), set()))
        held[0].add(str(product))
        held[1].add(str(kind))
    got = {
        str(c): (list(p), list(t))  # type: ignore[call-overload]
        for c, p, t in read(
            run_store, f"SELECT customer_id, products_held, product_types FROM {snapshot}.{HELD_LISTS}"
        )
    }
    # some customer holds a product twice (in two accounts) and two of one type
    assert any(
        n > len(set(p))
        for n, p in read(run_store, "SELECT count(*), list(product_id) FROM holdings GROUP BY customer_id")
    )
    assert got == {c: (sorted(p), sorted(t)) for c, (p, t) in want.items()}
    assert not read(
        run_store,
        f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{run.schema}' "
        f"AND table_name = '{HELD_LISTS}'",
    )


def test_a_snapshot_ingested_before_the_lists_were_kept_has_them_kept_by_its_run_or_made(
    bank_store: Path, run_store: Path, tmp_path: Path
) -> None:
    """A snapshot without the lists (ingested before they were kept with it):
    its run keeps them, and a group naming them counts the same customers; a
    run without them either is given them made from the snapshot's holdings."""
    condition = groups.parse_group(
        "list_contains(product_types, 'fund') AND NOT list_contains(products_held, 'FD0001')"
    )

    def counted(store: Path) -> int:
        duck = warehouse.reader(store, "all")
        try:
            return groups.count(duck, list_runs(duck)[-1], condition)
        finally:
            duck.close()

    want = counted(run_store)
    assert want > 0
    store = tmp_path / "bank.duckdb"
    copy_store(bank_store, store)
    snapshot = pick_snapshot(store, None).schema
    warehouse.rewrite(store, snapshot, lambda c: c.execute(f"DROP TABLE {snapshot}.{HELD_LISTS}"))
    run = run_pipeline(store)
    assert read(store, f"SELECT count(*) FROM {run.schema}.{HELD_LISTS}") == read(
        run_store, f"SELECT count(*) FROM {schema_for(run.as_of)}.{HELD_LISTS}"
    )
    assert counted(store) == want
    warehouse.rewrite(store, run.schema, lambda c: c.execute(f"DROP TABLE {run.schema}.{HELD_LISTS}"))
    assert counted(store) == want
