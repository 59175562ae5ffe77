"""A broken playbook is refused with its line and reason, before any data is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from kequn.core.errors import ConfigError
from kequn.playbook import default_playbook_path, load_playbook
from kequn.playbook.model import MAY_BE_UNKNOWN, UNKNOWN_BAND

DEFAULT = default_playbook_path().read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the playbook")


def _refused(tmp_path: Path, old: str, new: str) -> tuple[str, str]:
    assert old in DEFAULT, old
    text = DEFAULT.replace(old, new, 1)
    path = tmp_path / "playbook.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_playbook(path)
    return str(err.value), text


def test_the_default_playbook_is_valid() -> None:
    pb = load_playbook()
    p = pb.playbook
    assert [t.name for t in p.tiers.ladder] == [
        "private_central",
        "private",
        "wealth",
        "affluent",
        "mass_affluent",
        "mass",
    ]
    assert [t.min_aum for t in p.tiers.ladder] == [20_000_000, 6_000_000, 1_000_000, 200_000, 50_000, 0]
    assert len(p.carbon.behaviours) == 15
    assert sum(len(v) for v in p.portfolios.targets.values()) == 25
    assert len(pb.digest) == 64


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            'when = "age >= 60 OR pension_months > 0"',
            'when = "age >= 60 OR pension_mnths > 0"',
            "unknown column 'pension_mnths'",
        ),
        (
            'when = "salary_months >= 2"',
            'when = "salary_months >= (SELECT count(*) FROM transactions)"',
            "subqueries are not allowed",
        ),
        ("when = \"gender = 'F'\"", "when = \"read_csv('/etc/passwd') IS NOT NULL\"", "is not allowed"),
        ("when = \"gender = 'F'\"", "when = \"system('rm -rf /')\"", "function system() is not allowed"),
        ('when = "fund_balance > 0"', 'when = "fund_balance > 0; DROP TABLE customers"', "2 statements"),
        ('when = "fund_balance > 0"', 'when = "sum(fund_balance) > 0"', "aggregates and windows"),
        ('when = "near_threshold"', 'when = "near_threshold AND"', "cannot parse"),
    ],
)
def test_bad_predicates_are_refused_with_line_and_reason(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    message, text = _refused(tmp_path, old, new)
    line = _line_of(text, new.split(" = ", 1)[1][:30])
    assert f"playbook.toml:{line}:" in message
    assert reason in message


def test_unknown_texts_are_the_playbooks_to_give_and_other_components_may_not_have_them(
    tmp_path: Path,
) -> None:
    """A playbook written before a component could be unknown (a bank's released
    one, kept in its store) still loads: that component is judged in its three
    bands. A component that cannot be unknown refuses such texts."""
    unknowns = [x for x in DEFAULT.splitlines() if x.startswith("unknown = { finding")]
    assert len(unknowns) == len(MAY_BE_UNKNOWN)
    older = DEFAULT
    for line in unknowns:
        older = older.replace(line + "\n", "", 1)
    path = tmp_path / "older.toml"
    path.write_text(older, encoding="utf-8")
    loaded = load_playbook(path).playbook.health.texts
    assert all(UNKNOWN_BAND not in loaded[c] for c in MAY_BE_UNKNOWN)
    heading = "[health.texts.diversification]\n"
    message, _ = _refused(tmp_path, heading, heading + unknowns[0] + "\n")
    assert "diversification.unknown: unknown band; diversification has poor, fair, good" in message


def test_health_weights_must_sum_to_one(tmp_path: Path) -> None:
    message, text = _refused(tmp_path, "allocation = 0.25, growth", "allocation = 0.35, growth")
    assert f"playbook.toml:{_line_of(text, 'allocation = 0.35')}: health weights sum to 1.1" in message


def test_a_component_judged_for_every_customer_must_weigh_something(tmp_path: Path) -> None:
    """Components that cannot be judged do not count: with allocation and
    diversification weighing nothing, a customer could be left with no score."""
    old = (
        "weights = { allocation = 0.25, growth = 0.10, liquidity = 0.15, risk_match = 0.20, "
        "diversification = 0.10,"
    )
    new = (
        "weights = { allocation = 0, growth = 0.25, liquidity = 0.25, risk_match = 0.25, diversification = 0,"
    )
    message, text = _refused(tmp_path, old, new)
    assert (
        f"playbook.toml:{_line_of(text, new)}: health weights: allocation or diversification must weigh"
        in message
    )


def test_a_health_target_for_every_quarter_within_the_score(tmp_path: Path) -> None:
    line = "quarter_targets = { 1 = 48, 2 = 50, 3 = 52, 4 = 54 }"
    message, text = _refused(tmp_path, line, "quarter_targets = { 1 = 48, 2 = 50, 3 = 52 }")
    at = _line_of(text, "quarter_targets = { 1 = 48, 2 = 50, 3 = 52 }")
    assert f"playbook.toml:{at}: quarter_targets: one target for each quarter, 1 to 4" in message
    message, _ = _refused(tmp_path, line, "quarter_targets = { 1 = 48, 2 = 50, 3 = 52, 4 = 140 }")
    assert "quarter_targets.4 = 140.0: a score is 0-100" in message


def test_model_portfolio_weights_must_sum_to_one(tmp_path: Path) -> None:
    old = "young_single = { cash = 0.1, fixed_income = 0.7, equity = 0.04"
    message, text = _refused(tmp_path, old, old.replace("0.7", "0.6"))
    line = _line_of(text, "young_single = { cash = 0.1, fixed_income = 0.6")
    assert f"playbook.toml:{line}: model portfolio C1.young_single weights sum to 0.9" in message


def test_a_missing_model_portfolio_is_named(tmp_path: Path) -> None:
    old = "retired = { cash = 0.15, fixed_income = 0.7, equity = 0, alternative = 0, protection = 0.15 }\n"
    message, _ = _refused(tmp_path, old, "")
    assert "C1 has no model portfolio for life stage 'retired'" in message


def test_tier_lines_must_fall(tmp_path: Path) -> None:
    message, text = _refused(tmp_path, "min_aum = 6_000_000", "min_aum = 60_000_000")
    assert "tier 'private': lines must fall" in message
    assert f"playbook.toml:{_line_of(text, 'min_aum = 60_000_000')}:" in message


def test_unknown_keys_and_wrong_types_are_named(tmp_path: Path) -> None:
    message, text = _refused(tmp_path, "hysteresis = 0.05", "hysteresis = 0.05\nhysterisis = 0.1")
    assert f"playbook.toml:{_line_of(text, 'hysterisis')}: unknown key" in message
    message, text = _refused(tmp_path, "per_customer = 3", 'per_customer = "three"')
    assert f"playbook.toml:{_line_of(text, 'per_customer')}:" in message


def test_unknown_text_placeholders_are_named(tmp_path: Path) -> None:
    message, _ = _refused(tmp_path, "分散度良好", "分散度良好{customer_name}")
    assert "unknown placeholder {customer_name}" in message


def test_not_toml_at_all(tmp_path: Path) -> None:
    message, _ = _refused(tmp_path, "[tiers]", "[tiers")
    assert "not valid TOML" in message and "playbook.toml:" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = DEFAULT.replace("when = \"gender = 'F'\"", "when = \"gendr = 'F'\"").replace(
        "allocation = 0.25, growth", "allocation = 0.30, growth"
    )
    path = tmp_path / "playbook.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_playbook(path)
    assert len(err.value.problems) == 2
