"""The fault matrix: every named fault point of ingest, run, decide and the
workbench's outcome write, each a SIGKILL of the process at that moment, and a
dropped PostgreSQL connection mid-decide. After each, both stores are exactly
as before the step (nothing half-written), and running the step again gives
what an unbroken run gives."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text

from kequn import warehouse
from kequn.core.clock import SHANGHAI
from kequn.core.faults import POINTS
from kequn.store import open_store
from kequn.store.models import Base, Instant
from kequn.synth import SynthOptions, synthesize
from kequn.synth.nightly import next_night
from kequn.web.services.users import create_user
from tests.conftest import AS_OF, PG_ADMIN
from tests.cycle.warm import Warm

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults")]
CUSTOMERS = 1_500
#: columns that say when something happened, not what: two unbroken runs differ there
VOLATILE = {"hash", "prev_hash", "file", "pairs_file", "published_at", "ingested_at", "report", "summary"}


#: the worker's warm interpreter: each command a process of its own, forked from
#: it (a killed command is a killed process; ``tests/test_cli.py`` runs the cold
#: entry point), started on first use
_WARM: list[Warm] = []


def kequn(
    *args: str, url: str, clock: datetime, fault: str | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEQUN_STORE_URL": url, "KEQUN_CLOCK": clock.isoformat()}
    env.pop("KEQUN_FAULT", None)
    if fault:
        env["KEQUN_FAULT"] = fault
    if not _WARM:
        _WARM.append(Warm(cwd, {k: v for k, v in os.environ.items() if k != "KEQUN_FAULT"}))
    out, err = cwd / f"cmd-{uuid.uuid4().hex[:8]}.out", cwd / f"cmd-{uuid.uuid4().hex[:8]}.err"
    done = _WARM[0].run(list(args), env, cwd, out, err)
    said = out.read_text(errors="replace"), err.read_text(errors="replace")
    out.unlink()
    err.unlink()
    return subprocess.CompletedProcess([*args], done.code, *said)


def _listed(store: Path) -> list[warehouse.Artifact]:
    con = warehouse.reader(store, [])
    try:
        return sorted(warehouse.artifacts(con), key=lambda a: a.file)
    finally:
        con.close()


def duck_digest(store: Path) -> str:
    """What the analytical store holds: its catalogs' content and every table of
    every published artifact, row by row."""
    if not store.exists():
        return "absent"
    con = warehouse.reader(store, "all")
    h = hashlib.sha256()
    try:
        for sql in (
            "SELECT name, kind, as_of FROM kequn_files ORDER BY name",
            "SELECT snapshot_id, as_of, schema_name, digest FROM kequn_snapshots ORDER BY 1",
            "SELECT run_id, snapshot_id, as_of, playbook_digest FROM kequn_runs ORDER BY 1",
        ):
            try:
                h.update(repr(con.execute(sql).fetchall()).encode())
            except Exception:
                h.update(b"-")
        for db, table in con.execute(
            "SELECT database_name, table_name FROM duckdb_tables() "
            "WHERE database_name LIKE 'snap_%' OR database_name LIKE 'run_%' "
            "OR database_name LIKE 'decision_%' "
            "ORDER BY 1, 2"
        ).fetchall():
            row = con.execute(f"SELECT count(*), bit_xor(hash(t)) FROM {db}.{table} t").fetchone()
            h.update(f"{db}.{table}:{row}".encode())
    finally:
        con.close()
    return h.hexdigest()


def ops_digest(url: str) -> dict[str, str]:
    """Every table of the operational store, sorted, moments left out: a digest
    per table, so a difference names the table it is in."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    digests: dict[str, str] = {}
    try:
        names = set(inspect(engine).get_table_names())
        with engine.connect() as con:
            for table in Base.metadata.sorted_tables:
                if table.name not in names:
                    continue
                # surrogate keys number rows in whatever order a parallel query gave them
                surrogate = {c.name for c in table.primary_key.columns if c.autoincrement is True}
                cols = [
                    c.name
                    for c in table.columns
                    if not isinstance(c.type, Instant) and c.name not in VOLATILE | surrogate
                ]
                rows = con.execute(text(f"SELECT {', '.join(cols)} FROM {table.name}")).all()
                body = repr(sorted(repr(tuple(r)) for r in rows)).encode()
                digests[table.name] = f"{len(rows)} rows {hashlib.sha256(body).hexdigest()[:16]}"
    finally:
        engine.dispose()
    return digests


@dataclass
class State:
    """A pair of stores at one moment of the night: copied, never changed."""

    store: Path
    url: str

    def copy(self, where: Path) -> State:
        where.mkdir(parents=True, exist_ok=True)
        store = warehouse.copy_store(self.store, where / "bank.duckdb")
        return State(store, _copy_ops(self.url, where))


#: this process's databases: each test worker makes and drops its own
_PG_PREFIX = f"kf_{os.getpid()}_"


def _copy_ops(url: str, where: Path) -> str:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        target = where / "ops.sqlite"
        shutil.copy(path, target)
        return f"sqlite:///{target}"
    source = url.rsplit("/", 1)[1]
    name = f"{_PG_PREFIX}{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name} TEMPLATE {source}")
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _drop_pg_copies() -> None:
    """This process's copies only: the other test worker may be using its own."""
    pattern = _PG_PREFIX.replace("_", "\\_") + "%"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        found = con.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern]).fetchall()
        for (name,) in found:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


NIGHT = AS_OF + timedelta(days=1)
CLOCK = datetime.combine(NIGHT, dtime(23, 0), SHANGHAI)


def _commands(step: str, root: Path, s: State) -> list[str]:
    if step == "ingest":
        return ["ingest", str(root / "night1"), "--into", str(s.store), "--store", s.url]
    if step == "run":
        return ["run", "--snapshot", str(s.store)]
    return ["decide", "--snapshot", str(s.store), "--store", s.url]


#: each kind's nights, made once: pytest may set a parametrised module fixture
#: up more than once when another test narrows its parameters
_PREPARED: dict[str, dict[str, object]] = {}


def _prepare(kind: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The night before each step, and what the unbroken step leaves."""
    root = tmp_path_factory.mktemp(f"faults-{kind}")
    synthesize(SynthOptions(customers=CUSTOMERS, seed=11, out=root / "night0", as_of=AS_OF))
    next_night(root / "night0", root / "night1")
    if kind == "sqlite":
        url = f"sqlite:///{root / 'base.sqlite'}"
    else:
        base = f"{_PG_PREFIX}base"
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {base} WITH (FORCE)")
            con.execute(f"CREATE DATABASE {base}")
        url = f"postgresql://postgres@127.0.0.1:5432/{base}"
    first = State(root / "base" / "bank.duckdb", url)
    first.store.parent.mkdir()
    yesterday = CLOCK - timedelta(days=1)
    for args in (
        ["ingest", str(root / "night0"), "--into", str(first.store)],
        ["run", "--snapshot", str(first.store)],
        ["decide", "--snapshot", str(first.store), "--store", url],
    ):
        done = kequn(*args, url=url, clock=yesterday, cwd=root)
        assert done.returncode == 0, done.stderr
    before = {"ingest": first.copy(root / "before-ingest")}
    for step, after in (("ingest", "run"), ("run", "decide"), ("decide", "done")):
        s = before[step].copy(root / f"before-{after}")
        done = kequn(*_commands(step, root, s), url=s.url, clock=CLOCK, cwd=root)
        assert done.returncode == 0, done.stderr
        before[after] = s
    return {"root": root, "before": before, "kind": kind, "url": url}


@pytest.fixture(scope="module", autouse=True)
def _drop_databases() -> Iterator[None]:
    yield
    while _WARM:
        _WARM.pop().close()
    made = _PREPARED.pop("postgresql", None)
    if made is not None:
        _drop_pg_copies()
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {str(made['url']).rsplit('/', 1)[1]} WITH (FORCE)")
    _PREPARED.clear()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def nights(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if request.param not in _PREPARED:
        _PREPARED[request.param] = _prepare(request.param, tmp_path_factory)
    return _PREPARED[request.param]


NEXT = {"ingest": "run", "run": "decide", "decide": "done"}
STEP_POINTS = [(p.split(".")[0], p) for p in POINTS if p.split(".")[0] in NEXT]


@pytest.mark.parametrize(("step", "fault"), STEP_POINTS)
def test_a_killed_step_leaves_the_stores_as_before_and_reruns_whole(
    nights: dict[str, object], step: str, fault: str, tmp_path: Path
) -> None:
    root, before = nights["root"], nights["before"]
    assert isinstance(root, Path) and isinstance(before, dict)
    s = before[step].copy(tmp_path / "work")
    untouched = (duck_digest(s.store), ops_digest(s.url))
    killed = kequn(*_commands(step, root, s), url=s.url, clock=CLOCK, fault=fault, cwd=root)
    assert killed.returncode == -signal.SIGKILL, (fault, killed.returncode, killed.stderr[-2000:])
    assert (duck_digest(s.store), ops_digest(s.url)) == untouched, f"{fault} left the stores half-written"
    again = kequn(*_commands(step, root, s), url=s.url, clock=CLOCK, cwd=root)
    assert again.returncode == 0, again.stderr[-2000:]
    if step == "ingest":  # the half-written snapshot file of the killed ingest is gone
        assert sorted(p.name for p in warehouse.folder(s.store).glob("snap_*")) == [
            a.file for a in _listed(s.store) if a.kind == "snapshot"
        ]
    whole = before[NEXT[step]]
    assert duck_digest(s.store) == duck_digest(whole.store), (
        f"after {fault}, the re-run differs from an unbroken run"
    )
    assert ops_digest(s.url) == ops_digest(whole.url), (
        f"after {fault}, the re-run differs from an unbroken run"
    )


@pytest.mark.parametrize("nights", ["postgresql"], indirect=True)  # SQLite has no connection to drop
def test_a_dropped_connection_mid_decide_leaves_nothing_half_written(
    nights: dict[str, object], tmp_path: Path
) -> None:
    root, before = nights["root"], nights["before"]
    assert isinstance(root, Path) and isinstance(before, dict)
    s = before["decide"].copy(tmp_path / "work")
    untouched = (duck_digest(s.store), ops_digest(s.url))
    dropped = kequn(
        *_commands("decide", root, s), url=s.url, clock=CLOCK, fault="decide.publish:drop", cwd=root
    )
    assert dropped.returncode != 0
    assert "Traceback" not in dropped.stderr, dropped.stderr[-2000:]
    assert (duck_digest(s.store), ops_digest(s.url)) == untouched
    again = kequn(*_commands("decide", root, s), url=s.url, clock=CLOCK, cwd=root)
    assert again.returncode == 0, again.stderr[-2000:]
    assert ops_digest(s.url) == ops_digest(before["done"].url)


def _serve(s: State, root: Path, fault: str | None) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "KEQUN_CLOCK": datetime.combine(NIGHT + timedelta(days=1), dtime(10), SHANGHAI).isoformat(),
    }
    env.pop("KEQUN_FAULT", None)
    if fault:
        env["KEQUN_FAULT"] = fault
    log = root / f"serve-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kequn.cli.main", "serve", "--store", s.url, "--port", str(port)],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 (kept by the child)
    )
    base = f"http://127.0.0.1:{port}"
    # a loaded machine starts a server slowly: wait for it to answer, or to die
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/login", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the workbench did not start: {log.read_text(errors='replace')[-2000:]}")


def test_a_killed_outcome_write_is_not_half_recorded(nights: dict[str, object], tmp_path: Path) -> None:
    from tests.cycle.staff import Person

    root, before = nights["root"], nights["before"]
    assert isinstance(root, Path) and isinstance(before, dict)
    s = before["done"].copy(tmp_path / "work")
    ops = open_store(s.url)
    with ops.session() as db:
        task = db.execute(text("SELECT task_id, manager_id FROM tasks WHERE status = 'open' LIMIT 1")).one()
        role = db.execute(
            text("SELECT role FROM staff WHERE manager_id = :m"), {"m": task.manager_id}
        ).scalar_one()
        create_user(db, "rm", "pw-of-the-test-1", role, CLOCK, task.manager_id, None)
    ops.dispose()
    untouched = ops_digest(s.url)
    server, base = _serve(s, root, "web.outcome")
    try:
        p = Person(base, "rm", "pw-of-the-test-1")
        p.sign_in()
        with pytest.raises(httpx.HTTPError):
            p.client.post(
                f"/api/tasks/{task.task_id}/outcome",
                json={"outcome": "sold", "key": "k-1", "product_id": "DD0001", "amount": "1000"},
                headers={"X-CSRF-Token": p.csrf},
            )
        assert server.wait(20) == -signal.SIGKILL
    finally:
        if server.poll() is None:
            server.kill()
    # the sign-in was committed before; the outcome, its audit entry and the task's status were not
    after = ops_digest(s.url)
    engine = create_engine(s.url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as con:
        assert con.execute(text("SELECT count(*) FROM outcomes")).scalar_one() == 0 or after != untouched
        assert (
            con.execute(
                text("SELECT count(*) FROM outcomes WHERE task_id = :t"), {"t": task.task_id}
            ).scalar_one()
            == 0
        )
        assert (
            con.execute(text("SELECT status FROM tasks WHERE task_id = :t"), {"t": task.task_id}).scalar_one()
            == "open"
        )
    engine.dispose()
    server, base = _serve(s, root, None)
    try:
        p = Person(base, "rm", "pw-of-the-test-1")
        p.sign_in()
        for _ in range(2):  # the same key twice: recorded once
            answer = p.client.post(
                f"/api/tasks/{task.task_id}/outcome",
                json={"outcome": "sold", "key": "k-1", "product_id": "DD0001", "amount": "1000"},
                headers={"X-CSRF-Token": p.csrf},
            )
            assert answer.status_code == 200, answer.text
    finally:
        server.terminate()
        server.wait(20)
    engine = create_engine(s.url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as con:
        assert (
            con.execute(
                text("SELECT count(*) FROM outcomes WHERE task_id = :t"), {"t": task.task_id}
            ).scalar_one()
            == 1
        )
    engine.dispose()
