"""What one page costs: My day and the customer 360, asked one after another by
one signed-in manager of a decided bank, served by one worker; the CPU the
server's processes and PostgreSQL's processes spent per page.

Latency under load (``bench_web.py``) moves with whatever else the machine
does; CPU per page moves much less, so a change to a page is measured here,
run in turn with the code before it. PostgreSQL's CPU is that of every
process of the ``postgres`` user on this machine: run it with nothing else
using the server.

    .venv/bin/python benchmarks/bench_page_cpu.py \\
        --ops postgresql://postgres@127.0.0.1:5432/kequn_bench --analytics /tmp/b/bank.duckdb --pages 200
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx
from _serve import cpu_seconds, serving, sign_in
from sqlalchemy import delete, func, select

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kequn.core.clock import now  # noqa: E402
from kequn.store import open_store  # noqa: E402
from kequn.store.models import Customer, DecisionRun, Task, User, WebSession  # noqa: E402
from kequn.web.services.users import create_user  # noqa: E402

LOGIN, PASSWORD = "bench_cpu", "bench-cpu-password-123"


def prepare(url: str) -> tuple[str, list[str]]:
    """A user for the manager with most tasks on the latest day; the day and
    customers of that manager's book."""
    ops = open_store(url, upgrade=False)
    try:
        with ops.session() as s:
            day = s.scalar(select(func.max(DecisionRun.as_of)))
            assert day is not None, "no decision: run `kequn decide` first"
            manager = s.scalar(
                select(Task.manager_id)
                .where(Task.as_of == day, Task.manager_id.is_not(None))
                .group_by(Task.manager_id)
                .order_by(func.count().desc())
                .limit(1)
            )
            earlier = select(User.user_id).where(User.login == LOGIN)
            s.execute(delete(WebSession).where(WebSession.user_id.in_(earlier)))
            s.execute(delete(User).where(User.login == LOGIN))
            create_user(s, LOGIN, PASSWORD, "service_manager", now(), manager)
            book = list(
                s.scalars(select(Customer.customer_id).where(Customer.owner_manager_id == manager).limit(300))
            )
        return str(day), book
    finally:
        ops.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", required=True, help="operational store URL (a decided bank)")
    parser.add_argument("--analytics", required=True, help="the analytical store the customer page reads")
    parser.add_argument("--pages", type=int, default=200, help="pages of each kind")
    args = parser.parse_args()
    day, book = prepare(args.ops)
    with (
        serving(args.ops, args.analytics, 1) as (server, base),
        httpx.Client(base_url=base, follow_redirects=False, timeout=30) as c,
    ):
        sign_in(c, LOGIN, PASSWORD)
        n = args.pages
        kinds = {
            "my_day": [f"/my-day?day={day}"] * n,
            "customer_360": [f"/customers/{cid}" for cid in (book * (n // max(len(book), 1) + 1))[:n]],
        }
        print(f"one worker, one client, {n} pages of each kind; day {day}")
        for kind, paths in kinds.items():
            for path in paths[:10]:  # warm: templates compiled, the run file attached
                assert c.get(path).status_code == 200, path
            (s0, p0), w0 = cpu_seconds(server.pid), time.perf_counter()
            size = 0
            for path in paths:
                r = c.get(path)
                assert r.status_code == 200, (path, r.status_code)
                size += len(r.content)
            (s1, p1), w1 = cpu_seconds(server.pid), time.perf_counter()
            print(
                f"  {kind:13} server CPU {(s1 - s0) / n * 1000:6.2f} ms  PostgreSQL CPU "
                f"{(p1 - p0) / n * 1000:5.2f} ms  wall {(w1 - w0) / n * 1000:6.2f} ms  "
                f"({size / n / 1024:.0f} KiB a page)"
            )


if __name__ == "__main__":
    main()
