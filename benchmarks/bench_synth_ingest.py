"""Generate and ingest a synthetic bank of N customers (default 1,000,000).

Prints, for each step: wall time, rows per second and peak memory (resident
set), each step measured in its own process. Run by hand:

    .venv/bin/python benchmarks/bench_synth_ingest.py --customers 1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(HERE / "_measure.py"), *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to write (default: a temporary folder, removed after)",
    )
    parser.add_argument("--format", default="csv", choices=["csv", "parquet"])
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kequn-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    bank, store = work / "bank", work / "bank.duckdb"
    try:
        synth = measure(
            "synth",
            "--customers",
            str(args.customers),
            "--seed",
            "7",
            "--out",
            str(bank),
            "--format",
            args.format,
            "--as-of",
            "2026-11-20",
        )
        meta = json.loads((bank / "extract.json").read_text(encoding="utf-8"))
        rows = sum(meta["rows"].values())
        size = sum(p.stat().st_size for p in bank.rglob("*") if p.is_file())
        ingest = measure("ingest", str(bank), "--into", str(store), "--report", str(work / "report.json"))
        report = json.loads((work / "report.json").read_text(encoding="utf-8"))
        read = sum(t["read"] for t in report["tables"])
        print(
            f"customers {args.customers:,}; rows {rows:,} ({meta['rows']['transactions']:,} "
            f"transactions); extract {size / 2**30:.2f} GiB of {args.format}"
        )
        print(f"{'step':<8}{'seconds':>10}{'rows/s':>14}{'peak MiB':>10}")
        for name, step, count in (("synth", synth, rows), ("ingest", ingest, read)):
            print(
                f"{name:<8}{step['seconds']:>10.1f}{count / step['seconds']:>14,.0f}{step['peak_mib']:>10,}"
            )
        print(f"ingest quarantined {sum(t['quarantined'] for t in report['tables']):,} rows")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
