"""Renders the contract as Markdown (docs/contract.md); a test keeps the file in sync."""

from __future__ import annotations

from kequn.contract.schema import REASONS, Column
from kequn.contract.tables import ATTRIBUTE_TABLES, CONTRACT_VERSION, TABLES


def _type(col: Column) -> str:
    base = {
        "str": "text",
        "enum": "code",
        "int": "integer",
        "number": "number",
        "money": "amount (2 decimals)",
        "rate": "decimal rate",
        "date": "date (YYYY-MM-DD)",
        "timestamp": "timestamp (ISO 8601; no offset = Beijing time)",
        "bool": "boolean",
    }[col.kind]
    notes = []
    if col.values:
        notes.append("one of " + ", ".join(f"`{v}`" for v in col.values))
    if col.minimum is not None or col.maximum is not None:
        lo = "" if col.minimum is None else f"{col.minimum:g}"
        hi = "" if col.maximum is None else f"{col.maximum:g}"
        notes.append(f"range {lo}..{hi}")
    if col.max_length:
        notes.append(f"at most {col.max_length} characters")
    if col.not_future:
        notes.append("not after the as-of date")
    if col.check:
        notes.append(
            {
                "id_number": "valid resident ID (check digit)",
                "mobile": "mainland mobile number",
                "mcc": "4-digit MCC",
                "currency": "ISO 4217 code",
                "month_day": "MM-DD",
            }[col.check]
        )
    if col.personal:
        notes.append("personal information")
    return base + ("; " + "; ".join(notes) if notes else "")


def render() -> str:
    out = [
        "# The bank data contract",
        "",
        f"Contract version {CONTRACT_VERSION}. Generated from `kequn.contract` by "
        "`python -m kequn.contract.docs`; a test fails when this file and the code differ.",
        "",
        "A nightly extract is one file per table (`customers.csv` or `customers.parquet`) or a "
        "folder of parts (`transactions/part-1.csv` …), CSV in UTF-8 or GBK with a header "
        "line. Column names are the contract's own unless a mapping file (`--mapping`) "
        "translates the bank's names, codes and formats. Money is CNY with 2 decimals unless "
        '`currency` says otherwise. A code the mapping maps to `""` is the bank\'s word for '
        '"not known" and leaves an optional column empty (`values = { channel = { '
        '"unknown" = "" } }`). Rows that break a rule are quarantined with the file, '
        "line, field, value and reason; none are dropped.",
        "",
    ]
    for t in TABLES.values():
        out += [f"## {t.name} — {t.zh}", "", t.doc, ""]
        out.append(f"Key: `{', '.join(t.primary_key)}`." + (" Optional table." if t.optional else ""))
        for fk in t.foreign_keys:
            note = " (checked when that table is present)" if fk.optional_target else ""
            out.append(
                f"`{', '.join(fk.columns)}` references `{fk.ref_table}."
                f"{', '.join(fk.ref_columns)}`{note}; otherwise `{fk.reason}`."
            )
        for ck in t.checks:
            out.append(f"Rule `{ck.reason}` on `{ck.field}`: {ck.doc}.")
        out += [
            "",
            "| column | 中文 | required | type and rules | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in t.columns:
            out.append(f"| `{c.name}` | {c.zh} | {'yes' if c.required else ''} | {_type(c)} | {c.doc} |")
        out.append("")
    out += [
        "## The bank's own attributes",
        "",
        "A bank keeps more about its customers and contacts than the contract names "
        "(marital status, education, a housing loan, a credit default flag, the campaign's "
        "conditions, …). A mapping declares each under the table, with its type "
        "(`str`, `int`, `number`, `bool`, `date`), its label and, if need be, the bank's "
        "header and codes:",
        "",
        "```toml",
        "[tables.customers.attributes.marital]",
        'column = "婚姻状况"',
        'type = "str"',
        'label = "婚姻状况"',
        'values = { "1" = "married", "2" = "single" }',
        "```",
        "",
        "Attributes are kept for " + " and ".join(f"`{t}`" for t in ATTRIBUTE_TABLES) + ", checked "
        "by their type like any column (a row with an unreadable value is quarantined), and "
        "stored with the snapshot. A customer's attributes reach the customer's page, group "
        "conditions and the propensity model; a contact's describe the customer and the "
        "moment as they were when the contact was made, which is what the model learns from.",
        "",
    ]
    out += ["## Quarantine reasons", "", "| reason | meaning |", "| --- | --- |"]
    out += [f"| `{k}` | {v} |" for k, v in REASONS.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
