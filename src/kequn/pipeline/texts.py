"""Plain-language findings: playbook templates filled from the profile, as Ibis
string expressions (the same text on every engine)."""

from __future__ import annotations

import re

import ibis
import ibis.expr.types as ir

from kequn.contract.tables import ASSET_CLASS_ZH
from kequn.playbook.model import ASSET_CLASSES

#: the allocation's classes as a banker names them
CLASS_ZH = {c: ASSET_CLASS_ZH[c] for c in ASSET_CLASSES}


def fmt_int(x: ir.NumericValue) -> ir.StringValue:
    return x.round(0).cast("int64").cast("string")


def fmt_1(x: ir.NumericValue) -> ir.StringValue:
    """One decimal, the same on every engine (no float-to-text casts)."""
    tenths = (x.abs() * 10).round(0).cast("int64")
    sign = ibis.ifelse(x < 0, "-", "")
    return sign + (tenths // 10).cast("string") + "." + (tenths % 10).cast("string")


def render(template: str, values: dict[str, ir.StringValue]) -> ir.StringValue:
    parts: list[ir.StringValue] = []
    for i, piece in enumerate(re.split(r"\{([^}]*)\}", template)):
        if i % 2 == 0:
            if piece:
                parts.append(ibis.literal(piece))
        else:
            parts.append(values[piece].fill_null("—"))
    out = parts[0] if parts else ibis.literal("")
    for p in parts[1:]:
        out = out + p
    return out
