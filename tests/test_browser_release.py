"""HQ releases a playbook change in a real browser: one HQ user submits it and
rehearses it on the latest bank, sees the comparison, cannot approve it
themselves; a second HQ user approves it; the next run uses it."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

import pytest
from playwright.sync_api import Browser, expect
from typer.testing import CliRunner

from kequn.cli.main import app
from kequn.core.clock import SHANGHAI
from kequn.pipeline import runs
from kequn.playbook import default_playbook_path
from kequn.store import open_store
from kequn.web.services.users import create_user
from tests.conftest import PASSWORD, Workbench
from tests.test_browser import Person, browser, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("web")]
#: a rehearsal runs the night twice on the small bank: seconds alone, longer
#: on two cores shared with the rest of the suite
REHEARSAL_MS = 240_000


@pytest.mark.parametrize("workbench", ["sqlite"], indirect=True)
def test_hq_rehearses_a_change_and_a_second_hq_user_releases_it(
    browser: Browser,  # noqa: F811
    server: str,  # noqa: F811
    workbench: Workbench,
) -> None:
    ops = open_store(workbench.url)
    with ops.session() as s:
        create_user(s, "hq2", PASSWORD, "hq", datetime(2026, 11, 21, 8, tzinfo=SHANGHAI))
    ops.dispose()
    text = (
        default_playbook_path()
        .read_text(encoding="utf-8")
        .replace("min_aum = 1_000_000\n", "min_aum = 800_000\n")
    )

    author = Person(browser, server, "hq", "sqlite/release")
    try:
        author.open("/playbooks")
        author.page.fill("#playbook-text", text)
        author.page.click("#submit-playbook button[type=submit]")
        expect(author.page).to_have_url(re.compile(r"/playbooks/\d+$"))
        expect(author.page.locator("#changes")).to_contain_text("客户分层「财富」门槛：100万元 → 80万元")
        where = author.page.url.removeprefix(server)
        author.page.click("#rehearse button")
        expect(author.page.locator("#migration")).to_contain_text("财富", timeout=REHEARSAL_MS)
        expect(author.page.locator("#tasks-chart canvas")).to_have_count(1)
        expect(author.page.locator("#migration-chart canvas").first).to_be_visible()
        # its author cannot release it
        expect(author.page.locator("#approve")).to_have_count(0)
        author.shot("rehearsed")
        assert not author.errors, author.errors
    finally:
        author.close()

    second = Person(browser, server, "hq2", "sqlite/release")
    try:
        second.open(where)
        second.page.click("#approve button")
        expect(second.page.locator("#version")).to_contain_text("现行")
        second.open("/playbooks")
        expect(second.page.locator("#in-force")).to_contain_text("hq2")
        assert not second.errors, second.errors
    finally:
        second.close()

    done = CliRunner().invoke(app, ["run", "--snapshot", str(workbench.store), "--store", workbench.url])
    assert done.exit_code == 0, done.output
    assert runs(workbench.store)[-1].playbook_digest == hashlib.sha256(text.encode("utf-8")).hexdigest()
