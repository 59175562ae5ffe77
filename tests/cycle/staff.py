"""Staff of every role at work in the workbench, over HTTP, as people use it:
they sign in, open their pages, read customers, log what happened, unmask a
number when they must call, check customers in on the floor, hold a salon,
launch and pause a campaign, change consents. Everything goes through the
same forms and API the browser uses, CSRF tokens included."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import numpy as np

#: how a manager's calls turn out (the rest of the tasks wait for another day)
OUTCOMES = {
    "reached": 0.30,
    "not_reached": 0.18,
    "interested": 0.12,
    "declined": 0.10,
    "sold": 0.10,
    "maybe_later": 0.15,
    "complaint": 0.02,
    "do_not_contact": 0.03,
}
CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')
PRE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Refused(AssertionError):
    """The workbench answered a person's ordinary request with an error."""


@dataclass
class Person:
    base: str
    login: str
    password: str
    client: httpx.Client = field(init=False)
    csrf: str = ""

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base, timeout=60, follow_redirects=False)

    def sign_in(self) -> None:
        form = self.client.get("/login")
        token = PRE.search(form.text)
        assert token, "the sign-in form has no token"
        answer = self.client.post(
            "/login", data={"login": self.login, "password": self.password, "csrf_token": token.group(1)}
        )
        if answer.status_code != 303:
            raise Refused(f"{self.login} could not sign in: {answer.status_code} {answer.text[:200]}")
        landing = self.client.get(answer.headers["location"], follow_redirects=True)
        if "/login" in str(landing.url):
            raise Refused(f"{self.login} signed in and was sent back to the sign-in page")
        self.expect(landing, f"{self.login}'s first page")
        found = CSRF.search(landing.text)
        assert found, f"{self.login}'s page carries no CSRF token"
        self.csrf = found.group(1)

    def expect(self, answer: httpx.Response, what: str, ok: tuple[int, ...] = (200, 303)) -> httpx.Response:
        if answer.status_code not in ok:
            raise Refused(f"{self.login}: {what} answered {answer.status_code}: {answer.text[:300]}")
        return answer

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.expect(self.client.get(path, params=params or None), f"GET {path}")

    def form(self, path: str, data: dict[str, Any], ok: tuple[int, ...] = (200, 303)) -> httpx.Response:
        return self.expect(self.client.post(path, data={**data, "csrf_token": self.csrf}), f"POST {path}", ok)

    def api(self, path: str, body: dict[str, Any], ok: tuple[int, ...] = (200,)) -> httpx.Response:
        answer = self.client.post(f"/api{path}", json=body, headers={"X-CSRF-Token": self.csrf})
        return self.expect(answer, f"POST /api{path}", ok)

    def close(self) -> None:
        self.client.close()


@dataclass
class DayLog:
    day: date
    requests: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    sales: int = 0
    unmasked: int = 0
    checkins: int = 0
    referrals: int = 0
    salons: int = 0
    consents: int = 0
    campaign: str | None = None
    paused: str | None = None
    views: int = 0


#: what one manager gets through in a day: a private banker's list in the synthetic
#: bank holds 15 calls, 3 visits and some 90 messages; a person logs about 40
TASKS_A_DAY = 40


def manager_day(
    p: Person, rng: np.random.Generator, log: DayLog, share: float = 0.6, most: int = TASKS_A_DAY
) -> list[str]:
    """A manager works through part of today's list in its order (by time), at
    most ``most`` tasks; returns the customers seen."""
    p.get("/my-day")
    tasks = p.client.get("/api/my-day").json()
    log.requests += 2
    open_tasks = [t for t in tasks if t["status"] == "open"]
    picked = [t for t in open_tasks if rng.random() < share][:most]
    seen = []
    names, weights = list(OUTCOMES), np.array(list(OUTCOMES.values()))
    for t in picked:
        if rng.random() < 0.5:
            p.get(f"/customers/{t['customer_id']}")
            log.views += 1
            log.requests += 1
        outcome = str(rng.choice(names, p=weights / weights.sum()))
        body: dict[str, Any] = {"outcome": outcome, "key": uuid.uuid4().hex}
        if outcome == "sold":
            body["product_id"] = t["product_id"] or "DD0001"
            body["amount"] = str(round(float(rng.lognormal(10, 1)), 2))
            log.sales += 1
        if rng.random() < 0.2:
            body["note"] = "客户说下周再联系"
        answer = p.api(f"/tasks/{t['task_id']}/outcome", body, ok=(200, 422))
        log.requests += 1
        if answer.status_code == 200:
            log.outcomes[outcome] = log.outcomes.get(outcome, 0) + 1
            seen.append(t["customer_id"])
    return seen


def unmask_for_a_call(p: Person, customer_id: str, log: DayLog) -> None:
    p.form(f"/customers/{customer_id}/unmask", {"field": "phone", "reason": "客户约定今天电话回访"})
    log.unmasked += 1
    log.requests += 1


def consent_change(p: Person, customer_id: str, log: DayLog, purpose: str = "marketing_sms") -> None:
    p.form(f"/customers/{customer_id}/consent", {"purpose": purpose, "granted": "no", "source": "counter"})
    log.consents += 1
    log.requests += 1


def floor_day(lobby: Person, customers: list[str], manager_id: str, log: DayLog) -> None:
    """The lobby manager checks customers in and refers the first to a manager."""
    lobby.get("/floor")
    for i, cid in enumerate(customers):
        page = lobby.form("/floor/check-in", {"customer_id": cid})
        log.checkins += 1
        log.requests += 1
        found = re.search(r'name="checkin_id" value="(\d+)"', page.text)
        if i == 0 and found:
            lobby.form(
                "/floor/refer", {"checkin_id": found.group(1), "manager_id": manager_id, "note": "想了解理财"}
            )
            log.referrals += 1
            log.requests += 1


def salon(p: Person, leads: list[str], log: DayLog) -> None:
    p.form(
        "/activities/salon",
        {
            "topic": "养老理财微沙龙",
            "listeners": 6,
            "leads": "，".join(leads),
            "sales": 1,
            "sales_amount": "50000",
        },
    )
    log.salons += 1
    log.requests += 1


def launch_campaign(head: Person, day: date, log: DayLog) -> str:
    """A branch head saves a group and launches a campaign on it."""
    head.get("/groups")
    head.form("/groups", {"name": f"月度客群{day:%m%d}", "expression": "age >= 40 AND aum > 20000"})
    page = head.get("/campaigns")
    group = re.findall(r'<option[^>]*value="(\d+)"[^>]*>月度客群', page.text)
    assert group, "the saved group is not offered for a campaign"
    answer = head.form(
        "/campaigns",
        {
            "name": f"月度开门红{day:%m%d}",
            "group_id": group[-1],
            "action": "campaign_offer",
            "starts_on": day.isoformat(),
            "ends_on": (day + timedelta(days=20)).isoformat(),
            "target_measure": "sold",
            "target_value": "20",
            "channels": ["phone", "sms"],
            "priority": "0.8",
            "control_share": "0.2",
        },
    )
    where = answer.headers.get("location", "")
    assert where.startswith("/campaigns/CMP"), f"the launch went to {where!r}"
    head.get(where)
    log.campaign = where.rsplit("/", 1)[1]
    log.requests += 4
    return log.campaign


def pause_campaign(head: Person, campaign_id: str, log: DayLog) -> None:
    head.form(f"/campaigns/{campaign_id}/pause", {})
    log.paused = campaign_id
    log.requests += 1


def look_around(p: Person, paths: list[str], log: DayLog) -> None:
    for path in paths:
        p.get(path)
        log.requests += 1
