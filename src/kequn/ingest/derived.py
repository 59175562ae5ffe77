"""Tables derived from a snapshot's own and written with it: what every run
and every rehearsal on the snapshot would otherwise make again from the same
rows."""

from __future__ import annotations

import duckdb

from kequn.contract.tables import PRODUCT_TYPES

#: the products each customer holds and their types, once each and sorted:
#: the lists a group condition names (``products_held``, ``product_types``)
HELD_LISTS = "held_lists"


def held_lists_sql(snapshot_schema: str) -> str:
    # each customer's products gathered whole, then their duplicates removed and
    # sorted: the same lists as DISTINCT ... ORDER BY inside the aggregate (neither
    # column is ever NULL), in three quarters of its time over a 1,000,000-customer
    # bank. A customer's product types are few of the contract's few: gathered as
    # one bit each, and each set of bits that occurs turned into its sorted list
    # once, not a list sorted for every customer
    assert len(PRODUCT_TYPES) <= 64, "one bit a product type in a UBIGINT"
    return f"""
        WITH kinds AS (
            SELECT type, (row_number() OVER (ORDER BY type) - 1)::UTINYINT AS bit
            FROM (SELECT DISTINCT type FROM {snapshot_schema}.products)),
        typed AS (SELECT product_id, bit FROM {snapshot_schema}.products JOIN kinds USING (type)),
        held AS (
            SELECT h.customer_id, list_sort(list_distinct(list(h.product_id))) AS products_held,
                   bit_or(1::UBIGINT << p.bit) AS kinds_held
            FROM {snapshot_schema}.holdings h JOIN typed p USING (product_id)
            GROUP BY h.customer_id),
        lists AS (
            SELECT m.kinds_held, list(k.type ORDER BY k.type) AS product_types
            FROM (SELECT DISTINCT kinds_held FROM held) m JOIN kinds k ON (m.kinds_held >> k.bit) & 1 = 1
            GROUP BY m.kinds_held)
        SELECT held.customer_id, held.products_held, lists.product_types
        FROM held JOIN lists USING (kinds_held)"""


def write_derived(con: duckdb.DuckDBPyConnection, snapshot_schema: str) -> None:
    """Writes the snapshot's derived tables beside its own (in ``con``, where
    the snapshot ``snapshot_schema`` is being sealed)."""
    con.execute(f"CREATE TABLE {snapshot_schema}.{HELD_LISTS} AS {held_lists_sql(snapshot_schema)}")
