"""A playbook rehearsal beside the night it rehearses: on a copy of a bank that
has been ingested, run and decided, times `kequn run` + `kequn decide --replace`
(the night) and `kequn playbook simulate` of a changed playbook (the 财富 line
lowered by a fifth), each in a fresh process, and prints the ratio. The aim:
a rehearsal costs at most twice the night.

    .venv/bin/python benchmarks/bench_simulate.py --store /tmp/b/bank.duckdb
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kequn.playbook import default_playbook_path  # noqa: E402
from kequn.store import default_url  # noqa: E402
from kequn.warehouse import copy_store  # noqa: E402


def measure(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(HERE / "_measure.py"), *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="a decided bank's analytical store")
    parser.add_argument("--ops", help="its operational store URL (default: SQLite beside it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kequn-bench-simulate-") as tmp:
        store = copy_store(args.store, Path(tmp) / "bank.duckdb")
        ops = args.ops or default_url(args.store)
        if ops.startswith("sqlite"):
            copy = Path(tmp) / "bank.ops.sqlite"
            copy.write_bytes(Path(ops.removeprefix("sqlite:///")).read_bytes())
            ops = f"sqlite:///{copy}"
        text = default_playbook_path().read_text(encoding="utf-8")
        candidate = Path(tmp) / "candidate.toml"
        candidate.write_text(text.replace("min_aum = 1_000_000\n", "min_aum = 800_000\n"), encoding="utf-8")
        rehearsal = measure(
            "playbook", "simulate", str(candidate), "--snapshot", str(store), "--store", ops, "--json"
        )
        run = measure("run", "--snapshot", str(store), "--store", ops)
        decide = measure("decide", "--snapshot", str(store), "--store", ops, "--replace")
    night = run["seconds"] + decide["seconds"]
    print(
        f"night: run {run['seconds']:.1f} s ({run['peak_mib']} MiB) + decide {decide['seconds']:.1f} s "
        f"({decide['peak_mib']} MiB) = {night:.1f} s"
    )
    print(f"rehearsal: {rehearsal['seconds']:.1f} s ({rehearsal['peak_mib']} MiB)")
    ratio = rehearsal["seconds"] / night
    print(f"rehearsal / night = {ratio:.2f} (aim: at most 2)")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
