"""Saved customer groups: named, versioned, bounded by their unit's subtree, and
previewed live on the latest run (size, AUM, tier mix, overlap with the other
groups in reach, and the size on the run before)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
from ibis.common import exceptions as ibis_errors
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kequn import warehouse
from kequn.core.errors import ConfigError, KequnError
from kequn.core.tomlfile import load_toml
from kequn.ingest.store import schema_for
from kequn.pipeline import groups
from kequn.pipeline.catalog import RunInfo, list_runs
from kequn.playbook.expr import Expression, ExpressionError
from kequn.store.campaign_models import CustomerGroup
from kequn.store.models import Branch

NAME_MAX = 60
GROUP_KEYS = {"name", "when", "description", "unit"}


@dataclass(frozen=True)
class GroupDef:
    """A group as a file defines it, checked."""

    name: str
    when: str
    description: str | None = None
    unit: str | None = None


def read_group_file(path: Path) -> list[GroupDef]:
    """The ``[[groups]]`` of a TOML file, every one checked before any is kept:
    a bad file is refused with the line and reason of each problem."""
    data, lines = load_toml(path)
    where = str(path)
    problems: list[tuple[str, int | None, str]] = []
    entries = data.get("groups")
    if not isinstance(entries, list) or not entries:
        raise ConfigError([(where, None, "no [[groups]] in the file")])
    found: list[GroupDef] = []
    seen: set[tuple[str, str | None]] = set()
    for i, g in enumerate(entries):
        at = lines.line(("groups", i))
        for key in sorted(set(g) - GROUP_KEYS):
            problems.append((where, lines.line(("groups", i, key)), f"unknown key {key!r}"))
        name, when, unit = g.get("name"), g.get("when"), g.get("unit")
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
            problems.append(
                (where, lines.line(("groups", i, "name")) or at, f"a name of 1 to {NAME_MAX} characters")
            )
            continue
        if unit is not None and not isinstance(unit, str):
            problems.append((where, lines.line(("groups", i, "unit")), "unit: a unit code"))
            continue
        if (name, unit) in seen:
            problems.append((where, lines.line(("groups", i, "name")), f"group {name!r} defined twice"))
        seen.add((name, unit))
        try:
            groups.parse_group(when)
        except ExpressionError as exc:
            problems.append((where, lines.line(("groups", i, "when")) or at, f"group {name!r}: {exc}"))
            continue
        description = g.get("description")
        found.append(
            GroupDef(name.strip(), when, description if isinstance(description, str) else None, unit)
        )
    if problems:
        raise ConfigError(problems)
    return found


@dataclass
class GroupPreview:
    text: str
    error: str | None = None
    error_zh: str | None = None
    parsed: Expression | None = None  # the condition, for reading back in words
    stats: groups.GroupStats | None = None
    previous: int | None = None
    overlap: dict[str, int] = field(default_factory=dict)
    run_id: str | None = None
    seconds: float = 0.0

    @property
    def change(self) -> int | None:
        if self.stats is None or self.previous is None:
            return None
        return self.stats.size - self.previous


def unit_branches(s: Session, branch_id: str | None) -> list[str] | None:
    """The units in ``branch_id``'s subtree (None: the whole bank)."""
    if branch_id is None:
        return None
    unit = s.get(Branch, branch_id)
    if unit is None:
        raise KequnError(f"unknown unit {branch_id!r}")
    return list(s.scalars(select(Branch.branch_id).where(Branch.path.like(unit.path + "%"))))


def open_analytics(path: Path) -> duckdb.DuckDBPyConnection:
    """The published runs, read-only: a night's ingest, run or decide writes files
    of their own, so this answers from the last published run meanwhile."""
    return warehouse.reader(path, [])


def latest_runs(duck: duckdb.DuckDBPyConnection) -> tuple[RunInfo, RunInfo | None]:
    runs = list_runs(duck)
    if not runs:
        raise KequnError("no pipeline run yet: run `kequn run` first")
    latest, before = runs[-1], (runs[-2] if len(runs) > 1 else None)
    warehouse.attach(duck, None, [latest.schema, *([before.schema] if before else [])])
    return latest, before


def preview(
    analytics: Path,
    text: str,
    branches: Sequence[str] | None,
    others: Sequence[CustomerGroup] = (),
) -> GroupPreview:
    """Counts a condition on the latest run, as the builder shows it while typing."""
    started = time.perf_counter()
    result = GroupPreview(text)
    duck = open_analytics(analytics)
    try:
        run, before = latest_runs(duck)
        try:
            expr = groups.parse_group(text, groups.run_attributes(duck, run))
        except ExpressionError as exc:
            result.error, result.error_zh = str(exc), exc.zh
            return result
        result.parsed = expr
        result.run_id = run.run_id
        try:
            result.stats = groups.stats(duck, run, expr, branches)
        except (duckdb.Error, ibis_errors.IbisError, TypeError, ValueError, AttributeError) as exc:
            # well-formed but not computable, e.g. a text compared with a number
            first = str(exc).splitlines()[0]
            result.error = f"cannot evaluate {text!r}: {first}"
            result.error_zh = f"条件「{text}」无法计算（例如文字与数字相比）：{first}"
            return result
        if before is not None:
            try:
                result.previous = groups.count(duck, before, expr, branches)
            except (duckdb.Error, ibis_errors.IbisError):  # an older run may lack a newer column
                result.previous = None
        parsed = {}
        for g in others:
            try:
                parsed[g.name] = groups.parse_group(g.expression)
            except ExpressionError:
                continue
        result.overlap = groups.overlap(duck, run, expr, parsed, branches)
    finally:
        duck.close()
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def groups_in_reach(s: Session, branch_path: str | None) -> list[CustomerGroup]:
    """The latest version of each group a user may use: the bank's own groups and
    those of units in their subtree (``branch_path`` None: every group)."""
    latest = (
        select(CustomerGroup.name, CustomerGroup.branch_id, func.max(CustomerGroup.version).label("v"))
        .group_by(CustomerGroup.name, CustomerGroup.branch_id)
        .subquery()
    )
    q = select(CustomerGroup).join(
        latest,
        (CustomerGroup.name == latest.c.name)
        & (CustomerGroup.version == latest.c.v)
        & (func.coalesce(CustomerGroup.branch_id, "") == func.coalesce(latest.c.branch_id, "")),
    )
    if branch_path is not None:
        units = select(Branch.branch_id).where(Branch.path.like(branch_path + "%"))
        q = q.where(CustomerGroup.branch_id.in_(units))
    return list(s.scalars(q.order_by(CustomerGroup.name)))


def save_group(
    s: Session,
    name: str,
    text: str,
    branch_id: str | None,
    by: str,
    at: datetime,
    result: GroupPreview,
    description: str | None = None,
) -> CustomerGroup:
    """Saves the group as a new version (the same version when nothing changed)."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise KequnError(f"a group needs a name of 1 to {NAME_MAX} characters")
    if result.parsed is None or result.text != text:
        groups.parse_group(text)  # raises ExpressionError with the reason
    same_unit = (
        CustomerGroup.branch_id.is_(None) if branch_id is None else CustomerGroup.branch_id == branch_id
    )
    last = s.scalar(
        select(CustomerGroup)
        .where(CustomerGroup.name == name, same_unit)
        .order_by(CustomerGroup.version.desc())
        .limit(1)
    )
    if last is not None and last.expression == text:
        return last
    st = result.stats
    group = CustomerGroup(
        name=name,
        version=(last.version + 1) if last else 1,
        branch_id=branch_id,
        expression=text,
        description=description,
        created_by=by,
        created_at=at,
        stats={
            "size": st.size if st else None,
            "aum": st.aum if st else None,
            "tier_mix": st.tier_mix if st else {},
            "previous": result.previous,
        },
        run_id=result.run_id,
    )
    s.add(group)
    s.flush()
    return group


#: values a builder field offers that no playbook list names
RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
GENDERS = ("M", "F")
CHOICES_MAX = 300


def data_choices(analytics: Path, field: str) -> list[tuple[str, str | None]]:
    """The values the latest run holds for a builder field that is not one of the
    playbook's lists (occupation, industry, the bank's tags, products), most
    common first: ``(code, name)``, the name when the data has one."""
    duck = open_analytics(analytics)
    try:
        run, _ = latest_runs(duck)
        if field in ("products_held", "product_types"):
            snapshot = schema_for(date.fromisoformat(run.snapshot_id))
            warehouse.attach(duck, None, [snapshot])
            column = "product_id, any_value(name)" if field == "products_held" else "type, NULL"
            key = "product_id" if field == "products_held" else "type"
            rows = duck.execute(
                f"SELECT {column} FROM {snapshot}.products GROUP BY {key} ORDER BY {key} LIMIT {CHOICES_MAX}"
            ).fetchall()
            return [(str(code), name) for code, name in rows if code is not None]
        doc = groups.GROUP_COLUMNS[field]
        values = f"unnest({field})" if doc.type == "list" else field
        rows = duck.execute(
            f"SELECT v, count(*) AS n FROM (SELECT {values} AS v FROM {run.schema}.profiles) "
            f"WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT {CHOICES_MAX}"
        ).fetchall()
        return [(str(v), None) for v, _ in rows]
    finally:
        duck.close()
