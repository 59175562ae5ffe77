"""The workbench under load: 50 signed-in managers at once opening My day and
Customer 360, against a decided bank in the operational store.

The server runs as its own process (`kequn serve`, one worker per core); this
process drives the load over loopback with one asyncio client per user, each
asking for its My day page, then a customer of its own book, then again, until
the duration is over. Users sign in before the clock starts: a sign-in's argon2
hash is slow on purpose and is not a page. Latency is per request, from send to the last byte.

With ``--think 0`` (the default) each user asks again the moment an answer
arrives: the server is saturated and latency is mostly queueing (50 users over
its throughput). ``--think S`` makes each user pause a random time with mean S
seconds between pages, as a person reading a page does; both are worth
printing, and the run says which it measured.

    .venv/bin/python benchmarks/bench_web.py \\
        --ops postgresql://postgres@127.0.0.1:5432/kequn_bench --analytics /tmp/b/bank.duckdb \\
        --users 50 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import httpx
import numpy as np
from _serve import processes, wait_until_serving
from sqlalchemy import delete, func, select

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kequn.core.clock import SHANGHAI  # noqa: E402
from kequn.store import open_store  # noqa: E402
from kequn.store.models import Customer, DecisionRun, Staff, Task, User, WebSession  # noqa: E402
from kequn.web.security import RM_ROLES  # noqa: E402
from kequn.web.services.users import create_user  # noqa: E402

PASSWORD = "bench-password-123"


def prepare(url: str, users: int) -> tuple[date, dict[str, list[str]]]:
    """``users`` bench users, one per manager with the most tasks on the latest day;
    returns the day and each login's customers (a sample of its book)."""
    ops = open_store(url, upgrade=False)
    books: dict[str, list[str]] = {}
    try:
        with ops.session() as s:
            # the latest nightly decision's day (real-time events may have made later ones)
            day = s.scalar(select(func.max(DecisionRun.as_of)))
            assert day is not None, "no decision: run `kequn decide` first"
            busiest = s.execute(
                select(Task.manager_id, func.count())
                .join(Staff, Staff.manager_id == Task.manager_id)
                .where(Task.as_of == day, Staff.role.in_(RM_ROLES))
                .group_by(Task.manager_id)
                .order_by(func.count().desc())
                .limit(users)
            ).all()
            bench = select(User.user_id).where(User.login.like("bench%"))
            s.execute(delete(WebSession).where(WebSession.user_id.in_(bench)))
            s.execute(delete(User).where(User.login.like("bench%")))
            for i, (manager_id, _) in enumerate(busiest):
                login = f"bench{i:03d}"
                create_user(s, login, PASSWORD, "service_manager", datetime.now(SHANGHAI), manager_id)
                books[login] = list(
                    s.scalars(
                        select(Customer.customer_id).where(Customer.owner_manager_id == manager_id).limit(200)
                    )
                )
            s.commit()
    finally:
        ops.dispose()
    return day, books


async def sign_in(client: httpx.AsyncClient, login: str) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = await client.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": token.group(1)})
    assert r.status_code == 303, r.text


SLOW = float(os.environ.get("BENCH_SLOW_MS", "1e9")) / 1000  # print requests slower than this


async def user(
    client: httpx.AsyncClient,
    login: str,
    book: list[str],
    measure_from: float,
    until: float,
    out: dict[str, list[float]],
    think: float = 0.0,
) -> None:
    """One person working without a break from sign-in to the end; only pages asked
    for once the warm-up is over are counted. With think time, people arrive at
    random moments, as they do, rather than all in the same millisecond."""
    rng = random.Random(login)
    if think:
        await asyncio.sleep(rng.uniform(0, think))
    while time.perf_counter() < until:
        for kind, path in (("my_day", "/my-day"), ("customer_360", f"/customers/{rng.choice(book)}")):
            t0 = time.perf_counter()
            retried = False
            try:
                r = await client.get(path)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                # the server closed a keep-alive connection idle past its timeout while
                # the user was reading: a browser sends the GET again, and so do we
                retried = True
                r = await client.get(path)
            elapsed = time.perf_counter() - t0
            if elapsed > SLOW:
                print(f"slow: {elapsed * 1000:.0f} ms {login} {path} retried={retried}", file=sys.stderr)
            if t0 >= measure_from:
                if r.status_code != 200:
                    out.setdefault("errors", []).append(r.status_code)
                else:
                    out[kind].append(elapsed)
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))


def worker_cpu(server: int) -> dict[int, float]:
    """CPU seconds of each serving process under ``kequn serve`` (the server itself
    when it has one worker)."""
    procs = {pid: (parent, cpu) for pid, parent, _, cpu in processes()}
    workers = [pid for pid, (parent, _) in procs.items() if parent == server]
    serving = [p for p in workers if b"spawn_main" in _cmdline(p) and b"resource_tracker" not in _cmdline(p)]
    return {pid: procs[pid][1] for pid in serving} or {server: procs[server][1]}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def drive(
    base: str,
    books: dict[str, list[str]],
    seconds: float,
    warmup: float,
    think: float,
    server: int | None = None,
    shares: list[dict[int, float]] | None = None,
) -> dict[str, list[float]]:
    """Signs every user in (argon2 by design takes time: not part of a page's
    latency), then lets them work through the warm-up into the measured window;
    ``shares`` gets each worker's CPU at the window's start and end."""
    clients = {login: httpx.AsyncClient(base_url=base, timeout=60) for login in books}
    try:
        await asyncio.gather(*(sign_in(c, login) for login, c in clients.items()))
        out: dict[str, list[float]] = {"my_day": [], "customer_360": []}
        start = time.perf_counter()
        measure_from, until = start + warmup, start + warmup + seconds

        async def window() -> None:
            if server is None or shares is None:
                return
            await asyncio.sleep(warmup)
            shares.append(worker_cpu(server))
            await asyncio.sleep(seconds)
            shares.append(worker_cpu(server))

        await asyncio.gather(
            window(), *(user(clients[u], u, b, measure_from, until, out, think) for u, b in books.items())
        )
        return out
    finally:
        await asyncio.gather(*(c.aclose() for c in clients.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", required=True, help="operational store URL (a decided bank)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between a user's pages, s")
    parser.add_argument("--analytics", default=None, help="the analytical store the customer page reads")
    args = parser.parse_args()
    day, books = prepare(args.ops, args.users)
    with open_store(args.ops, upgrade=False).engine.connect() as con:
        customers = con.exec_driver_sql("SELECT count(*) FROM customers").scalar()
    env = {
        **os.environ,
        "KEQUN_STORE_URL": args.ops,
        "KEQUN_DAY": day.isoformat(),
        "KEQUN_INSECURE_COOKIES": "1",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "kequn"),
            "serve",
            "--port",
            str(args.port),
            "--workers",
            str(args.workers),
            *(["--analytics", args.analytics] if args.analytics else []),
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_until_serving(base)
        shares: list[dict[int, float]] = []
        out = asyncio.run(drive(base, books, args.seconds, args.warmup, args.think, server.pid, shares))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
    print(
        f"{customers:,} customers; {len(books)} users signed in at once; {args.workers} server workers; "
        f"{args.seconds:.0f} s after {args.warmup:.0f} s warm-up; day {day}; "
        + (f"think time {args.think:g} s mean" if args.think else "no think time (saturated)")
    )
    for kind in ("my_day", "customer_360"):
        ms = np.array(out[kind]) * 1000
        if not len(ms):
            print(f"  {kind:<13} no page answered 200")
            continue
        print(
            f"  {kind:<13} {len(ms):>6,} requests  p50 {np.percentile(ms, 50):7.1f} ms  "
            f"p99 {np.percentile(ms, 99):7.1f} ms  ({len(ms) / args.seconds:,.1f}/s)"
        )
    # the aim (issue 17) counts both pages' requests together, as bench_scale.py does
    both = sum(len(out[kind]) for kind in ("my_day", "customer_360"))
    print(f"  {'both pages':<13} {both:>6,} requests  ({both / args.seconds:,.1f}/s in all)")
    print(f"  errors: {len(out.get('errors', []))}")
    if len(shares) == 2:
        # a worker far busier than the others queues pages while cores idle
        used = {pid: shares[1][pid] - shares[0].get(pid, 0.0) for pid in shares[1]}
        print(
            "  server workers' CPU in the window: "
            + ", ".join(f"{u / args.seconds:.0%} of a core" for u in sorted(used.values(), reverse=True))
        )


if __name__ == "__main__":
    main()
