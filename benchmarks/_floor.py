"""The floor for `kequn run`: DuckDB alone scanning and aggregating, per customer,
the same input columns the pipeline reads. Prints seconds and peak MiB."""

from __future__ import annotations

import json
import os
import resource
import sys
import time

from kequn import warehouse

if __name__ == "__main__":
    store, schema, start = sys.argv[1], sys.argv[2], sys.argv[3]
    con = warehouse.reader(store, "all")
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute(f"SET threads = {os.cpu_count() or 2}")
    t0 = time.perf_counter()
    for sql in (
        f"""SELECT count(*), sum(a) FROM (SELECT c.customer_id, max(c.birth_date) AS b,
                max(c.risk_level) AS r, max(c.risk_assessed_on) AS ra, max(c.open_date) AS o,
                max(c.tags) AS t, max(c.employer_id) AS e, max(c.dependants) AS d,
                max(c.hukou_local) AS h, max(c.occupation) AS oc, 1 AS a
            FROM {schema}.customers c GROUP BY 1)""",
        f"""SELECT count(*), sum(s) FROM (
            SELECT h.customer_id, sum(h.balance) AS s, sum(h.avg_daily_balance_month),
                   sum(h.cost), max(h.maturity_date), max(h.currency), count(DISTINCT h.product_id),
                   max(p.type), max(p.asset_class), max(p.liquidity), max(p.risk_level)
            FROM {schema}.holdings h JOIN {schema}.products p USING (product_id) GROUP BY 1)""",
        f"""SELECT count(*), sum(s) FROM (
            SELECT customer_id, sum(amount) AS s, max(ts), max(type), max(channel),
                   max(merchant_category), max(same_name), max(currency)
            FROM {schema}.transactions WHERE ts >= TIMESTAMPTZ '{start} 00:00:00+08'
            GROUP BY 1)""",
    ):
        con.execute(sql).fetchall()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 2), "peak_mib": round(peak)}))
