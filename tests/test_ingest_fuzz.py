"""Ingest under mutated input: bytes flipped, cut, doubled or inserted in any
file, headers renamed or dropped, mapping files edited at random. Every case
ends in a clean refusal (a KequnError naming the file) or a published snapshot
whose every file adds up (read = accepted + quarantined), never a traceback;
and the snapshot before it is never touched."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kequn import warehouse
from kequn.core.errors import KequnError
from kequn.ingest import ingest, snapshots
from kequn.synth import SynthOptions, synthesize
from kequn.synth.core_style import export_core_style

pytestmark = pytest.mark.slow
FILES = ("customers.csv", "holdings.csv", "transactions.csv", "consents.csv", "products.csv", "managers.csv")
NASTY = [b"\x00", b"\xef\xbb\xbf", b'"', b"\n", b"\r\n", b",", b"\xff\xfe", b"\xe4\xb8", b"\t", b";;", b'""']


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    synthesize(SynthOptions(customers=60, seed=5, out=root / "first", as_of=date(2026, 11, 1)))
    synthesize(SynthOptions(customers=60, seed=5, out=root / "later", as_of=date(2026, 11, 2)))
    export_core_style(root / "later", root / "core")
    store = root / "bank.duckdb"
    ingest(root / "first", store)
    return {"root": root, "store": store, "later": root / "later", "core": root / "core"}


def _digest(store: Path) -> str:
    con = warehouse.reader(store, "all")
    h = hashlib.sha256()
    try:
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'snap_20261101' ORDER BY 1"
        ).fetchall()
        assert len(tables) >= 6, tables
        for (table,) in tables:
            h.update(
                repr(
                    con.execute(f"SELECT count(*), bit_xor(hash(t)) FROM snap_20261101.{table} t").fetchone()
                ).encode()
            )
        # the snapshot before: its catalog row unchanged (a new one may follow it)
        h.update(
            repr(
                con.execute("SELECT snapshot_id, digest FROM kequn_snapshots ORDER BY 1 LIMIT 1").fetchall()
            ).encode()
        )
    finally:
        con.close()
    return h.hexdigest()


mutation = st.one_of(
    st.tuples(st.just("flip"), st.sampled_from(FILES), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.sampled_from(FILES), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.sampled_from(FILES), st.floats(0, 1), st.integers(0, len(NASTY) - 1)),
    st.tuples(st.just("double"), st.sampled_from(FILES), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("header"), st.sampled_from(FILES), st.floats(0, 1), st.integers(0, 3)),
)


def _mutate(folder: Path, how: str, file: str, where: float, arg: int) -> None:
    path = folder / file
    data = path.read_bytes()
    at = int(len(data) * where)
    if how == "flip":
        data = data[:at] + bytes([arg]) + data[at + 1 :]
    elif how == "cut":
        data = data[:at]
    elif how == "insert":
        data = data[:at] + NASTY[arg] + data[at:]
    elif how == "double":
        line_end = data.find(b"\n", at)
        start = data.rfind(b"\n", 0, at) + 1
        if line_end > 0:
            data = data[: line_end + 1] + data[start : line_end + 1] + data[line_end + 1 :]
    else:  # the header: a column renamed, dropped, repeated or emptied
        header, _, rest = data.partition(b"\n")
        cols = header.split(b",")
        i = int(where * (len(cols) - 1))
        if arg == 0:
            cols[i] = b'"renamed"'
        elif arg == 1:
            del cols[i]
        elif arg == 2:
            cols.append(cols[i])
        else:
            cols = [b""]
        data = b",".join(cols) + b"\n" + rest
    path.write_bytes(data)


def _case(world: dict[str, Path], factory: pytest.TempPathFactory, extract: str) -> tuple[Path, str, Path]:
    """A fresh copy of the store, its digest, and a copy of ``extract`` to spoil."""
    work = factory.mktemp("case")
    store = warehouse.copy_store(world["store"], work / "bank.duckdb")
    folder = work / "extract"
    shutil.copytree(world[extract], folder)
    return store, _digest(store), folder


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(mutation, min_size=1, max_size=3))
def test_mutated_extracts_end_cleanly_and_leave_the_snapshot_before(
    world: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    mutations: list[tuple[str, str, float, int]],
) -> None:
    store, before, folder = _case(world, tmp_path_factory, "later")
    for m in mutations:
        _mutate(folder, *m)
    try:
        report = ingest(folder, store, accept="fuzzing")
    except KequnError as exc:
        assert str(exc).strip(), "a refusal says why"
    else:
        for t in report.tables:
            for f in t.files:
                assert f.read == f.accepted + f.quarantined, f
        assert [s.snapshot_id for s in snapshots(store)][-1] == report.snapshot_id
    assert _digest(store) == before


mapping_edit = st.tuples(
    st.sampled_from(["delete_line", "duplicate_line", "garble_value", "garble_key", "truncate"]),
    st.floats(0, 1),
    st.text(alphabet="abc01=[]\"'.%Y,\\ ", max_size=8),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(mapping_edit, min_size=1, max_size=3))
def test_edited_mapping_files_are_refused_with_a_line_or_ingest_cleanly(
    world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[str, float, str]]
) -> None:
    store, before, folder = _case(world, tmp_path_factory, "core")
    path = folder / "mapping.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    for how, where, junk in edits:
        if not lines:
            break
        i = int(where * (len(lines) - 1))
        if how == "delete_line":
            del lines[i]
        elif how == "duplicate_line":
            lines.insert(i, lines[i])
        elif how == "garble_value" and "=" in lines[i]:
            key, _, _ = lines[i].partition("=")
            lines[i] = f"{key}= {junk}"
        elif how == "garble_key":
            lines[i] = junk + lines[i]
        else:
            lines = lines[: i + 1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        ingest(folder, store, mapping_file=path, accept="fuzzing")
    except KequnError as exc:
        assert str(exc).strip()
    assert _digest(store) == before
