"""Runs the pandas profile on Parquet files and prints seconds and peak MiB."""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from pandas_profile import profile

if __name__ == "__main__":
    folder, as_of = Path(sys.argv[1]), date.fromisoformat(sys.argv[2])
    t0 = time.perf_counter()
    tables = {
        n: pd.read_parquet(folder / f"{n}.parquet")
        for n in ("customers", "products", "holdings", "transactions", "employers")
    }
    targets = pd.read_parquet(folder / "targets.parquet")
    prof, recs = profile(tables, targets, as_of)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "peak_mib": round(peak),
                "customers": len(prof),
                "recommendations": len(recs),
            }
        )
    )
