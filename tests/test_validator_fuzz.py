"""Malformed rows thrown at the validator: it never crashes and never loses a line."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kequn.contract import TABLES
from kequn.contract.schema import REASONS
from kequn.ingest.mapping import Mapping
from kequn.ingest.sources import open_source
from kequn.ingest.stage import stage_table, stage_view
from kequn.ingest.validate import check_table

GOOD = {
    "product_id": ["P1", "P2", "P3"],
    "name": ["活期", "fund A"],
    "type": ["fund", "loan", "x"],
    "risk_level": ["R1", "R5", "R9"],
    "asset_class": ["cash", "equity"],
    "liquidity": ["T0"],
    "min_amount": ["0.00", "10", "1e5", "-3"],
    "lockup_days": ["7", "-1", "x"],
    "customer_id": ["C1", "C2", "C1"],
    "id_number": ["11010519491231002X", "110105194912310021"],
    "gender": ["M", "F", "1"],
    "birth_date": ["1980-01-02", "19800102", "2099-01-01"],
    "home_branch_id": ["B1"],
    "open_date": ["2001-01-01", "2026-13-01"],
    "phone": ["13812345678", "12345"],
    "hukou_local": ["true", "是", "0"],
}
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=12)


@st.composite
def extract(draw: st.DrawFn, table: str) -> tuple[str, list[str]]:
    cols = TABLES[table].column_names
    lines = [",".join(cols)]
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["good", "good", "raw", "short", "long", "blank", "quote"]))
        if kind == "blank":
            lines.append("")
            continue
        width = len(cols) + {"short": -2, "long": 2}.get(kind, 0)
        values = [
            draw(st.one_of(st.sampled_from(GOOD.get(c, [""])), text)) for c in [*cols, "x", "y"][:width]
        ]
        if kind == "raw":
            line = ",".join(values)  # no quoting: commas and quotes break it
        elif kind == "quote":
            line = '"' + ",".join(values)  # an unclosed quote
        else:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow(values)
            line = buf.getvalue()
        lines.append(line)
    endings = draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines)))
    body = "".join(line + end for line, end in zip(lines, endings, strict=True))
    return body, lines


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), table=st.sampled_from(["products", "customers"]))
def test_every_line_is_accepted_or_quarantined(tmp_path: Path, data: st.DataObject, table: str) -> None:
    body, lines = data.draw(extract(table))
    path = tmp_path / f"{table}.csv"
    path.write_text(body, encoding="utf-8", newline="")
    src = open_source(path, None, ",")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    staged = stage_table(con, TABLES[table], [src], Mapping(version=1), tmp_path, date(2026, 11, 20))
    check_table(con, TABLES[table], date(2026, 11, 20), {table}, staged)
    stage_view(con, TABLES[table], staged)  # every row's text, read again

    # what quarantine shows of a rejected row (read again from its line alone)
    # is what the whole file read again shows on that line
    cols = TABLES[table].column_names
    record = "to_json(struct_pack(" + ", ".join(f'"{c}" := s."{c}"' for c in cols) + "))"
    again = dict(con.execute(f"SELECT _line, {record} FROM stage_{table} s").fetchall())
    shown = con.execute(
        f"SELECT line, record FROM quarantine_{table} WHERE reason <> 'malformed_row'"
    ).fetchall()
    assert all(again[line] == text for line, text in shown)

    accepted = con.execute(f"SELECT count(*) FROM accepted_{table}").fetchone()[0]  # type: ignore[index]
    quarantine = con.execute(f"SELECT line, reason, value, record FROM quarantine_{table}").fetchall()
    read = staged[0].rows + staged[0].malformed
    assert read == accepted + len(quarantine)
    assert all(reason in REASONS for _, reason, _, _ in quarantine)

    # every non-blank physical line belongs to exactly one record, accepted or not
    # (an empty line may belong to one too, inside a quoted value)
    covered: list[int] = []
    for start, values in con.execute(
        f"SELECT _line, [{', '.join(TABLES[table].column_names)}] FROM stage_{table}"
    ).fetchall():
        span = sum((v or "").count("\n") for v in values) + 1
        covered.extend(range(start, start + span))
    for start, reason, value, _ in quarantine:
        if reason == "malformed_row":
            covered.extend(range(start, start + (value or "").rstrip("\r\n").count("\n") + 1))
    data_lines = {i + 1 for i in range(1, len(lines))}
    non_blank = {i + 1 for i, line in enumerate(lines) if i > 0 and line != ""}
    assert len(covered) == len(set(covered)), "a line counted twice"
    assert non_blank <= set(covered) <= data_lines
