"""The group builder's form: rows of picked conditions read from what the page
posts, and shown again with what each field offers (its comparisons and, for a
list, its values), so the page is redrawn from one state on every change."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kequn.campaign.groups import GENDERS, RISK_LEVELS, data_choices
from kequn.pipeline.group_builder import OPS, Condition, Kind, builder_fields, kind_of, to_expression
from kequn.playbook.expr import Expression, ExpressionError
from kequn.playbook.load import LoadedPlaybook

#: at most this many conditions in one group (far more than a banker picks)
ROWS_MAX = 12
#: how each comparison reads in the builder (Chinese; English through the catalogue)
OP_NAMES = {
    ">=": "≥",
    "<=": "≤",
    ">": ">",
    "<": "<",
    "=": "=",
    "!=": "≠",
    "yes": "是",
    "no": "否",
    "in": "属于",
    "not_in": "不属于",
    "has": "包含",
    "lacks": "不含",
}
#: the builder's field list, by what a field holds
SECTIONS: dict[Kind, str] = {
    "money": "金额（万元）",
    "number": "数值与天数",
    "flag": "是否",
    "choice": "类别",
    "list": "标签、客群分类与产品",
}


@dataclass
class Row:
    index: int
    field: str = ""  # empty until a field is picked
    op: str = ""
    values: tuple[str, ...] = ()
    kind: Kind | None = None
    ops: tuple[str, ...] = ()
    #: (code, name from the data or None: the page names the code)
    choices: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.field) and (self.kind == "flag" or bool(self.values))


@dataclass
class Builder:
    rows: list[Row]
    join: str = "AND"
    expression: Expression | None = None
    error: str | None = None
    error_zh: str | None = None
    #: a row was added, removed or given another field: the builder is drawn
    #: again; a comparison or a value changed: only the condition and its count
    #: (what the user is typing into stays as it is)
    redraw: bool = True

    @property
    def next_index(self) -> int:
        return max((r.index for r in self.rows), default=-1) + 1


def fields_by_section() -> dict[str, list[tuple[str, str]]]:
    """The builder's fields as its menu lists them: section -> [(code, label)]."""
    menu: dict[str, list[tuple[str, str]]] = {title: [] for title in SECTIONS.values()}
    for name, doc in builder_fields().items():
        menu[SECTIONS[kind_of(doc)]].append((name, doc.label))
    return {title: items for title, items in menu.items() if items}


def read_builder(
    posted: Mapping[str, list[str]], choices_of: Callable[[str], Sequence[tuple[str, str | None]]]
) -> Builder:
    """The builder as posted (each key's values). A row whose field changed starts
    afresh; a row half filled counts for nothing until it is filled."""

    def form(key: str) -> list[str]:
        return posted.get(key, [])

    fields = builder_fields()
    indexes = sorted({int(k[6:]) for k in posted if k.startswith("field_") and k[6:].isdigit()})
    removed = {v for v in form("remove") if v.isdigit()}
    rows: list[Row] = []
    for i in indexes[:ROWS_MAX]:
        if str(i) in removed:
            continue
        name = (form(f"field_{i}") or [""])[0]
        row = Row(i)
        if name in fields:
            row.field, row.kind = name, kind_of(fields[name])
            row.ops = OPS[row.kind]
            changed = (form(f"was_{i}") or [""])[0] != name
            op = (form(f"op_{i}") or [""])[0]
            row.op = op if op in row.ops and not changed else row.ops[0]
            if row.kind in ("choice", "list"):
                row.choices = list(choices_of(name))
            if not changed:
                values = [v for v in form(f"value_{i}") if v.strip()]
                if row.choices:
                    known = {c for c, _ in row.choices}
                    values = [v for v in values if v in known]
                row.values = tuple(values[:50])
        rows.append(row)
    builder = Builder(rows, "OR" if (form("join") or [""])[0] == "OR" else "AND")
    reshaped = any((form(f"was_{r.index}") or [""])[0] != r.field for r in rows)
    builder.redraw = not posted or reshaped or bool(form("add")) or bool(removed)
    if (form("add") and len(rows) < ROWS_MAX) or not rows:
        rows.append(Row(builder.next_index))
        builder.redraw = True
    conditions = [Condition(r.field, r.op, r.values) for r in rows if r.complete]
    if conditions:
        try:
            builder.expression = to_expression(conditions, builder.join)
        except ExpressionError as exc:
            builder.error, builder.error_zh = str(exc), exc.zh
    return builder


#: the builder's lists the playbook (or the contract) names, so no data is read
FIXED = {"tier_move": ("up", "down", "same", "new"), "risk_level": RISK_LEVELS, "gender": GENDERS}


def choices_for(pb: LoadedPlaybook, analytics: Path, field: str) -> list[tuple[str, str | None]]:
    """What a list field offers: the playbook's own tiers, stages, segments and
    triggers; fixed codes; else the values the latest run holds."""
    p = pb.playbook
    listed: dict[str, list[str]] = {
        "tier": [t.name for t in p.tiers.ladder],
        "prev_tier": [t.name for t in p.tiers.ladder],
        "life_stage": [r.name for r in p.life_stages.rules] + [p.life_stages.default],
        "lifecycle": [r.name for r in p.lifecycle.rules] + [p.lifecycle.default],
        "segments": [s.name for s in p.segments],
        "triggers": [t.name for t in p.triggers],
        **{k: list(v) for k, v in FIXED.items()},
    }
    if field in listed:
        return [(code, None) for code in listed[field]]
    return data_choices(analytics, field)
