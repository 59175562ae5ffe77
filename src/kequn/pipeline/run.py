"""``kequn run``: a snapshot and a playbook in, a published run of profiles out."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any, Literal

from kequn import warehouse
from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.core.faults import point
from kequn.ingest.derived import HELD_LISTS, held_lists_sql
from kequn.ingest.store import SnapshotInfo, snapshots
from kequn.pipeline import compiled
from kequn.pipeline.cards import (
    ATTRIBUTES,
    CARBON_BEHAVIOURS,
    CONTACT_HISTORY,
    IN_CUSTOMER_ORDER,
    SHELF,
    attribute_columns,
    attributes_sql,
    carbon_behaviours_sql,
    contact_history_sql,
    index_run,
    shelf_sql,
)
from kequn.pipeline.catalog import RunInfo, list_run, next_run_id, previous_run, run_file, write_run
from kequn.pipeline.engines import RUN_MEMORY, DuckDBEngine, spark_engine
from kequn.pipeline.health import HEALTH_FORMULA, portfolio_rows
from kequn.pipeline.profile import build, profile_columns
from kequn.pipeline.reasons import recommendations_view
from kequn.pipeline.summary import summarise
from kequn.playbook import load_playbook

Progress = Callable[[str, int, int], None]
EngineName = Literal["duckdb", "spark"]


def pick_snapshot(store: Path, as_of: date | None) -> SnapshotInfo:
    found = snapshots(store)
    if not found:
        raise KequnError(f"{store}: no snapshot to run on (run `kequn ingest` first)")
    if as_of is None:
        return found[-1]
    for s in found:
        if s.as_of == as_of:
            return s
    raise KequnError(
        f"{store}: no snapshot as of {as_of}; there are {', '.join(s.snapshot_id for s in found)}"
    )


def run_pipeline(
    store: Path,
    playbook: Path | None = None,
    engine: EngineName = "duckdb",
    as_of: date | None = None,
    progress: Progress | None = None,
    memory_limit: str = RUN_MEMORY,
) -> RunInfo:
    report = progress or (lambda stage, done, total: None)
    pb = load_playbook(playbook)  # refused here, before any data is touched
    snapshot = pick_snapshot(store, as_of)
    started = now()
    # read-only: the workbench keeps reading the last run while this one is made
    con = warehouse.reader(store, [snapshot.schema])
    try:
        warehouse.skip_costly_compression(con)
        previous = previous_run(con, snapshot.as_of)
        if previous:
            warehouse.attach(con, store, [previous.schema])
        steps = ["profiles", "picks", "outputs", "publish"]
        run_id = next_run_id(con, snapshot.as_of)
        # the bank's own attributes ride with the profiles (group conditions, the
        # customer's page and the model read them there)
        attributes = attribute_columns(con, snapshot.schema, set(profile_columns(pb)))
        reported = (snapshot.report or {}).get("attributes")
        declared = dict(reported.get("customers") or {}) if isinstance(reported, dict) else {}
        context = spark_engine(con) if engine == "spark" else nullcontext(DuckDBEngine(con, memory_limit))
        with context as eng, run_file(con, store, run_id, snapshot.as_of) as made:

            def keep(name: str, expr: Any, frees: tuple[str, ...] = ()) -> Any:
                report(name, steps.index(name), len(steps))
                return eng.keep(name, expr, frees)

            inputs = eng.inputs(snapshot, previous, portfolio_rows(pb), pb.playbook.window_months)
            sources = None
            if isinstance(eng, DuckDBEngine):
                eng.publish_into(made.name)
                key = compiled.run_key(con, eng.input_names(previous is not None), pb.digest)
                kept = compiled.load(key)
                if kept is not None:
                    sources = eng.replay(kept, lambda name: report(name, steps.index(name), len(steps)))
                    report("outputs", steps.index("outputs"), len(steps))
            if sources is None:
                results = build(inputs, pb, keep, attributes)
                report("outputs", steps.index("outputs"), len(steps))
                sources = eng.outputs(results)
                if isinstance(eng, DuckDBEngine):
                    compiled.save(key, eng.compiled())
            point("run.compute")
            report("publish", steps.index("publish"), len(steps))
            history = contact_history_sql(con, snapshot.schema, snapshot.as_of)
            # kept with the snapshot when it was ingested; one ingested before has
            # them kept with its runs (what a group condition naming them reads)
            held_lists = (
                {}
                if warehouse.has_table(con, snapshot.schema, HELD_LISTS)
                else {HELD_LISTS: lambda _: held_lists_sql(snapshot.schema)}
            )

            def summary(tables: dict[str, str]) -> dict[str, Any]:
                out = summarise(con, tables, pb)
                out["previous_run"] = previous.run_id if previous else None
                out["health_formula"] = HEALTH_FORMULA
                out["attributes"] = attributes  # the bank's own, beside the profile's columns
                return out

            written = write_run(
                con,
                made,
                run_id,
                sources,
                snapshot.snapshot_id,
                snapshot.as_of,
                eng.name,
                {
                    "name": pb.playbook.playbook.name,
                    "version": pb.version,
                    "digest": pb.digest,
                    "source": pb.source,
                },
                started,
                summary,
                derived={
                    **held_lists,
                    SHELF: lambda _: shelf_sql(snapshot.schema),
                    CONTACT_HISTORY: lambda _: history,
                    ATTRIBUTES: lambda _: attributes_sql(attributes, declared),
                    CARBON_BEHAVIOURS: lambda _: carbon_behaviours_sql(pb),
                },
                order=IN_CUSTOMER_ORDER,
                indexed=index_run,
                views={"recommendations": recommendations_view()},
                kept=eng.written if isinstance(eng, DuckDBEngine) else (),
            )
    finally:
        con.close()
    info = list_run(store, written)
    report("publish", len(steps), len(steps))
    return info
