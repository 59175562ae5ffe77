"""Every night's extract of a month, one after another: ``python -m
tests.cycle.extracts FOLDER START DAYS CUSTOMERS SEED`` (the month harness runs
it beside the nights, which wait for each extract to arrive)."""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path

from kequn.synth import SynthOptions, synthesize
from kequn.synth.nightly import next_night


def main(folder: Path, start: date, days: int, customers: int, seed: int) -> None:
    # the bank's own extracts cost the bank nothing: made in the time the nights
    # and days leave over, never ahead of a night's own steps
    os.nice(10)

    def path(n: int) -> Path:
        return folder / f"{start + timedelta(days=n):%Y%m%d}"

    folder.mkdir(parents=True, exist_ok=True)
    if not (path(0) / "extract.json").exists():
        synthesize(SynthOptions(customers=customers, seed=seed, out=path(0), as_of=start))
    last = None
    for n in range(1, days):
        if not (path(n) / "extract.json").exists():
            # each night starts from the one just made, still in memory
            last = next_night(path(n - 1), path(n), after=last, keep=n + 1 < days)


if __name__ == "__main__":
    folder, start, days, customers, seed = sys.argv[1:6]
    main(Path(folder), date.fromisoformat(start), int(days), int(customers), int(seed))
