"""Small immutable types describing the input contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["str", "int", "number", "money", "rate", "date", "timestamp", "bool", "enum"]

#: Reasons a row can be quarantined for. Stable codes: reports, manifests and
#: tests match on them.
REASONS: dict[str, str] = {
    "malformed_row": "the line does not split into the header's columns",
    "missing_required": "a required field is empty",
    "unparseable_amount": "an amount is not a number with at most 2 decimals",
    "unparseable_number": "not a whole number",
    "unparseable_decimal": "not a number",
    "unparseable_rate": "a rate is not a decimal number",
    "unparseable_date": "not a date (YYYY-MM-DD)",
    "unparseable_timestamp": "not a timestamp (ISO 8601)",
    "unparseable_bool": "not a boolean (true/false, 1/0, Y/N)",
    "unknown_code": "a code outside the allowed values",
    "out_of_range": "a value outside its allowed range",
    "too_long": "a text longer than allowed",
    "future_date": "a date or time after the snapshot's as-of date",
    "bad_id_format": "an ID number that is not 18 characters of region, birth date and sequence",
    "bad_id_check_digit": "an ID number whose check digit is wrong",
    "bad_phone": "not a mainland mobile number (11 digits starting 1[3-9])",
    "duplicate_key": "a key that an earlier line already used",
    "orphan_foreign_key": "a reference to a row that is not in the extract",
    "unknown_product_code": "a product code that is not on the product shelf",
    "parent_quarantined": "a reference to a row that was itself quarantined",
    "negative_deposit_balance": "a negative balance on a deposit product",
    "negative_balance": "a negative balance where none is allowed",
    "sign_mismatch": "an amount whose sign contradicts the transaction type",
    "date_order": "an end date before its start date",
    "control_characters": "a text holding control characters (NUL, tab, line breaks and the like)",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an input table."""

    name: str
    kind: Kind
    zh: str
    doc: str
    required: bool = False
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    #: dates and times may not lie after the snapshot's as-of date
    not_future: bool = False
    #: extra format check by name: "id_number" or "mobile"
    check: str | None = None
    #: personal information (PIPL): masked by role and erased on deletion
    personal: bool = False
    #: not the contract's: an attribute the bank declared in its mapping
    attribute: bool = False

    @property
    def duckdb_type(self) -> str:
        return {
            "str": "VARCHAR",
            "enum": "VARCHAR",
            "int": "INTEGER",
            "number": "DOUBLE",
            "money": "DECIMAL(18,2)",
            "rate": "DECIMAL(12,6)",
            "date": "DATE",
            "timestamp": "TIMESTAMPTZ",
            "bool": "BOOLEAN",
        }[self.kind]


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """``columns`` of this table reference ``ref_columns`` of ``ref_table``."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    #: the reason code when the referenced key is absent from the extract
    reason: str = "orphan_foreign_key"
    #: the referenced table's file may be absent (then the check is skipped)
    optional_target: bool = False


@dataclass(frozen=True, slots=True)
class RowCheck:
    """A rule on a whole row, written as a DuckDB SQL condition that is TRUE
    when the row is bad. ``lookup`` joins another table first: the alias
    ``ref`` then names the referenced row (left join on ``lookup[1]``)."""

    reason: str
    field: str
    bad_when: str
    doc: str
    lookup: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    zh: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[RowCheck, ...] = ()
    #: an extract may leave this table out
    optional: bool = False
    extra_columns_allowed: bool = False

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)
