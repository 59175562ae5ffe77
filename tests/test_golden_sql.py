"""A golden file of the SQL the playbook's rules compile to: a change in how a
rule reaches the engine shows up as a diff to review. (Spark's compiler needs a
live session, so Spark is held to DuckDB by the parity test instead.)

Regenerate with ``KEQUN_UPDATE_GOLDEN=1 pytest tests/test_golden_sql.py``."""

from __future__ import annotations

import os
from pathlib import Path

import ibis
import pytest

from kequn import warehouse
from kequn.pipeline.predicates import compile_predicate
from kequn.pipeline.reasons import recommendations_view
from kequn.playbook import load_playbook
from kequn.playbook.columns import SCOPES

GOLDEN = Path(__file__).parent / "golden"
TYPES = {
    "int": "int64",
    "float": "float64",
    "str": "string",
    "bool": "boolean",
    "date": "date",
    "list": "array<string>",
}


def _render(dialect: str) -> str:
    pb = load_playbook()
    out = []
    for section, scope, rules in (
        ("life_stages", "features", pb.playbook.life_stages.rules),
        ("lifecycle", "features", pb.playbook.lifecycle.rules),
        ("segments", "classified", pb.playbook.segments),
        ("carbon", "transaction", pb.playbook.carbon.behaviours),
        ("triggers", "trigger", pb.playbook.triggers),
    ):
        table = ibis.table({k: TYPES[v.type] for k, v in SCOPES[scope].items()}, name=scope)
        for rule in rules:
            expr = table.select(hit=compile_predicate(pb.expression(section, rule.name), table))
            sql = ibis.to_sql(expr, dialect=dialect)
            out.append(f"-- {section}.{rule.name}: {rule.when}\n{sql.strip()};\n")
    return "\n".join(out)


@pytest.mark.parametrize("dialect", ["duckdb"])
def test_rules_compile_to_the_reviewed_sql(dialect: str) -> None:
    path = GOLDEN / f"playbook_rules.{dialect}.sql"
    got = _render(dialect)
    if os.environ.get("KEQUN_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == got, (
        f"{path.name} differs; review and regenerate with KEQUN_UPDATE_GOLDEN=1"
    )


GROUPS = (
    ("plain", "age >= 60 AND list_contains(segments, 'silver')", None),
    ("bounded", "aum > 50000", ["B0101", "B010101"]),
    ("held lists", "list_contains(product_types, 'fund') AND NOT list_contains(triggers, 'birthday')", None),
)


def test_group_counts_compile_to_the_reviewed_sql(run_store: Path) -> None:
    """What a group count sends to DuckDB: the bound to the unit and the lists joined
    only when the condition reads them are visible in review."""

    from kequn.pipeline import groups
    from kequn.pipeline.catalog import list_runs

    duck = warehouse.reader(run_store, "all")
    try:
        run = list_runs(duck)[-1]
        got = "\n".join(
            f"-- {name}: {text}\n{groups.compiled_sql(duck, run, groups.parse_group(text), units).strip()};\n"
            for name, text, units in GROUPS
        )
    finally:
        duck.close()
    path = GOLDEN / "group_counts.duckdb.sql"
    if os.environ.get("KEQUN_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == got, (
        f"{path.name} differs; review and regenerate with KEQUN_UPDATE_GOLDEN=1"
    )


def test_the_recommendations_view_is_the_reviewed_sql() -> None:
    """The view every run file keeps over its picks (``recommend.worded``): its
    SQL is stored in the file, so a change in the words shows here first."""
    path = GOLDEN / "recommendations_view.duckdb.sql"
    got = recommendations_view() + "\n"
    if os.environ.get("KEQUN_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == got, (
        f"{path.name} differs; review and regenerate with KEQUN_UPDATE_GOLDEN=1"
    )
