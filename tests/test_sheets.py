"""Every export's cells pass through one helper: typed text is never a formula,
characters a sheet cannot hold never fail the export, rates read as %."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from kequn.core import sheets


def _reload(data: bytes):  # type: ignore[no-untyped-def]
    return load_workbook(io.BytesIO(data)).active


@settings(max_examples=150, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.sampled_from(["=", "+", "-", "@", "\t"]).flatmap(
            lambda s: st.text(max_size=30).map(lambda t: s + t)
        ),
        st.just('=HYPERLINK("http://evil.example","点我")'),
        st.just("\x00\x00林晓娟"),
    )
)
def test_typed_text_is_kept_as_text_never_as_a_formula(text: str) -> None:
    wb, ws = sheets.workbook()
    sheets.append(ws, ["名称", "值"], header=True)
    sheets.append(ws, [text, 1])
    sheets.finish(ws)
    cell = _reload(sheets.to_bytes(wb)).cell(row=2, column=1)
    assert cell.data_type != "f"
    # XML keeps line ends as \n
    kept = ILLEGAL_CHARACTERS_RE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    assert (cell.value or "") == kept


def test_rates_are_percentages_the_header_stays_and_nan_is_empty() -> None:
    wb, ws = sheets.workbook()
    sheets.append(ws, ["客户经理", "触达率", "金额"], header=True)
    sheets.append(ws, ["张三", 0.4567, float("nan")], percent=[1])
    sheets.finish(ws)
    back = _reload(sheets.to_bytes(wb))
    assert back.freeze_panes == "A2"
    assert back.cell(row=2, column=2).number_format == sheets.PERCENT
    assert back.cell(row=2, column=2).value == 0.4567
    assert back.cell(row=2, column=3).value is None
    assert back.cell(row=1, column=1).font.bold
