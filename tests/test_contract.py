from pathlib import Path

from kequn.contract import TABLES, load_order
from kequn.contract.docs import render
from kequn.contract.schema import REASONS

ROOT = Path(__file__).resolve().parents[1]


def test_every_foreign_key_points_at_a_real_column() -> None:
    for table in TABLES.values():
        for fk in table.foreign_keys:
            target = TABLES[fk.ref_table]
            for col, ref in zip(fk.columns, fk.ref_columns, strict=True):
                assert col in table.column_names
                assert ref in target.column_names
            assert fk.reason in REASONS


def test_load_order_puts_referenced_tables_first() -> None:
    order = load_order()
    assert sorted(order) == sorted(TABLES)
    for table in TABLES.values():
        for fk in table.foreign_keys:
            if fk.ref_table != table.name:
                assert order.index(fk.ref_table) < order.index(table.name)


def test_keys_and_checks_name_known_columns() -> None:
    for table in TABLES.values():
        assert set(table.primary_key) <= set(table.column_names)
        for key in table.primary_key:
            assert table.column(key).required, f"{table.name}.{key} is a key but optional"
        for check in table.checks:
            assert check.reason in REASONS
            assert check.field in table.column_names


def test_contract_doc_is_in_sync_with_the_code() -> None:
    assert (ROOT / "docs" / "contract.md").read_text(encoding="utf-8") == render(), (
        "docs/contract.md is stale: run `make docs`"
    )
