"""The bank data contract: what a nightly extract must look like.

This is the bottom layer. The generator (``kequn.synth``), the validator
(``kequn.ingest``) and the adapters all read the same definitions here.
"""

from kequn.contract.schema import Column, ForeignKey, RowCheck, Table
from kequn.contract.tables import CONTRACT_VERSION, TABLES, load_order, table

__all__ = [
    "CONTRACT_VERSION",
    "TABLES",
    "Column",
    "ForeignKey",
    "RowCheck",
    "Table",
    "load_order",
    "table",
]
