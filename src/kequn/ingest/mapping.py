"""Declarative mapping of a bank's own export onto the contract (``--mapping FILE``).

Real core-system exports use their own file names, headers (客户号, 证件号码,
余额 …), codes (1/2 for gender, 01–05 for risk levels) and formats (YYYYMMDD
dates, amounts in 分 or with thousands separators). A mapping file states each
difference once; it is validated like the playbook, and refused with the line
and reason before any row is read.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from kequn.contract import TABLES, Column, Table
from kequn.contract.schema import Kind
from kequn.contract.tables import ATTRIBUTE_TABLES
from kequn.core.errors import ConfigError
from kequn.core.tomlfile import KeyLines, load_toml

MAPPING_VERSION = 1
AmountFormat = Literal["yuan", "fen", "thousands"]
AttributeType = Literal["str", "int", "number", "bool", "date"]
#: an attribute's name: what group conditions, playbook rules and the model call it
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class AttributeMapping(BaseModel):
    """A column the bank has beyond the contract (marital status, education, a
    housing loan, a credit default flag, …), kept with its type."""

    model_config = ConfigDict(extra="forbid")

    #: the bank's header (default: the attribute's own name)
    column: str | None = None
    type: AttributeType = "str"
    #: what a banker calls it (Chinese), shown on the customer's page and in reasons
    label: str = ""
    #: the bank's codes -> the words kept (e.g. "1" = "married")
    values: dict[str, str] = Field(default_factory=dict)


class TableMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: list[str] = Field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    #: contract column -> the bank's header
    columns: dict[str, str] = Field(default_factory=dict)
    #: contract column -> {bank code -> contract value}
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: contract column -> strptime pattern (dates, times) or amount format
    formats: dict[str, str] = Field(default_factory=dict)
    #: contract column -> the same value on every row (e.g. currency = "CZK")
    constants: dict[str, str] = Field(default_factory=dict)
    #: this export has no rows for the table (a public data set without staff or
    #: consents): an empty file is then what is expected, not a truncated export
    empty: bool = False
    #: the bank's own columns beyond the contract, by the name Kequn gives them
    attributes: dict[str, AttributeMapping] = Field(default_factory=dict)


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    name: str = ""
    encoding: str | None = None
    delimiter: str = ","
    date_format: str | None = None
    timestamp_format: str | None = None
    amount_format: AmountFormat = "yuan"
    tables: dict[str, TableMapping] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != MAPPING_VERSION:
            raise ValueError(
                f"mapping version {v} is not supported (this Kequn reads version {MAPPING_VERSION})"
            )
        return v

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str) -> str:
        if len(v) != 1:
            raise ValueError("a delimiter is one character")
        return v

    def for_table(self, name: str) -> TableMapping:
        """The table's mapping, its attributes read as columns of their own."""
        tm = self.tables.get(name, TableMapping())
        if not tm.attributes:
            return tm
        return tm.model_copy(
            update={
                "columns": tm.columns | {n: a.column for n, a in tm.attributes.items() if a.column},
                "values": tm.values | {n: a.values for n, a in tm.attributes.items() if a.values},
            }
        )

    def table(self, name: str) -> Table:
        """The contract's table with the bank's attributes as further columns."""
        contract = TABLES[name]
        declared = self.tables.get(name, TableMapping()).attributes
        if not declared:
            return contract
        extra = tuple(
            Column(
                n,
                _KINDS[a.type],
                a.label or n,
                f"the bank's own attribute ({a.type})",
                max_length=500 if a.type == "str" else None,
                attribute=True,
            )
            for n, a in declared.items()
        )
        return replace(contract, columns=contract.columns + extra)

    def attributes(self, name: str) -> dict[str, dict[str, str]]:
        """The table's attributes, name -> type and label (kept with the snapshot)."""
        declared = self.tables.get(name, TableMapping()).attributes
        return {n: {"type": a.type, "label": a.label or n} for n, a in declared.items()}


#: names an attribute cannot take: the contract's own columns, and the stage's
RESERVED = frozenset({c for t in TABLES.values() for c in t.column_names} | {"_row", "_file", "_line", "_p"})
#: an attribute's type as the contract checks it
_KINDS: dict[str, Kind] = {"str": "str", "int": "int", "number": "number", "bool": "bool", "date": "date"}


def _check_semantics(m: Mapping) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems a schema cannot see: unknown tables, columns, formats."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for tname, tm in m.tables.items():
        if tname not in TABLES:
            problems.append(
                (("tables", tname), f"unknown table {tname!r}; the contract has {', '.join(TABLES)}")
            )
            continue
        table: Table = TABLES[tname]
        known = set(table.column_names)
        if tm.attributes and tname not in ATTRIBUTE_TABLES:
            problems.append(
                (
                    ("tables", tname, "attributes"),
                    f"attributes are kept for {' and '.join(ATTRIBUTE_TABLES)}, not for {tname}",
                )
            )
        for aname in tm.attributes:
            if not ATTRIBUTE_NAME.fullmatch(aname):
                problems.append(
                    (
                        ("tables", tname, "attributes", aname),
                        f"{aname!r} is not a name for an attribute: lower-case letters, digits and _, "
                        "starting with a letter, at most 40",
                    )
                )
            elif aname in known or aname in RESERVED:
                problems.append(
                    (
                        ("tables", tname, "attributes", aname),
                        f"{aname!r} is already a column of Kequn's; name the bank's attribute otherwise",
                    )
                )
        for section in ("columns", "values", "formats", "constants"):
            for col in getattr(tm, section):
                if col not in known:
                    problems.append((("tables", tname, section, col), f"{tname} has no column {col!r}"))
        for col, fmt in tm.formats.items():
            if col not in known:
                continue
            kind = table.column(col).kind
            if kind in ("date", "timestamp") and "%" not in fmt:
                problems.append(
                    (("tables", tname, "formats", col), f"{fmt!r} is not a strptime pattern such as '%Y%m%d'")
                )
            elif kind == "money" and fmt not in ("yuan", "fen", "thousands"):
                problems.append(
                    (
                        ("tables", tname, "formats", col),
                        f"amount format {fmt!r} is not one of yuan, fen, thousands",
                    )
                )
            elif kind not in ("date", "timestamp", "money"):
                problems.append(
                    (
                        ("tables", tname, "formats", col),
                        f"{col} is {kind}; formats apply to dates, times and amounts",
                    )
                )
        for col in tm.values:
            if col in known and table.column(col).kind not in ("enum", "bool", "str"):
                problems.append(
                    (
                        ("tables", tname, "values", col),
                        f"{col} is {table.column(col).kind}; code values apply to codes, flags and text",
                    )
                )
        for col, allowed in ((c, table.column(c).values) for c in tm.values if c in known):
            for code, value in tm.values[col].items():
                if value == "":
                    # a code that means "not known" leaves an optional column empty
                    if table.column(col).required:
                        problems.append(
                            (
                                ("tables", tname, "values", col, code),
                                f"{tname}.{col} is required; a code cannot leave it empty",
                            )
                        )
                    continue
                if allowed and value not in allowed:
                    problems.append(
                        (
                            ("tables", tname, "values", col, code),
                            f"{value!r} is not a value of {tname}.{col} ({', '.join(allowed)})",
                        )
                    )
        for col in set(tm.columns) & set(tm.constants):
            problems.append(
                (
                    ("tables", tname, "constants", col),
                    f"{col} is both mapped to a header and given a constant",
                )
            )
    return problems


def load_mapping(path: Path) -> Mapping:
    data, lines = load_toml(path)
    return parse_mapping(data, lines, str(path))


def parse_mapping(data: dict[str, object], lines: KeyLines, source: str) -> Mapping:
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [(source, lines.line(tuple(err["loc"])), _pydantic_reason(err)) for err in exc.errors()]
        ) from None
    problems = _check_semantics(mapping)
    if problems:
        raise ConfigError([(source, lines.line(loc), reason) for loc, reason in problems])
    return mapping


def _pydantic_reason(err: ErrorDetails) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    if err["type"] == "missing":
        return f"missing key {loc!r}"
    return f"{loc}: {msg.removeprefix('Value error, ')}"
