"""The floor for `kequn ingest`: DuckDB alone loading the same extract's files
into tables typed as the contract types them, in a new DuckDB file. No checks,
no quarantine, no snapshot: what reading and typing the bytes costs on this
machine. Prints seconds and peak MiB as JSON on the last line.

    .venv/bin/python benchmarks/_ingest_floor.py EXTRACT_FOLDER OUT.duckdb
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import duckdb

from kequn.contract.tables import load_order, table
from kequn.ingest.sources import read_header, table_files

if __name__ == "__main__":
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(out))
    con.execute(f"SET threads = {os.cpu_count() or 2}")
    rows = 0
    for name in load_order():
        contract = table(name)
        for n, path in enumerate(table_files(folder, name, [])):
            target = name if n == 0 else f"{name}_{n}"
            if path.suffix == ".parquet":
                source = f"read_parquet('{path}')"
            else:
                header = read_header(path, "utf-8", ",")
                types = {c: contract.column(c).duckdb_type for c in header if c in contract.column_names}
                spec = ", ".join(f"'{c}': '{t}'" for c, t in types.items())
                source = f"read_csv('{path}', header = true, delim = ',', quote = '\"', types = {{{spec}}})"
            con.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}")
            rows += con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]  # type: ignore[index]
    con.close()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.unlink(missing_ok=True)
    print(json.dumps({"seconds": round(seconds, 2), "peak_mib": round(peak), "rows": rows}))
