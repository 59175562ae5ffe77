"""A playbook change released under four eyes, through the CLI as HQ uses it:
submitted by one HQ user, rehearsed, approved by another (never its author),
used by the next run, and rolled back; each step on the audit trail."""

from __future__ import annotations

import hashlib
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from kequn.cli.main import app
from kequn.core.clock import SHANGHAI
from kequn.pipeline import runs
from kequn.playbook import default_playbook_path
from kequn.privacy.audit import verify
from kequn.store import open_store
from kequn.store.models import AuditEntry
from kequn.web.app import create_app
from kequn.web.services.users import create_user
from kequn.web.settings import Settings
from tests.conftest import decided

pytestmark = pytest.mark.slow
PASSWORD = "correct-horse-battery"


def latest_digest(store: Path) -> str:
    return runs(store)[-1].playbook_digest


def test_a_change_is_released_by_a_second_hq_user_and_rolled_back(
    run_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    store, url, _ = decided(run_store, tmp_path, url, history=False)
    ops = open_store(url)
    with ops.session() as s:
        moment = datetime(2026, 11, 21, 9, tzinfo=SHANGHAI)
        for login, role in (("hq_li", "hq"), ("hq_wang", "hq"), ("head_zhao", "branch_head")):
            create_user(s, login, PASSWORD, role, moment)
    monkeypatch.setenv("KEQUN_PASSWORD", PASSWORD)
    change = tmp_path / "lower-wealth.toml"
    text = default_playbook_path().read_text(encoding="utf-8")
    change.write_text(text.replace("min_aum = 1_000_000\n", "min_aum = 800_000\n"), encoding="utf-8")
    runner = CliRunner()

    def kequn(*args: str) -> tuple[int, str]:
        done = runner.invoke(app, [*args, "--snapshot", str(store), "--store", url])
        return done.exit_code, done.output

    code, out = kequn("playbook", "submit", str(change), "--as", "hq_li")
    assert code == 0 and "version 1 submitted" in out and "客户分层「财富」门槛：100万元 → 80万元" in out
    # a branch head does not release a playbook, and nobody approves their own
    code, out = kequn("playbook", "approve", "1", "--as", "head_zhao")
    assert code != 0 and "not an active HQ user" in out
    code, out = kequn("playbook", "approve", "1", "--as", "hq_li")
    assert code != 0 and "second HQ user" in out
    code, out = kequn("playbook", "approve", "1", "--as", "hq_wang")
    assert code != 0 and "never rehearsed" in out
    # nothing is in force yet: the night still runs on Kequn's own
    default = hashlib.sha256(default_playbook_path().read_bytes()).hexdigest()
    code, _ = kequn("run")
    assert code == 0 and latest_digest(store) == default

    scratch = Path(tempfile.gettempdir())
    before = set(scratch.glob("kequn-versions-*"))
    code, out = kequn("playbook", "simulate", "--version", "1", "--as", "hq_wang")
    assert code == 0, out
    # the draft's file was written for the rehearsal alone, and is gone after it
    assert set(scratch.glob("kequn-versions-*")) == before
    code, out = kequn("playbook", "approve", "1", "--as", "hq_wang")
    assert code == 0 and "in force from the next run" in out, out
    code, _ = kequn("run")
    released = hashlib.sha256(change.read_bytes()).hexdigest()
    assert code == 0 and latest_digest(store) == released
    # the workbench reads the version in force too, once its next look comes round
    web = create_app(Settings(store_url=url, secret_key="k" * 32, secure_cookies=False))
    with TestClient(web) as client:
        web.state.playbooks.checked_at = float("-inf")
        # any request with a session looks (a sign-in attempt is one)
        client.post("/login", data={"login": "nobody", "password": "x" * 12})
        assert web.state.playbook.digest == released

    code, out = kequn("playbook", "rollback", "--as", "hq_wang")
    assert code == 0 and "Kequn's own playbook is in force again" in out
    code, _ = kequn("run")
    assert code == 0 and latest_digest(store) == default
    code, out = kequn("playbook", "versions")
    assert code == 0 and "retired" in out and "hq_wang" in out

    with ops.session() as s:
        actions = list(
            s.scalars(
                select(AuditEntry.action).where(AuditEntry.action.like("playbook_%")).order_by(AuditEntry.seq)
            )
        )
        assert actions == [
            "playbook_submitted",
            "playbook_simulated",
            "playbook_approved",
            "playbook_rolled_back",
        ]
        assert not verify(s).problems
    ops.dispose()


def test_a_rehearsal_that_fails_says_why_and_a_second_start_waits_for_the_first() -> None:
    import threading
    import time

    from kequn.web.routes.playbooks import Rehearsals

    jobs = Rehearsals()
    release = threading.Event()
    calls = []

    def slow() -> None:
        calls.append(1)
        release.wait(5)
        raise RuntimeError("no snapshot to run on\nsecond line")

    jobs.start(1, slow)
    jobs.start(1, slow)  # already running: not started twice
    assert jobs.state[1] == "running"
    release.set()
    deadline = time.monotonic() + 5
    while jobs.state.get(1) == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobs.state[1] == "no snapshot to run on" and calls == [1]
    jobs.start(2, lambda: None)
    deadline = time.monotonic() + 5
    while 2 in jobs.state and time.monotonic() < deadline:
        time.sleep(0.01)
    assert 2 not in jobs.state  # done: the figures are on the version
