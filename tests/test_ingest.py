import csv
import io
import json
import shutil
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from kequn import warehouse
from kequn.contract import TABLES
from kequn.core.errors import ConfigError, InputError
from kequn.ingest import ingest, snapshots
from kequn.synth.core_style import export_core_style

from .conftest import AS_OF, assert_same_snapshot, make_bank, snapshot_tables


def test_clean_bank_ingests_with_nothing_quarantined(bank_store: Path, bank_dir: Path) -> None:
    meta = json.loads((bank_dir / "extract.json").read_text(encoding="utf-8"))
    (snap,) = snapshots(bank_store)
    assert snap.snapshot_id == AS_OF.isoformat()
    for t in snap.report["tables"]:  # type: ignore[union-attr]
        assert t["quarantined"] == 0, t
        assert t["read"] == t["accepted"] == meta["rows"][t["table"]]
    tables = snapshot_tables(bank_store)
    assert tables["customers"].num_rows == 2000
    # typed: money is exact decimal, times carry the Beijing offset
    assert str(tables["holdings"].schema.field("balance").type) == "decimal128(18, 2)"
    assert tables["transactions"].schema.field("ts").type.tz == "Asia/Shanghai"


def test_dirty_extract_quarantines_exactly_the_injected_defects(tmp_path: Path) -> None:
    folder = make_bank(tmp_path, "dirty", dirty=0.02)
    report = ingest(folder, tmp_path / "dirty.duckdb")
    with open(folder / "dirty_manifest.csv", encoding="utf-8", newline="") as fh:
        manifest = {(r["table"], r["file"], int(r["line"])): r for r in csv.DictReader(fh)}
    assert len(manifest) > 500
    assert {r["reason"] for r in manifest.values()} == {
        "bad_id_check_digit",
        "missing_required",
        "future_date",
        "orphan_foreign_key",
        "duplicate_key",
        "negative_deposit_balance",
        "unknown_product_code",
        "unparseable_amount",
    }
    con = warehouse.reader(tmp_path / "dirty.duckdb", "all")
    quarantined = {
        (r[0], r[1], r[2]): (r[3], r[4], r[5])
        for r in con.execute(
            "SELECT table_name, file, line, reason, problems, record FROM quarantine"
        ).fetchall()
    }
    for key, defect in manifest.items():
        assert key in quarantined, f"injected {defect} was not quarantined"
        reason, problems, _ = quarantined[key]
        assert f"{defect['field']}:{defect['reason']}" in problems.split(";"), (defect, problems)
    # anything else quarantined is a clean row whose parent row was rejected
    keys = {name: TABLES[name].primary_key for name in TABLES}
    rejected_parents = {
        (t, json.loads(rec)[keys[t][0]]) for (t, _, _), (_, _, rec) in quarantined.items() if rec
    }
    for key, (reason, problems, record) in quarantined.items():
        if key in manifest:
            continue
        assert reason == "parent_quarantined", (key, problems)
        row = json.loads(record)
        table = TABLES[key[0]]
        parents = [(fk.ref_table, row[fk.columns[0]]) for fk in table.foreign_keys]
        assert any(p in rejected_parents for p in parents), (key, row)
    for t in report.tables:
        assert t.read == t.accepted + t.quarantined


def test_a_snapshot_trimmed_in_place_holds_exactly_the_rows_the_checks_accepted(tmp_path: Path) -> None:
    """The checks write their typed rows into the new snapshot's file, and
    publishing removes the rejected rows and helper columns there: each table
    must hold what checking in the stage alone accepts (the form ingest had
    before, copying every accepted row), column for column and row for row."""
    from kequn.ingest.mapping import Mapping
    from kequn.ingest.run import _sources, _validate, stage_connection

    folder = make_bank(tmp_path, "dirty", dirty=0.03)
    report = ingest(folder, tmp_path / "dirty.duckdb", accept="a test of dirty rows")
    assert report.quarantined > 500
    (tmp_path / "scratch").mkdir()
    stage = stage_connection(tmp_path / "scratch", "500MB")
    published = warehouse.reader(tmp_path / "dirty.duckdb")
    try:
        sources, _ = _sources(folder, Mapping(version=1))
        _validate(stage, tmp_path / "scratch", sources, Mapping(version=1), AS_OF, lambda *_: None)
        for name, table in TABLES.items():
            columns = ", ".join(f'"{c}"' for c in table.column_names)
            accepted = stage.execute(
                f"SELECT count(*), sum(hash(t)) FROM (SELECT {columns} FROM accepted_{name}) t"
            ).fetchone()
            kept = published.execute(f"SELECT count(*), sum(hash(t)) FROM main.{name} t").fetchone()
            assert kept == accepted, name
            described = [r[0] for r in published.execute(f"DESCRIBE main.{name}").fetchall()]
            assert described == list(table.column_names), name
    finally:
        stage.close()
        published.close()


def test_a_table_in_parts_quarantines_a_row_of_its_second_part_on_its_own_line(
    tmp_path: Path, bank_dir: Path, bank_store: Path
) -> None:
    """Each part of a table is read into the same table, one after the other: a
    bad row in the second part is quarantined under that part's name, line and
    text, and every other row is in the snapshot as if the table were one file."""
    folder = tmp_path / "parts"
    shutil.copytree(bank_dir, folder)
    lines = (folder / "transactions.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "transactions.csv").unlink()
    (folder / "transactions").mkdir()
    half = len(lines) // 2
    (folder / "transactions" / "part-1.csv").write_text("".join(lines[:half]), encoding="utf-8")
    second = [lines[0], *lines[half:]]
    header = next(csv.reader([lines[0]]))
    bad_at = 40  # the line in part 2
    row = next(csv.reader([second[bad_at - 1]]))
    row[header.index("amount")] = "twelve yuan"
    txn_id = row[header.index("txn_id")]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    second[bad_at - 1] = buf.getvalue()
    (folder / "transactions" / "part-2.csv").write_text("".join(second), encoding="utf-8")
    store = tmp_path / "parts.duckdb"
    report = ingest(folder, store)
    (transactions,) = [t for t in report.tables if t.table == "transactions"]
    assert [(f.file, f.read, f.quarantined) for f in transactions.files] == [
        ("part-1.csv", half - 1, 0),
        ("part-2.csv", len(second) - 1, 1),
    ]
    con = warehouse.reader(store)
    try:
        found = con.execute("SELECT file, line, field, value, reason FROM quarantine").fetchall()
        assert found == [("part-2.csv", bad_at, "amount", "twelve yuan", "unparseable_amount")]
        kept = con.execute("SELECT count(*) FROM transactions WHERE txn_id = ?", [txn_id]).fetchone()
        assert kept == (0,)
    finally:
        con.close()
    whole = snapshot_tables(bank_store)["transactions"]
    parted = snapshot_tables(store)["transactions"]
    assert parted.num_rows == whole.num_rows - 1
    assert parted.equals(whole.filter(pc.invert(pc.equal(whole["txn_id"], txn_id))))


def test_gbk_ingests_to_the_same_snapshot(tmp_path: Path, bank_store: Path) -> None:
    folder = make_bank(tmp_path, "gbk", encoding="gbk")
    ingest(folder, tmp_path / "gbk.duckdb")
    assert_same_snapshot(tmp_path / "gbk.duckdb", bank_store)


def test_parquet_ingests_to_the_same_snapshot(tmp_path: Path, bank_store: Path) -> None:
    folder = make_bank(tmp_path, "pq", fmt="parquet")
    ingest(folder, tmp_path / "pq.duckdb")
    assert_same_snapshot(tmp_path / "pq.duckdb", bank_store)


def test_core_system_export_ingests_through_its_mapping(
    tmp_path: Path, bank_dir: Path, bank_store: Path
) -> None:
    core = export_core_style(bank_dir, tmp_path / "core")
    header = (core / "客户信息.csv").read_bytes().decode("gbk").splitlines()[0]
    assert header.startswith("客户号,客户姓名,证件号码")
    report = ingest(core, tmp_path / "core.duckdb", mapping_file=core / "mapping.toml")
    assert report.quarantined == 0
    assert_same_snapshot(tmp_path / "core.duckdb", bank_store)


def test_same_input_twice_gives_the_same_snapshot(tmp_path: Path, bank_dir: Path, bank_store: Path) -> None:
    store = tmp_path / "twice.duckdb"
    first = ingest(bank_dir, store)
    second = ingest(bank_dir, store)
    assert first.digest == second.digest
    assert len(snapshots(store)) == 1
    assert_same_snapshot(store, bank_store)


def test_earlier_snapshots_are_kept_and_views_show_the_latest(tmp_path: Path, bank_dir: Path) -> None:
    store = tmp_path / "dated.duckdb"
    ingest(bank_dir, store, as_of=date(2026, 11, 20))
    later = make_bank(tmp_path, "later", customers=300, as_of=date(2026, 12, 20))
    ingest(later, store, accept="another bank, on purpose")
    found = snapshots(store)
    assert [s.snapshot_id for s in found] == ["2026-11-20", "2026-12-20"]
    con = warehouse.reader(store, "all")
    assert con.execute("SELECT count(*) FROM customers").fetchone() == (300,)
    assert con.execute("SELECT count(*) FROM snap_20261120.customers").fetchone() == (2000,)
    # ingesting an older date again does not move "latest"
    con.close()
    ingest(bank_dir, store, as_of=date(2026, 11, 20))
    con = warehouse.reader(store, "all")
    assert con.execute("SELECT count(*) FROM customers").fetchone() == (300,)


def test_a_missing_table_file_is_named(tmp_path: Path, bank_dir: Path) -> None:
    folder = tmp_path / "partial"
    shutil.copytree(bank_dir, folder)
    (folder / "holdings.csv").unlink()
    with pytest.raises(InputError, match=r"holdings\.csv"):
        ingest(folder, tmp_path / "x.duckdb")
    assert not (tmp_path / "x.duckdb").exists()


def test_an_optional_table_the_extract_does_not_carry_is_no_error(tmp_path: Path, bank_dir: Path) -> None:
    from kequn.contract import TABLES

    optional = [name for name, t in TABLES.items() if t.optional]
    assert optional
    folder = tmp_path / "without"
    shutil.copytree(bank_dir, folder)
    for name in optional:
        (folder / f"{name}.csv").unlink(missing_ok=True)
    report = ingest(folder, tmp_path / "x.duckdb")
    counts = {t.table: t.read for t in report.tables}
    assert all(counts.get(name, 0) == 0 for name in optional) and counts["customers"] > 0


def test_a_wrong_header_is_named_before_any_row_is_read(tmp_path: Path, bank_dir: Path) -> None:
    folder = tmp_path / "badheader"
    shutil.copytree(bank_dir, folder)
    path = folder / "customers.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace('"birth_date"', '"birthday"')
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(InputError) as err:
        ingest(folder, tmp_path / "x.duckdb")
    assert "customers.csv" in str(err.value) and "birth_date" in str(err.value)


def test_an_unreadable_encoding_is_named(tmp_path: Path, bank_dir: Path) -> None:
    folder = tmp_path / "latin"
    shutil.copytree(bank_dir, folder)
    path = folder / "branches.csv"
    path.write_bytes(path.read_bytes() + b'"X1","\xff\xfe\xfa","B00","outlet",\n')
    with pytest.raises(InputError, match=r"branches\.csv"):
        ingest(folder, tmp_path / "x.duckdb")
    with pytest.raises(InputError, match="cannot be read as utf-8"):
        ingest(folder, tmp_path / "x.duckdb", mapping_file=_mapping(tmp_path, 'encoding = "utf-8"'))


def _mapping(folder: Path, body: str) -> Path:
    path = folder / "mapping.toml"
    path.write_text("version = 1\n" + body + "\n", encoding="utf-8")
    return path


def test_mapping_errors_name_line_and_reason(tmp_path: Path, bank_dir: Path) -> None:
    path = _mapping(
        tmp_path,
        """
[tables.customers.columns]
customer_id = "客户号"
birthday = "出生日期"

[tables.customers.formats]
birth_date = "YYYYMMDD"

[tables.customers.values]
gender = { "男" = "M", "未知" = "" }

[tables.clients]
files = ["x.csv"]
""",
    )
    with pytest.raises(ConfigError) as err:
        ingest(bank_dir, tmp_path / "x.duckdb", mapping_file=path)
    text = str(err.value)
    assert f"{path}:5: customers has no column 'birthday'" in text
    assert f"{path}:8: 'YYYYMMDD' is not a strptime pattern" in text
    assert f"{path}:11: customers.gender is required; a code cannot leave it empty" in text
    assert f"{path}:13: unknown table 'clients'" in text


def test_an_unmapped_required_column_stops_before_reading_rows(tmp_path: Path, bank_dir: Path) -> None:
    path = _mapping(tmp_path, '[tables.customers.columns]\ncustomer_id = "客户号"\n')
    with pytest.raises(InputError) as err:
        ingest(bank_dir, tmp_path / "x.duckdb", mapping_file=path)
    assert "customers.csv" in str(err.value) and "customer_id (as '客户号')" in str(err.value)


def test_malformed_lines_are_quarantined_with_their_line(tmp_path: Path, bank_dir: Path) -> None:
    folder = tmp_path / "ragged"
    shutil.copytree(bank_dir, folder)
    path = folder / "products.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(5, '"P_BAD","too few columns"\n')
    lines.insert(9, '"P_BAD2",' + ",".join(['"x"'] * 30) + "\n")
    lines.insert(11, lines[1])  # a duplicate of the first product, on line 12
    path.write_text("".join(lines), encoding="utf-8")
    report = ingest(folder, tmp_path / "ragged.duckdb")
    products = next(t for t in report.tables if t.table == "products")
    assert products.read == len(lines) - 1
    assert products.reasons == {"malformed_row": 2, "duplicate_key": 1}
    con = warehouse.reader(tmp_path / "ragged.duckdb", "all")
    got = con.execute("SELECT line, value, reason FROM quarantine ORDER BY line").fetchall()
    # the lines after a malformed one keep their true line numbers
    assert [(g[0], g[2]) for g in got] == [(6, "malformed_row"), (10, "malformed_row"), (12, "duplicate_key")]
    assert "too few columns" in got[0][1]
    assert con.execute("SELECT count(*) FROM products").fetchone() == (len(lines) - 4,)


def test_a_header_with_a_nameless_column_is_refused_with_its_position(tmp_path: Path) -> None:
    """The fuzz found it: ``customer_id,,name`` ended in a DuckDB binder error."""
    from kequn.core.errors import InputError
    from kequn.ingest.sources import read_header

    path = tmp_path / "customers.csv"
    path.write_text("customer_id,,name\nC1,x,张三\n", encoding="utf-8")
    with pytest.raises(InputError, match="position 2"):
        read_header(path, "utf-8", ",")
