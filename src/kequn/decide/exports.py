"""Exports for the bank's other systems: the outbound-call list for a smart-call
or RPA system, and tag groups for enterprise-WeChat mass messages. Both check
consent again at export time: a consent withdrawn after the decision is kept."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from kequn.core import sheets
from kequn.core.errors import KequnError
from kequn.playbook import LoadedPlaybook
from kequn.privacy.audit import Event, digest, record
from kequn.privacy.consent import refusals
from kequn.privacy.masking import mask, reason_is_stated
from kequn.store import Store
from kequn.store.models import Customer, Task

#: the dialler's columns, as the bank's call centre reads them
CALL_COLUMNS = ["任务号", "预约时间", "客户号", "姓名", "手机号", "客户经理", "事项", "话术"]


@dataclass
class Export:
    path: Path
    rows: int
    held_back: int


def call_list(
    ops: Store,
    pb: LoadedPlaybook,
    day: date,
    out: Path,
    actor: str = "system:export",
    role: str = "operator",
    numbers_reason: str | None = None,
) -> Export:
    """The day's open phone tasks, best first, names masked (minimum necessary).
    Numbers are masked too unless a reason is given for the dialler to have them
    in clear (the workbench's own test of a reason); either way the export and
    its customers go on the audit trail."""
    if numbers_reason is not None and not reason_is_stated(numbers_reason):
        raise KequnError(
            f"--numbers-reason {numbers_reason!r} says nothing: state why the dialler needs the numbers"
        )
    actions = {a.name: a for a in pb.playbook.actions}
    rows, held = [], 0
    with ops.session() as s:
        tasks = s.scalars(
            select(Task)
            .where(Task.as_of == day, Task.status == "open", Task.channel == "phone")
            .order_by(Task.scheduled_at, Task.priority.desc())
        ).all()
        for t in tasks:
            card = s.get(Customer, t.customer_id)
            if card is None or not card.phone:
                held += 1
                continue
            a = actions.get(t.action)
            if a is None or refusals(s, pb, card, [(t.task_id, a.kind, "phone", a.personalised, t.source)]):
                held += 1
                continue
            rows.append(
                [
                    t.task_id,
                    t.scheduled_at.isoformat() if t.scheduled_at else "",
                    t.customer_id,
                    mask("name", card.name) or "",
                    card.phone if numbers_reason else mask("phone", card.phone),
                    t.manager_id,
                    a.zh,
                    t.talk_track,
                ]
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".xlsx":
        wb, ws = sheets.workbook()
        ws.title = f"外呼名单 {day}"
        sheets.append(ws, CALL_COLUMNS, header=True)
        for r in rows:
            sheets.append(ws, r)
        sheets.finish(ws)
        wb.save(out)
    else:
        with open(out, "w", newline="", encoding="utf-8-sig") as fh:
            w = csv.writer(fh)
            w.writerow(CALL_COLUMNS)
            w.writerows(rows)
    with ops.session() as s:
        _audit(
            s,
            actor,
            role,
            "call_list",
            out,
            [str(r[2]) for r in rows],
            {"numbers_in_clear_because": numbers_reason},
        )
    return Export(out, len(rows), held)


def _audit(
    s: Any,
    actor: str,
    role: str,
    kind: str,
    out: Path,
    customers: list[str],
    extra: dict[str, Any] | None = None,
) -> None:
    ids = sorted(set(customers))
    detail: dict[str, Any] = {"export": kind, "file": str(out), "rows": len(customers), **(extra or {})}
    # who was exported, by name up to a size; beyond it, a digest of the list
    detail["customers" if len(ids) <= 5000 else "customers_digest"] = ids if len(ids) <= 5000 else digest(ids)
    record(s, [Event(actor, role, "export", None, detail)])


def wechat_groups(
    ops: Store,
    pb: LoadedPlaybook,
    groups: list[str],
    out: Path,
    actor: str = "system:export",
    role: str = "operator",
) -> Export:
    """One row per customer and tag for segment-based WeChat groups, only for
    customers who consented to WeChat marketing and did not refuse targeting."""
    zh = {seg.name: seg.zh for seg in pb.playbook.segments}
    unknown = [g for g in groups if g not in zh]
    if unknown:
        raise ValueError(f"unknown segments {unknown}; segments: {', '.join(zh)}")
    rows: list[list[str]] = []
    held = 0
    with ops.session() as s:
        for card in s.scalars(select(Customer).order_by(Customer.customer_id)):
            segs = set(
                card.segments if isinstance(card.segments, list) else json.loads(card.segments or "[]")
            )
            mine = [g for g in groups if g in segs]
            if not mine:
                continue
            # a WeChat mass send is personalised marketing on the WeChat channel
            if refusals(s, pb, card, [("wechat", "marketing", "wechat", True, "export")]):
                held += len(mine)
                continue
            rows.extend([g, zh[g], card.customer_id, card.owner_manager_id or ""] for g in mine)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(["标签", "标签名", "客户号", "客户经理"])
        w.writerows(rows)
    with ops.session() as s:
        _audit(s, actor, role, "wechat_groups", out, [r[2] for r in rows], {"groups": groups})
    return Export(out, len(rows), held)
