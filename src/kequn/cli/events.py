"""``kequn events FILE``: a file of events (JSON Lines, one event a line, the
fields of ``POST /api/events``), decided in batches as the event stream's are."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import select

from kequn.cli.console import console, friendly_errors, progress_bars
from kequn.cli.decisions import SnapshotOpt, StoreOpt
from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.decide.propensity import active_model
from kequn.decide.realtime import MAX_BATCH, handle_events
from kequn.playbook import load_playbook
from kequn.release.versions import in_force
from kequn.rules import STAGE_NAMES, stage
from kequn.store import default_url, open_store
from kequn.store.cards import Cards
from kequn.store.models import Customer


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every event of the file, each checked as the API checks one; the first
    bad line refuses the file, named by its line and field."""
    from kequn.web.routes.api import EventIn  # the API's own definition of an event

    if not path.exists():
        raise KequnError(f"{path}: no such file")
    events = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                found = json.loads(line)
            except json.JSONDecodeError as exc:
                raise KequnError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
            if not isinstance(found, dict):
                raise KequnError(f"{path}:{number}: not a JSON object")
            try:
                events.append(EventIn.model_validate(found).model_dump())
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(x) for x in first["loc"]) or "event"
                raise KequnError(f"{path}:{number}: {field}: {first['msg']}") from None
    if not events:
        raise KequnError(f"{path}: no events in the file")
    return events


@friendly_errors
def events_command(
    file: Annotated[Path, typer.Argument(help="Events, one JSON object a line (JSON Lines).")],
    snapshot: SnapshotOpt = Path("bank.duckdb"),
    store: StoreOpt = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook file.")] = None,
    batch: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Events decided together.")] = MAX_BATCH,
) -> None:
    """Decide a file of events (JSON Lines, the fields of POST /api/events).

    Every line is checked and every customer looked up first; then the events
    are decided in batches, each stored whole."""
    events = read_events(file)
    url = store or default_url(snapshot)
    pb = load_playbook(playbook or in_force(url, snapshot))
    ops = open_store(url)
    cards = Cards(snapshot)
    made, stopped = 0, Counter[str]()
    try:
        wanted = sorted({e["customer_id"] for e in events})
        with ops.session() as s:
            known = set()
            for i in range(0, len(wanted), 10_000):
                chunk = wanted[i : i + 10_000]
                known |= set(s.scalars(select(Customer.customer_id).where(Customer.customer_id.in_(chunk))))
        unknown = [n for n, e in enumerate(events, start=1) if e["customer_id"] not in known]
        if unknown:
            raise KequnError(
                f"{file}: {len(unknown)} event(s) of unknown customers, the first "
                f"{events[unknown[0] - 1]['customer_id']!r} (event {unknown[0]}); nothing was decided"
            )
        model = active_model(ops)
        with progress_bars("events") as progress:
            for i in range(0, len(events), batch):
                for result in handle_events(ops, cards, events[i : i + batch], pb, model, now()):
                    made += result.task is not None
                    stopped.update(p.stage for p in result.pairs if p.stage != "task")
                progress("decide", min(i + batch, len(events)), len(events))
    finally:
        cards.close()
        ops.dispose()
    console.print(f"{len(events):,} events decided: {made:,} tasks")
    # in the funnel's order
    for name in STAGE_NAMES:
        if stopped.get(name):
            console.print(f"  stopped at {stage(name).en}: {stopped[name]:,}")
