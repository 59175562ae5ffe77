"""Where `kequn run`'s time goes: each statement it runs, timed, on a copy of a store.

The run's kept steps (its temporary tables) and every statement of its publish
are timed one by one; with ``--profiles DIR`` DuckDB writes each one's JSON
profile there, whose operators show what the statement spent its time on.
After each kept step it prints what the kept tables then hold, in memory and
spilled to disk: DuckDB keeps temporary tables uncompressed, and a step the
memory limit cannot hold is written out and read back by the steps after it.
The store given is copied first and left as it was.

    .venv/bin/python benchmarks/run_statements.py --store /tmp/b/bank.duckdb
    .venv/bin/python benchmarks/run_statements.py --store /tmp/b/bank.duckdb --profiles /tmp/prof
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import duckdb

import kequn.pipeline.run as run_module
from kequn import warehouse
from kequn.pipeline import engines

#: statements shorter than this are counted, not printed
SHOWN = 0.2


class Timed:
    """A DuckDB connection whose statements are timed (and profiled)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, profiles: Path | None, lines: list[str]) -> None:
        self._con, self._profiles, self._lines = con, profiles, lines

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, sql: str, *args: Any) -> Any:
        return timed(self._con, sql, lambda: self._con.execute(sql, *args), self._profiles, self._lines)


def timed(
    con: duckdb.DuckDBPyConnection, sql: str, call: Any, profiles: Path | None, lines: list[str]
) -> Any:
    name = f"{len(lines):03d}"
    if profiles is not None:
        con.execute("SET enable_profiling = 'json'")
        con.execute(f"SET profiling_output = '{profiles / name}.json'")
    start = time.perf_counter()
    try:
        return call()
    finally:
        took = time.perf_counter() - start
        if profiles is not None:
            con.execute("SET enable_profiling = 'no_output'")
        lines.append(f"{took:8.2f} s  {name}  {' '.join(sql.split())[:100]}")


def kept_tables(con: duckdb.DuckDBPyConnection) -> str:
    """What the connection's tables in memory hold now, and how much of it was spilled."""
    held, spilled = con.execute(
        "SELECT coalesce(sum(memory_usage_bytes), 0), coalesce(sum(temporary_storage_bytes), 0) "
        "FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'"
    ).fetchone() or (0, 0)
    return f"kept tables after it: {held / 2**20:,.0f} MiB in memory, {spilled / 2**20:,.0f} MiB spilled"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--profiles", type=Path, help="a folder for DuckDB's JSON profile of each statement")
    args = ap.parse_args()
    if args.profiles:
        args.profiles.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    materialise = engines.DuckDBEngine._materialise

    def timed_step(self: engines.DuckDBEngine, name: str, sql: str, frees: tuple[str, ...]) -> None:
        step = f"step {name}: {sql}"
        timed(self.raw, step, lambda: materialise(self, name, sql, frees), args.profiles, lines)
        lines[-1] += f"\n{'':18}{kept_tables(self.raw)}"

    write_run = run_module.write_run
    engines.DuckDBEngine._materialise = timed_step  # type: ignore[method-assign]
    run_module.write_run = lambda con, *a, **k: write_run(Timed(con, args.profiles, lines), *a, **k)  # type: ignore[assignment,arg-type]
    with tempfile.TemporaryDirectory(prefix="kequn-statements-") as work:
        store = warehouse.copy_store(args.store, Path(work) / "bank.duckdb")
        start = time.perf_counter()
        run_module.run_pipeline(store)
        whole = time.perf_counter() - start
    timings = [float(line.split()[0]) for line in lines]
    for line, took in zip(lines, timings, strict=True):
        if took >= SHOWN:
            print(line)
    print(f"{sum(timings):8.2f} s  in {len(lines)} statements; the whole run {whole:.2f} s")


if __name__ == "__main__":
    main()
