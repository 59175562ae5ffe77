"""Excel sheets as bankers open them, written through one helper.

Every cell of every export passes here, so the rules hold everywhere at once:
text a user typed (a group or campaign name, a note) is stored as text, never
as a formula, however it starts (``=HYPERLINK(...)`` stays words); characters
a spreadsheet cannot hold (NUL and the other control characters) are dropped
rather than failing the export; rates are shown as percentages; the header row
stays in view while scrolling."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

#: what makes a spreadsheet read a typed text as a formula or a command
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
PERCENT = "0.0%"


def _value(v: Any) -> Any:
    if isinstance(v, str):
        return ILLEGAL_CHARACTERS_RE.sub("", v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def append(ws: Worksheet, values: Sequence[Any], percent: Iterable[int] = (), header: bool = False) -> None:
    """Adds a row; the columns in ``percent`` (0-based) hold fractions shown as %."""
    ws.append([_value(v) for v in values])
    row = ws.max_row
    rates = set(percent)
    for i in range(len(values)):
        cell = ws.cell(row=row, column=i + 1)
        if isinstance(cell.value, str) and (cell.data_type == "f" or cell.value.startswith(FORMULA_STARTS)):
            cell.data_type = "s"  # stored as text: never evaluated
            cell.quotePrefix = True  # and editing it in Excel keeps it text
        if i in rates and isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
            cell.number_format = PERCENT
        if header:
            cell.font = Font(bold=True)


def finish(ws: Worksheet, header_rows: int = 1) -> None:
    """Keeps the header in view and sizes each column to what it holds."""
    ws.freeze_panes = ws.cell(row=header_rows + 1, column=1)
    for column in ws.columns:
        longest = max((_width(c.value) for c in column), default=8)
        ws.column_dimensions[column[0].column_letter].width = min(max(longest + 2, 8), 60)


def _width(v: Any) -> int:
    text = "" if v is None else str(v)
    # a Chinese character takes about two Latin ones' room
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def workbook() -> tuple[Workbook, Worksheet]:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    return wb, ws


def to_bytes(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
