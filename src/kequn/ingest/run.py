"""``kequn ingest``: one nightly extract in, one dated snapshot out, nothing lost."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from kequn import warehouse
from kequn.contract import TABLES, load_order
from kequn.contract.tables import ATTRIBUTE_TABLES, LIABILITY_TYPES, PRODUCT_TYPES
from kequn.core.clock import today
from kequn.core.errors import InputError, KequnError
from kequn.core.faults import point
from kequn.ingest.guards import Figures, Limits, check, enforce, figures, never_empty
from kequn.ingest.mapping import Mapping, load_mapping
from kequn.ingest.sources import SourceFile, open_source, table_files
from kequn.ingest.sql import literal
from kequn.ingest.stage import stage_table
from kequn.ingest.store import publish, schema_for, seal, snapshots
from kequn.ingest.validate import FILES_DDL, check_table

Progress = Callable[[str, int, int], None]
EXTRACT_FILE = "extract.json"
DEFAULT_AUM_TYPES = tuple(t for t in PRODUCT_TYPES if t not in LIABILITY_TYPES)
NOT_DATA = {
    EXTRACT_FILE,
    "dirty_manifest.csv",
    "adapt_report.json",
    "mapping.toml",
    "README.md",
    "history_truth.csv",
}

#: the stage's memory before it spills to the scratch folder: at 200,000 customers a
#: 1.5 GB stage ingests as fast as a 4 GB one (42 s against 44 s) and peaks at 1.9 GB
#: against 3.3 GB in all. The process peaks above it by what DuckDB does not count,
#: more as the bank grows: at 4,000,000 customers 1,500 MB peaked at 2,061 MiB,
#: 1,400 MB at 1,903 MiB and 1,300 MB at 1,736 MiB (at 1,000,000, 1,300 MB took
#: 1.07 times as long as 1,500 MB, run in turn; 1,400 MB 1.89 times DuckDB's own
#: typed load of the same files)
STAGE_MEMORY = "1400MB"


@dataclass
class FileCount:
    file: str
    encoding: str
    read: int
    accepted: int
    quarantined: int


@dataclass
class TableCount:
    table: str
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    files: list[FileCount] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestReport:
    snapshot_id: str
    as_of: str
    store: str
    source: str
    digest: str
    seconds: float
    tables: list[TableCount]
    ignored_files: list[str] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    #: what the guards measured, what moved beyond them, and who accepted it why
    guards: dict[str, object] = field(default_factory=dict)
    #: the bank's own attributes kept beside the contract's columns: table -> name ->
    #: type and label
    attributes: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    @property
    def accepted_reason(self) -> str | None:
        return self.guards.get("reason") if self.guards else None  # type: ignore[return-value]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables)


def resolve_as_of(folder: Path, stated: date | None) -> date:
    if stated:
        return stated
    meta = folder / EXTRACT_FILE
    if meta.is_file():
        try:
            return date.fromisoformat(json.loads(meta.read_text(encoding="utf-8"))["as_of"])
        except (KeyError, ValueError, json.JSONDecodeError) as exc:
            raise InputError(meta, f"has no readable as_of date ({exc})") from None
    return today()


def _sources(folder: Path, mapping: Mapping) -> tuple[dict[str, list[SourceFile]], dict[str, list[str]]]:
    found: dict[str, list[SourceFile]] = {}
    ignored: dict[str, list[str]] = {}
    for name in load_order():
        table = mapping.table(name)
        tm = mapping.for_table(name)
        paths = table_files(folder, name, tm.files)
        if not paths:
            if table.optional:
                continue
            raise InputError(
                folder / f"{name}.csv",
                f"missing: table {name} needs {name}.csv, {name}.parquet or a folder {name}/ of parts",
            )
        sources = [
            open_source(p, tm.encoding or mapping.encoding, tm.delimiter or mapping.delimiter) for p in paths
        ]
        for src in sources:
            header = set(src.header)
            missing = [
                c
                for c in table.required_columns
                if c not in tm.constants and tm.columns.get(c, c) not in header
            ]
            if missing:
                wanted = ", ".join(f"{c} (as {tm.columns[c]!r})" if c in tm.columns else c for c in missing)
                raise InputError(
                    src.path,
                    f"header lacks required column(s) {wanted} of "
                    f"table {name}; header is: {', '.join(src.header)}",
                )
            used = {tm.columns.get(c, c) for c in table.column_names}
            extra = sorted(header - used)
            if extra:
                ignored[src.name] = extra
        found[name] = sources
    return found, ignored


def ingest(
    folder: Path,
    into: Path,
    as_of: date | None = None,
    mapping_file: Path | None = None,
    progress: Progress | None = None,
    memory_limit: str = STAGE_MEMORY,
    limits: Limits | None = None,
    accept: str | None = None,
    accepted_by: str | None = None,
) -> IngestReport:
    """Validates the extract in ``folder`` and publishes it as the snapshot of
    ``as_of`` in ``into``; raises ``ExtractRefused`` (publishing nothing) when a
    required table is empty, a table was wholly quarantined, or the extract
    moved beyond ``limits`` from the snapshot before it and ``accept`` gives no
    reason to publish it anyway."""
    limits = limits or Limits(aum_types=DEFAULT_AUM_TYPES)
    started = time.monotonic()
    folder = Path(folder)
    into = Path(into)
    if not folder.is_dir():
        raise InputError(folder, "is not a folder of extract files")
    mapping = load_mapping(mapping_file) if mapping_file else Mapping(version=1)
    as_of = resolve_as_of(folder, as_of)
    report_progress = progress or (lambda stage, done, total: None)
    sources, ignored_columns = _sources(folder, mapping)
    used = {s.path.resolve() for files in sources.values() for s in files}
    ignored_files = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.resolve() not in used and p.name not in NOT_DATA and not p.name.startswith(".")
    )
    digest = hashlib.sha256(
        "".join(s.digest for files in sources.values() for s in files).encode()
    ).hexdigest()

    into.parent.mkdir(parents=True, exist_ok=True)
    with open(str(into) + ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KequnError(f"{into}: another ingest is writing to this store") from None
        for stale in into.parent.glob(into.name + ".stage-*"):
            # left by a killed ingest
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        # a snapshot file no catalog lists was left by a killed ingest: only an
        # ingest writes one, and this one holds the lock
        warehouse.clear_unlisted(into, "snap_")
        stage = into.with_name(f"{into.name}.stage-{uuid.uuid4().hex[:8]}")
        scratch = Path(str(stage) + ".files")
        scratch.mkdir()
        # the stage lives in memory (spilling to the scratch folder when the bank is
        # big): nothing of it is committed to disk, and a killed ingest leaves no stage.
        # The checked rows are written straight into the new snapshot's file, which is
        # deleted if the extract is refused and listed only once it is whole
        con = stage_connection(scratch, memory_limit)
        contract = {name: mapping.table(name) for name in TABLES}
        try:
            with warehouse.new_artifact(con, into, schema_for(as_of), "snapshot", as_of) as made:
                tables = _validate(con, scratch, sources, mapping, as_of, report_progress, made.name)
                never_empty(
                    [
                        (
                            t.table,
                            t.read,
                            t.accepted,
                            TABLES[t.table].optional or mapping.for_table(t.table).empty,
                        )
                        for t in tables
                    ]
                )
                guard = enforce(
                    check(
                        *_previous_figures(into, as_of, limits),
                        figures(con, "accepted_", limits.aum_types),
                        [(t.table, t.read, t.quarantined) for t in tables],
                        limits,
                    ),
                    accept,
                    accepted_by,
                )
                report_progress("publish", 0, 1)
                erased = seal(into, con, made.name, contract)
            report = IngestReport(
                snapshot_id=as_of.isoformat(),
                as_of=as_of.isoformat(),
                store=str(into),
                source=str(folder.resolve()),
                digest=digest,
                seconds=round(time.monotonic() - started, 2),
                tables=tables,
                ignored_files=ignored_files,
                ignored_columns=ignored_columns,
                guards=asdict(guard),
                attributes={t: a for t in ATTRIBUTE_TABLES if (a := mapping.attributes(t))},
            )
            publish(into, made, report.source, digest, report.to_dict(), erased)
            report_progress("publish", 1, 1)
            return report
        finally:
            con.close()
            shutil.rmtree(scratch, ignore_errors=True)


def stage_connection(scratch: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute(f"SET memory_limit = {literal(memory_limit)}")
    con.execute(f"SET temp_directory = {literal(str(scratch))}")
    con.execute(f"SET threads = {max(1, min(4, os.cpu_count() or 1))}")
    return con


def _validate(
    con: duckdb.DuckDBPyConnection,
    scratch: Path,
    sources: dict[str, list[SourceFile]],
    mapping: Mapping,
    as_of: date,
    progress: Progress,
    into: str | None = None,
) -> list[TableCount]:
    """Reads and checks every table in ``con`` (the checked rows written ``into``
    the snapshot schema being made, see ``stage.checked_table``):
    ``accepted_<table>`` and the ``quarantine`` are what publishing reads."""
    con.execute(FILES_DDL)
    # every file of the extract, numbered as each table stages them, in one statement
    listed = [(name, i, src.name) for name, srcs in sources.items() for i, src in enumerate(srcs)]
    if listed:
        rows = ", ".join(f"({literal(t)}, {i}, {literal(f)})" for t, i, f in listed)
        con.execute(f"INSERT INTO files VALUES {rows}")
    order = load_order()
    present = set(sources)
    counts: list[TableCount] = []
    for i, name in enumerate(order):
        progress(f"check {name}", i, len(order))
        table = mapping.table(name)
        staged = stage_table(con, table, sources.get(name, []), mapping, scratch, as_of, into)
        point("ingest.stage")
        check_table(con, table, as_of, present, staged)
        point("ingest.validate")
        if staged or not table.optional:  # an optional table the extract leaves out is not reported
            counts.append(count_of(con, name, staged))
    progress("check", len(order), len(order))
    union = " UNION ALL ".join(
        f"SELECT q.table_name, f.file, q.line, q.field, q.value, q.reason, q.problems, "
        f"q.detail, q.record FROM quarantine_{n} q JOIN files f ON f.table_name = q.table_name "
        f"AND f.idx = q._file"
        for n in order
    )
    con.execute(f"CREATE TABLE quarantine AS {union}")
    return counts


def _previous_figures(into: Path, as_of: date, limits: Limits) -> tuple[Figures | None, str | None]:
    """The measures of the latest snapshot before ``as_of``, if there is one."""
    earlier = [s for s in snapshots(into) if s.as_of < as_of]
    if not earlier:
        return None, None
    con = warehouse.reader(into, [earlier[-1].schema])
    try:
        return figures(con, f"{earlier[-1].schema}.", limits.aum_types), earlier[-1].snapshot_id
    finally:
        con.close()


def count_of(con: duckdb.DuckDBPyConnection, name: str, staged: list) -> TableCount:  # type: ignore[type-arg]
    accepted = dict(con.execute(f"SELECT _file, count(*) FROM accepted_{name} GROUP BY 1").fetchall())
    quarantined = dict(con.execute(f"SELECT _file, count(*) FROM quarantine_{name} GROUP BY 1").fetchall())
    tc = TableCount(table=name)
    for s in staged:
        fc = FileCount(
            file=s.source.name,
            encoding=s.source.encoding,
            read=s.rows + s.malformed,
            accepted=accepted.get(s.index, 0),
            quarantined=quarantined.get(s.index, 0),
        )
        if fc.read != fc.accepted + fc.quarantined:
            raise KequnError(
                f"{s.source.path}: {fc.read} rows read but {fc.accepted} accepted "
                f"and {fc.quarantined} quarantined; refusing to publish"
            )
        tc.files.append(fc)
        tc.read += fc.read
        tc.accepted += fc.accepted
        tc.quarantined += fc.quarantined
    tc.reasons = dict(
        sorted(con.execute(f"SELECT reason, count(*) FROM quarantine_{name} GROUP BY 1").fetchall())
    )
    return tc
