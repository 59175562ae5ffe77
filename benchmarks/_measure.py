"""Runs one Kequn CLI command in this process and prints its wall time and peak
memory as JSON on the last line (benchmarks call this in a fresh process, so
the peak belongs to that step alone)."""

from __future__ import annotations

import json
import resource
import sys
import time

from kequn.cli.main import app

if __name__ == "__main__":
    started = time.perf_counter()
    try:
        app(sys.argv[1:], standalone_mode=False)
    finally:
        seconds = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"seconds": round(seconds, 2), "peak_mib": round(peak_kib / 1024)}))
