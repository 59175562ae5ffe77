"""Shared fixtures: small synthetic banks, generated once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from kequn import warehouse
from kequn.contract import TABLES
from kequn.core.clock import SHANGHAI
from kequn.ingest import ingest
from kequn.synth import SynthOptions, synthesize
from kequn.warehouse import copy_store

# passwords hashed at OWASP's minimum argon2id cost, not the default RFC 9106 one:
# the suite signs people in some thousand times (a tenth of the CPU each); both
# costs are one setting of the same code, and test_web covers the move between them
os.environ.setdefault("KEQUN_PASSWORD_COST", "owasp-minimum")

AS_OF = date(2026, 11, 20)
SMALL = 2_000


def make_bank(root: Path, name: str, **kw: object) -> Path:
    opts = {"customers": SMALL, "seed": 7, "out": root / name, "as_of": AS_OF, **kw}
    synthesize(SynthOptions(**opts))  # type: ignore[arg-type]
    return root / name


def snapshot_tables(store: Path, schema: str = "main") -> dict[str, pa.Table]:
    """Every contract table of a snapshot, sorted by key, for comparison."""
    con = warehouse.reader(store, "all")
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    try:
        return {
            name: con.sql(
                f"SELECT * FROM {schema}.{name} ORDER BY {', '.join(t.primary_key)}"
            ).to_arrow_table()
            for name, t in TABLES.items()
        }
    finally:
        con.close()


def assert_same_snapshot(a: Path, b: Path) -> None:
    left, right = snapshot_tables(a), snapshot_tables(b)
    for name in TABLES:
        assert left[name].num_rows == right[name].num_rows, name
        assert left[name].equals(right[name]), f"table {name} differs"


@pytest.fixture(scope="session")
def bank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bank(tmp_path_factory.mktemp("banks"), "bank")


@pytest.fixture(scope="session")
def bank_store(bank_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("stores") / "bank.duckdb"
    ingest(bank_dir, store)
    return store


@pytest.fixture(scope="session")
def run_store(bank_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small bank's store with one pipeline run on DuckDB."""
    from kequn.pipeline import run_pipeline

    store = tmp_path_factory.mktemp("runs") / "bank.duckdb"
    copy_store(bank_store, store)
    run_pipeline(store)
    return store


def read(store: Path, sql: str) -> list[tuple[object, ...]]:
    con = warehouse.reader(store, "all")
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _require_pg() -> None:
    """The PostgreSQL tests run against the real server or fail: a skipped test
    would pass a run that never tried them."""
    if not _pg_available():
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (scripts/setup.sh starts it)")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1:5432 for this test worker."""
    import psycopg

    _require_pg()
    name = f"kequn_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty operational store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ops.sqlite'}"
        return
    base = request.getfixturevalue("pg_database")
    from sqlalchemy import create_engine, text

    engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as con:
        con.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    yield base


def decided(
    run_store: Path, tmp_path: Path, store_url: str, history: bool = True
) -> tuple[Path, str, object]:
    """A copy of the small bank with a run, 60 days of simulated contacts and one
    decision, against the given operational store."""
    from kequn.decide.batch import decide
    from kequn.decide.simulate import simulate_history
    from kequn.playbook import load_playbook
    from kequn.store import open_store
    from kequn.store.cards import Cards

    store = tmp_path / "bank.duckdb"
    copy_store(run_store, store)
    first = decide(store, store_url)  # fills the store's cards, so history can refer to them
    if history:
        ops = open_store(store_url)
        simulate_history(ops, Cards(store), load_playbook(), AS_OF, days=40, contacts_per_day=60)
        ops.dispose()
        first = decide(store, store_url, replace=True)
    return store, store_url, first


PASSWORD = "correct-horse-battery"
DAY = date(2026, 11, 21)  # the business day after the small bank's snapshot


@dataclass(frozen=True)
class Workbench:
    """A decided small bank in an operational store, with a user of every role.
    ``people`` maps a login to its staff number (or None)."""

    url: str
    store: Path
    people: dict[str, str | None]
    branch_of: dict[str, str | None]


def _pg_scratch(name: str) -> str:
    import psycopg

    _require_pg()
    db = f"{name}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {db}")
    return f"postgresql://postgres@127.0.0.1:5432/{db}"


def build_workbench(run_store: Path, folder: Path, url: str) -> Workbench:
    """Decides the small bank into ``url`` and creates the users the web tests sign in as:
    the busiest manager, a manager of another branch, that manager's branch head,
    a head of another branch, HQ, compliance and a teller."""
    from sqlalchemy import func, select

    from kequn.decide.batch import decide
    from kequn.decide.simulate import simulate_history
    from kequn.playbook import load_playbook
    from kequn.store import open_store
    from kequn.store.cards import Cards
    from kequn.store.models import Branch, Customer, Staff, Task
    from kequn.web.security import RM_ROLES
    from kequn.web.services.users import create_user

    store = folder / "bank.duckdb"
    copy_store(run_store, store)
    decide(store, url, day=DAY)
    ops = open_store(url)
    simulate_history(ops, Cards(store), load_playbook(), AS_OF, days=30, contacts_per_day=60)
    ops.dispose()
    decide(store, url, day=DAY, replace=True)
    ops = open_store(url)
    people: dict[str, str | None] = {}
    branch_of: dict[str, str | None] = {}
    try:
        with ops.session() as s:
            busiest = s.execute(
                select(Task.manager_id, func.count())
                .join(Staff, Staff.manager_id == Task.manager_id)
                .where(Task.as_of == DAY, Staff.role.in_(RM_ROLES))
                .group_by(Task.manager_id)
                .order_by(func.count().desc(), Task.manager_id)
            ).first()
            assert busiest is not None, "the small bank has no tasks"
            manager = s.get(Staff, busiest[0])
            assert manager is not None
            parents = {b: p for b, p in s.execute(select(Branch.branch_id, Branch.parent_id))}

            def ancestors(unit: str | None) -> list[str]:
                chain = []
                while unit:
                    chain.append(unit)
                    unit = parents.get(unit)
                return chain

            mine = ancestors(manager.branch_id)
            # the first unit under the head office that holds the manager's branch
            region = mine[-2]
            other_id = s.scalar(
                select(Customer.owner_manager_id)
                .join(Staff, Staff.manager_id == Customer.owner_manager_id)
                .where(Staff.role.in_(RM_ROLES), Staff.branch_id.not_in(mine))
                .group_by(Customer.owner_manager_id)
                .order_by(func.count().desc(), Customer.owner_manager_id)
                .limit(1)
            )
            other = s.get(Staff, other_id)
            assert other is not None
            other_region = ancestors(other.branch_id)[-2]
            assert other_region != region, "the two managers share a branch"
            plan = [
                ("manager", manager.role, manager.manager_id, None),
                ("manager2", other.role, other.manager_id, None),
                ("head", "branch_head", None, region),
                ("head2", "branch_head", None, other_region),
                ("hq", "hq", None, mine[-1]),
                ("compliance", "compliance", None, mine[-1]),
                ("teller", "teller", None, manager.branch_id),
                ("lobby", "lobby_manager", None, manager.branch_id),
            ]
            for login, role, mid, branch in plan:
                user = create_user(s, login, PASSWORD, role, datetime.now(SHANGHAI), mid, branch)
                people[login] = mid
                branch_of[login] = user.branch_id
    finally:
        ops.dispose()
    return Workbench(url, store, people, branch_of)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def workbench(
    request: pytest.FixtureRequest, run_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workbench]:
    """The small bank's workbench, once on SQLite and once on PostgreSQL (a database
    of its own, so the decision tests' scratch database is left alone)."""
    folder = tmp_path_factory.mktemp("workbench")
    if request.param == "sqlite":
        yield build_workbench(run_store, folder, f"sqlite:///{folder / 'ops.sqlite'}")
        return
    url = _pg_scratch("kequn_web")
    yield build_workbench(run_store, folder, url)
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


#: the kinds of event the event tests send, in turn
EVENT_KINDS = ("product_view", "complaint", "visit_booked", "check_in")


def one_event_per_manager(s: object, n: int) -> list[dict[str, object]]:
    """Events for the first customer of each of ``n`` managers (so that no two
    share a manager's room), of each kind in turn; a product view names a product."""
    from sqlalchemy import select

    from kequn.store.models import Customer

    first: dict[str, str] = {}
    for cid, owner in s.execute(  # type: ignore[attr-defined]
        select(Customer.customer_id, Customer.owner_manager_id)
        .where(Customer.owner_manager_id.is_not(None))
        .order_by(Customer.customer_id)
    ):
        first.setdefault(owner, cid)
    events: list[dict[str, object]] = []
    for i, cid in enumerate(sorted(first.values())[:n]):
        kind = EVENT_KINDS[i % len(EVENT_KINDS)]
        event: dict[str, object] = {"customer_id": cid, "event_type": kind}
        if kind == "product_view":
            event |= {"event_product_id": "FD0001", "event_views_7d": 3}
        events.append(event)
    return events


@pytest.fixture(scope="module")
def app(workbench: Workbench):  # type: ignore[no-untyped-def]
    """The workbench's app on its stores, one for each module that drives it."""
    from tests.web_client import app_on

    application = app_on(workbench)
    yield application
    application.state.store.dispose()
