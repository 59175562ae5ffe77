"""Customer groups at scale: how long the group builder takes to recount after each
condition change, beside DuckDB's own time for the same COUNT.

A branch head builds a group one condition at a time; after each change the
builder parses and checks the condition, compiles it, and counts (with AUM and
tier mix) on the latest run's profiles. Printed per step, from one run on one
connection: Kequn's count alone, Kequn's full preview (count, AUM, tier mix,
units), and DuckDB executing ``SELECT count(*) ... WHERE <condition>`` written by
hand; medians of several repeats, and the ratio.

    .venv/bin/python benchmarks/bench_groups.py --store /tmp/b/bank.duckdb
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from kequn.ingest.store import connect
from kequn.pipeline import groups
from kequn.pipeline.catalog import list_runs

#: a builder session: each step adds or changes one condition
STEPS = (
    "age >= 60",
    "age >= 60 AND aum >= 50000",
    "age >= 60 AND aum >= 50000 AND list_contains(segments, 'silver')",
    "age >= 55 AND aum >= 50000 AND list_contains(segments, 'silver')",
    "age >= 55 AND aum >= 50000 AND list_contains(segments, 'silver') AND health_score < 60",
    "(age >= 55 OR pension_months >= 2) AND aum >= 50000 AND health_score < 60",
    "tier IN ('affluent', 'wealth') AND near_threshold",
    "salary_months >= 2 AND days_to_bonus BETWEEN 0 AND 30",
)


def timed(fn, repeats: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    duck = connect(args.store, read_only=True)
    run = list_runs(duck)[-1]
    total = duck.execute(f"SELECT count(*) FROM {run.schema}.profiles").fetchone()[0]  # type: ignore[index]
    print(f"run {run.run_id}: {total:,} customers; median of {args.repeats} repeats per step\n")
    print(
        f"{'step':<5}{'members':>10}{'kequn count':>14}{'kequn preview':>15}{'duckdb count':>14}{'ratio':>8}"
    )
    worst = 0.0
    for i, text in enumerate(STEPS, start=1):

        def kequn_count(text: str = text) -> int:
            return groups.count(duck, run, groups.parse_group(text))

        def kequn_preview(text: str = text) -> int:
            return groups.stats(duck, run, groups.parse_group(text)).size

        def raw(text: str = text) -> int:
            return duck.execute(f"SELECT count(*) FROM {run.schema}.profiles WHERE {text}").fetchone()[0]  # type: ignore[index,no-any-return]

        t_count, n = timed(kequn_count, args.repeats)
        t_preview, n2 = timed(kequn_preview, args.repeats)
        t_raw, n3 = timed(raw, args.repeats)
        assert n == n2 == n3, (text, n, n2, n3)
        worst = max(worst, t_preview)
        print(
            f"{i:<5}{n:>10,}{t_count * 1000:>12.0f}ms{t_preview * 1000:>13.0f}ms{t_raw * 1000:>12.0f}ms"
            f"{t_count / t_raw:>7.1f}x"
        )
    print(f"\nslowest full preview: {worst * 1000:.0f} ms (target: under 1 s after each change)")
    for text in (
        "list_contains(product_types, 'fund') AND age >= 60",
        "list_contains(triggers, 'maturity_7d')",
    ):
        t, n = timed(lambda text=text: groups.count(duck, run, groups.parse_group(text)), args.repeats)
        print(f"with a list built on demand: {text!r}: {n:,} in {t * 1000:.0f} ms")
    duck.close()


if __name__ == "__main__":
    main()
