"""What `kequn run` cannot do without beside its scan floor: DuckDB alone
writing the tables the run publishes (read back from the store's latest run)
into a new file, as the run writes them, and building the two indexes a card
reads them by. Prints seconds and peak MiB.

The scan floor (``_floor.py``) writes nothing; a run that computed for free
would still take this long to publish."""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from kequn import warehouse
from kequn.pipeline.cards import IN_CUSTOMER_ORDER, index_run

#: the run's tables of more than a few hundred rows
TABLES = ("profiles", "recommendation_picks", "triggers")

if __name__ == "__main__":
    store = sys.argv[1]
    con = warehouse.reader(store)
    latest = warehouse.latest(con, "run")
    assert latest is not None, f"{store}: no run to read"
    source = latest.name
    warehouse.skip_costly_compression(con)
    con.execute(f"SET threads = {os.cpu_count() or 2}")
    con.execute("SET preserve_insertion_order = false")
    with tempfile.TemporaryDirectory(prefix="kequn-publish-floor-", dir=Path(store).parent) as work:
        con.execute(f"ATTACH '{Path(work) / 'floor.duckdb'}' AS floor (READ_WRITE)")
        t0 = time.perf_counter()
        for table in TABLES:
            order = IN_CUSTOMER_ORDER.get(table)
            ordered = f" ORDER BY {order}" if order else ""
            con.execute(f"CREATE TABLE floor.{table} AS SELECT * FROM {source}.{table}{ordered}")
        index_run(con, "floor")
        con.execute("DETACH floor")
        seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 2), "peak_mib": round(peak)}))
