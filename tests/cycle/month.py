"""A bank's month: nights of extracts and batch jobs, days of staff at work in the
workbench, and the invariants checked after each. Used by ``test_month.py``
(30 days of a 20,000-customer bank inside ``make test``) and by
``scripts/month.py`` (a bigger bank by hand, with figures)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import func, select

from kequn.core.clock import SHANGHAI
from kequn.playbook import load_playbook
from kequn.privacy.audit import verify
from kequn.store import open_store
from kequn.store.models import Customer, Staff
from kequn.synth.bank import MANIFEST_FILE
from kequn.web.services.users import create_user
from tests.cycle import invariants as inv
from tests.cycle import staff
from tests.cycle.bank import PASSWORD, Fault, Month, Step

#: the month's faults: a truncated file, a late one and a header alone
FAULTS = {
    4: Fault("truncated", "holdings"),
    11: Fault("late", "customers"),
    19: Fault("header_only", "customers"),
}
CAMPAIGN_DAY, PAUSE_DAY, DELETION_DAY = 2, 9, 6
POLL_SECONDS = 6.0


@dataclass
class Cast:
    managers: list[str]
    head: str
    lobby: str
    teller: str
    lobby_branch: str
    logins: dict[str, str] = field(default_factory=dict)  # login -> role


@dataclass
class MonthReport:
    days: int
    violations: dict[str, list[str]] = field(default_factory=dict)
    logs: list[staff.DayLog] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # answers other than 2xx/3xx while the night ran
    erased: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # where the month's time went

    def clock(self, what: str, since: float) -> float:
        now = time.monotonic()
        self.seconds[what] = round(self.seconds.get(what, 0.0) + now - since, 2)
        return now

    def add(self, when: str, found: list[str]) -> None:
        if found:
            self.violations.setdefault(when, []).extend(found)


def cast(month: Month) -> Cast:
    """Users for one branch's team and the bank's HQ and compliance."""
    ops = open_store(month.ops_url or "")
    try:
        with ops.session() as s:
            books = s.execute(
                select(Customer.owner_manager_id, func.count())
                .join(Staff, Staff.manager_id == Customer.owner_manager_id)
                .where(Staff.active, Staff.role.in_(["wealth_manager", "remote_manager", "service_manager"]))
                .group_by(Customer.owner_manager_id)
                .order_by(func.count().desc())
            ).all()
            first = s.get(Staff, books[0][0])
            assert first is not None
            team = [m for m, _ in books if (s.get(Staff, m) or first).branch_id == first.branch_id][:2]
            other = next(m for m, _ in books if m not in team)
            branch = first.branch_id
            roles = {
                r: s.scalar(select(Staff.manager_id).where(Staff.role == r).limit(1))
                for r in ("hq", "compliance")
            }
            root = s.scalar(select(Staff.branch_id).where(Staff.role == "hq").limit(1))
            c = Cast([*team, other], "head", "lobby", "teller", branch)
            plan = [(f"rm{i}", (s.get(Staff, m) or first).role, m, None) for i, m in enumerate(c.managers)]
            plan += [
                ("head", "branch_head", None, branch),
                ("lobby", "lobby_manager", None, branch),
                ("teller", "teller", None, branch),
                ("hq", "hq", roles["hq"], root),
                ("compliance", "compliance", roles["compliance"], root),
            ]
            moment = datetime.combine(month.workday(0), dtime(8, 0), SHANGHAI)
            for login, role, manager, unit in plan:
                create_user(s, login, PASSWORD, role, moment, manager, unit)
                c.logins[login] = role
    finally:
        ops.dispose()
    return c


def _poll(base: str, stop: threading.Event, seen: list[str]) -> None:
    """A head keeps the workbench open while the night runs: every answer must come."""
    head = staff.Person(base, "head", PASSWORD)
    try:
        head.sign_in()
        while not stop.is_set():
            for path, method in (("/my-day", "get"), ("/groups/preview", "post"), ("/dashboard", "get")):
                try:
                    if method == "get":
                        answer = head.client.get(path)
                    else:
                        answer = head.client.post(
                            path, data={"expression": "age >= 60"}, headers={"X-CSRF-Token": head.csrf}
                        )
                except httpx.HTTPError as exc:
                    seen.append(f"{path}: {type(exc).__name__}")
                    continue
                if answer.status_code >= 400 and answer.status_code != 403:
                    seen.append(f"{path}: {answer.status_code} {answer.text[:120]}")
            # a glance every few seconds: enough to meet every step, not a load of its own
            stop.wait(POLL_SECONDS)
    finally:
        head.close()


def _trail_checks(month: Month, night: int, report: MonthReport, last: bool) -> None:
    """The trail verifies after every day (the command itself every fifth day and
    on the last, since its start-up costs more than the check)."""
    if last or night % 5 == 4:
        trail = month.kequn(night, "audit", "verify", "--store", month.ops_url or "")
        if trail.failed:
            report.add(f"night {night}", [f"kequn audit verify: {trail.err.strip() or trail.out.strip()}"])
        return
    ops = open_store(month.ops_url or "")
    try:
        with ops.session() as s:
            found = verify(s)
    finally:
        ops.dispose()
    report.add(f"night {night}", found.problems)


def work_day(month: Month, c: Cast, night: int, base: str, rng: np.random.Generator) -> staff.DayLog:
    day = month.workday(night)
    log = staff.DayLog(day)
    people = {login: staff.Person(base, login, PASSWORD) for login in c.logins}
    try:
        for p in people.values():
            p.sign_in()
        seen: list[str] = []
        for i, login in enumerate(["rm0", "rm1", "rm2"]):
            mine = staff.manager_day(people[login], rng, log)
            seen += mine
            if mine:
                staff.unmask_for_a_call(people[login], mine[0], log)
            if i == 0 and len(mine) > 2:
                staff.consent_change(people[login], mine[1], log)
        ops = open_store(month.ops_url or "")
        try:
            with ops.session() as s:
                walk_ins = list(
                    s.scalars(
                        select(Customer.customer_id)
                        .where(Customer.home_branch_id == c.lobby_branch, Customer.name.is_not(None))
                        .order_by(func.random())
                        .limit(3)
                    )
                )
                leads = list(
                    s.scalars(
                        select(Customer.customer_id)
                        .where(Customer.owner_manager_id == c.managers[1])
                        .order_by(func.random())
                        .limit(2)
                    )
                )
        finally:
            ops.dispose()
        staff.floor_day(people["lobby"], walk_ins, c.managers[0], log)
        staff.look_around(people["teller"], ["/floor"], log)
        if night % 3 == 0:
            staff.salon(people["rm1"], leads, log)
        if night == CAMPAIGN_DAY:
            staff.launch_campaign(people["head"], day, log)
        if night == PAUSE_DAY and month.campaign:
            staff.pause_campaign(people["head"], month.campaign, log)
        staff.look_around(people["head"], ["/dashboard", "/customers", "/groups"], log)
        staff.look_around(people["hq"], ["/dashboard"], log)
        staff.look_around(people["compliance"], ["/audit"], log)
    finally:
        for p in people.values():
            p.close()
    if log.campaign:
        month.campaign = log.campaign
    return log


def erase_one(month: Month, c: Cast, night: int) -> tuple[str, str, str | None]:
    """Compliance answers a deletion request for one of the first manager's customers."""
    ops = open_store(month.ops_url or "")
    try:
        with ops.session() as s:
            card = s.scalars(
                select(Customer)
                .where(Customer.owner_manager_id == c.managers[0], Customer.name.is_not(None))
                .order_by(Customer.customer_id)
                .limit(1)
            ).one()
            who = (card.customer_id, card.name or "", card.phone)
    finally:
        ops.dispose()
    clock = datetime.combine(month.workday(night), dtime(16, 0), SHANGHAI)
    opened = month.kequn(
        night, "privacy", "request", "open", who[0], "deletion", "--store", month.ops_url or "", clock=clock
    )
    number = opened.out.split()[1] if not opened.failed else ""
    month.kequn(
        night,
        "privacy",
        "request",
        "fulfil",
        number,
        "--store",
        month.ops_url or "",
        "--snapshot",
        str(month.store),
        clock=clock,
    )
    return who


def run_month(
    root: Path,
    customers: int,
    days: int,
    ops_url: str | None = None,
    faults: dict[int, Fault] | None = None,
    on_night: Callable[[int, list[Step]], None] | None = None,
    seed: int = 7,
) -> tuple[Month, MonthReport]:
    month = Month(root, customers, seed, ops_url=ops_url, faults=FAULTS if faults is None else faults)
    pb = load_playbook()
    report = MonthReport(days)
    rng = np.random.default_rng(seed)
    month.prepare(days)
    steps = month.night(0)
    c = cast(month)
    erased: tuple[str, str, str | None] | None = None
    mark = time.monotonic()
    for night in range(days):
        if on_night:
            on_night(night, steps)
        for s in steps:
            if s.failed and not s.expected_to_fail:
                report.add(
                    f"night {night}",
                    [f"kequn {' '.join(s.args[:1])} exited {s.code}: {s.err.strip()[-400:]}"],
                )
            if s.expected_to_fail and not s.failed:
                report.add(f"night {night}", [f"a spoilt extract was published: kequn {s.name} exited 0"])
        manifest = month.extract(night) / MANIFEST_FILE
        report.add(f"night {night}", inv.files_add_up(month.store, manifest))
        report.add(f"night {night}", inv.aum_is_the_holdings(month.store, pb))
        day = month.workday(night)
        report.add(f"day {day}", inv.rules_kept(month.store, month.ops_url or "", pb, day))
        report.add(f"day {day}", inv.tasks_explained(month.ops_url or "", day))
        if erased:
            report.add(f"night {night}", inv.erased_everywhere(month.store, month.ops_url or "", *erased))
        mark = report.clock("checks", mark)
        base = month.serve(night)
        mark = report.clock("serve", mark)
        report.logs.append(work_day(month, c, night, base, rng))
        mark = report.clock("work", mark)
        if night == DELETION_DAY:
            erased = erase_one(month, c, night)
            report.erased = erased[0]
        report.add(f"day {day}", inv.rules_kept(month.store, month.ops_url or "", pb, day))
        report.add(f"day {day}", inv.open_tasks_still_allowed(month.ops_url or "", pb))
        report.add(f"day {day}", inv.campaign_arms_disjoint(month.ops_url or ""))
        _trail_checks(month, night, report, night + 1 == days)
        mark = report.clock("checks", mark)
        if night + 1 < days:
            stop = threading.Event()
            poller = threading.Thread(target=_poll, args=(base, stop, report.busy), daemon=True)
            poller.start()
            steps = month.night(night + 1)
            stop.set()
            poller.join(30)
        mark = report.clock("nights", mark)
    month.stop()
    return month, report
