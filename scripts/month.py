"""A bank's month (or week) by hand, with figures: every night's ingest, run and
decide as the bank's scheduler runs them, staff of every role at work in the
workbench each day, and the invariants after each. Prints what each night cost
in time and peak memory, and every violation found.

    .venv/bin/python scripts/month.py --customers 200000 --days 7 --root /tmp/month
    .venv/bin/python scripts/month.py --customers 20000 --days 30 --ops postgresql://postgres@127.0.0.1:5432/month
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cycle.month import run_month


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--root", type=Path, default=Path("/tmp/kequn-month"))
    parser.add_argument("--ops", help="operational store URL (default: SQLite in the root)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.root.exists():
        shutil.rmtree(args.root)
    if args.ops and args.ops.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        engine = create_engine(args.ops.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as con:
            con.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    started = time.monotonic()
    month, report = run_month(args.root / "bank", args.customers, args.days, args.ops, seed=args.seed)
    wall = time.monotonic() - started
    nights: dict[int, dict[str, tuple[float, float]]] = defaultdict(dict)
    cpu: dict[str, float] = defaultdict(float)
    for s in month.steps:
        cpu[s.name] += s.cpu_seconds
        if s.expected_to_fail:
            continue
        seconds, peak = nights[s.night].get(s.name, (0.0, 0.0))
        nights[s.night][s.name] = (seconds + s.seconds, max(peak, s.peak_mb))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    everything = children.ru_utime + children.ru_stime + time.process_time()
    print(f"{args.customers:,} customers, {args.days} days, {wall:.0f} s in all; {report.seconds}")
    print(
        "CPU seconds: "
        + ", ".join(f"{name} {seconds:.0f}" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]))
        + f", workbench {month.server_cpu_seconds:.0f}, harness {time.process_time():.0f};"
        + f" every process {everything:.0f}"
    )
    print(f"{'night':>5} {'ingest s':>9} {'MB':>7} {'run s':>7} {'MB':>7} {'decide s':>9} {'MB':>7}")
    for night in sorted(nights):
        row = nights[night]
        cells = []
        for step in ("ingest", "run", "decide"):
            seconds, peak = row.get(step, (0.0, 0.0))
            cells += [f"{seconds:9.1f}" if step != "run" else f"{seconds:7.1f}", f"{peak:7.0f}"]
        print(f"{night:>5} " + " ".join(cells))
    refused = [s for s in month.steps if s.expected_to_fail]
    print(f"spoilt extracts refused: {sum(s.failed for s in refused)} of {len(refused)}")
    for log in report.logs:
        print(
            f"  {log.day}: {log.requests} requests, {sum(log.outcomes.values())} outcomes, {log.sales} sales"
        )
    if report.violations or report.busy:
        print(
            json.dumps(
                {"violations": report.violations, "busy": report.busy[:20]}, ensure_ascii=False, indent=1
            )
        )
        return 1
    print("every invariant held after every night and day")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
