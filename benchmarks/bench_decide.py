"""Decisions at scale, and single events from event to stored task.

1. `kequn decide` on the whole store (a run must exist): wall time and peak memory,
   with the time of each step (sync of the working cards, owners, funnel, arbitration
   and capacity, publishing).
2. Real-time: N events (default 10,000) for random customers, each decided and its
   task stored, in one process: p50/p99 latency and events per second; then the
   same load from two processes at once (one per core), for sustained throughput.

    .venv/bin/python benchmarks/bench_decide.py --store /tmp/b/bank.duckdb \\
        --ops postgresql://postgres@127.0.0.1:5432/kequn_bench
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kequn.core.clock import SHANGHAI  # noqa: E402
from kequn.decide.realtime import handle_event  # noqa: E402
from kequn.playbook import load_playbook  # noqa: E402
from kequn.store import default_url, open_store  # noqa: E402
from kequn.store.cards import Cards  # noqa: E402

EVENTS = ("product_view", "complaint", "visit_booked", "check_in")


def measure(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(HERE / "_measure.py"), *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _events(url: str, n: int, seed: int, day_offset: int, store: str) -> list[float]:
    ops = open_store(url, upgrade=False, pool_size=2)
    cards = Cards(store)
    pb = load_playbook()
    with ops.engine.connect() as con:
        ids = [
            r[0]
            for r in con.exec_driver_sql(
                "SELECT customer_id FROM customers WHERE owner_manager_id IS NOT NULL"
            )
        ]
    rng = random.Random(seed)
    day = datetime.now(SHANGHAI).date() + timedelta(days=30 + day_offset)
    now = datetime.combine(day, dtime(10, 5), SHANGHAI)
    latencies = []
    for i in range(n):
        kind = EVENTS[i % len(EVENTS)]
        event = {
            "customer_id": rng.choice(ids),
            "event_type": kind,
            "event_product_id": "FD0001" if kind == "product_view" else None,
            "event_views_7d": 3 if kind == "product_view" else None,
        }
        t0 = time.perf_counter()
        handle_event(ops, cards, event, pb, None, now + timedelta(seconds=i))
        latencies.append(time.perf_counter() - t0)
    ops.dispose()
    return latencies


def _worker(args: tuple[str, int, int, int, str]) -> list[float]:
    return _events(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--ops", default=None, help="operational store URL")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    url = args.ops or default_url(args.store)
    if not args.skip_batch:
        batch = measure("decide", "--snapshot", str(args.store), "--store", url)
        print(f"kequn decide: {batch['seconds']:.1f} s, peak {batch['peak_mib']:,} MiB")
    lat = np.array(_events(url, args.events, 1, 0, str(args.store))) * 1000
    print(
        f"events, one process: {len(lat):,}; p50 {np.percentile(lat, 50):.1f} ms, "
        f"p99 {np.percentile(lat, 99):.1f} ms; {len(lat) / (lat.sum() / 1000):,.0f} events/s"
    )
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(2) as pool:
        parts = pool.map(
            _worker,
            [(url, args.events // 2, 2, 1, str(args.store)), (url, args.events // 2, 3, 2, str(args.store))],
        )
    wall = time.perf_counter() - t0
    both = np.concatenate([np.array(p) for p in parts]) * 1000
    print(
        f"events, two processes: {len(both):,} in {wall:.1f} s = {len(both) / wall:,.0f} "
        f"events/s (startup included); p50 {np.percentile(both, 50):.1f} ms, "
        f"p99 {np.percentile(both, 99):.1f} ms"
    )


if __name__ == "__main__":
    main()
