"""Every page of every role, in Chinese and in English, read as a banker reads it:
in Chinese no English word or raw code (beyond a short list everyone in a bank
says, such as AUM), in English no Chinese in the page's own words (names of
customers, products and branches are the bank's data and stay as they are).
Screenshots of each page land in ``test-artifacts/<store>/walk``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser

from tests.conftest import Workbench
from tests.test_browser import ARTIFACTS, Person, browser, customer_of, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web")]

#: words a Chinese bank's staff read as they are
ALLOWED = {"AUM", "NPS", "Kequn", "KYC", "PDF", "Excel", "CSV", "ID", "English", "APP", "App", "ETC", "ms", "CNY"}
#: the page's own words, not the bank's data: their text nodes are checked in English
CHROME = "h1, h2, h3, h4, th, label, button, nav a, summary, legend, .kpi > span, .hint, caption, option"
WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
CODE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
HAN = re.compile(r"[\u4e00-\u9fff]")
ROLES = ("manager", "head", "hq", "compliance", "teller", "lobby")

OWN_TEXT = """sel => Array.from(document.querySelectorAll(sel)).flatMap(el =>
    Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent.trim())
        .filter(t => t).map(t => [el.tagName.toLowerCase(), t]))"""
VISIBLE_TEXT = "() => document.body.innerText"


def pages_of(me: Person, workbench: Workbench) -> list[str]:
    """The role's own pages: its navigation, then what a user opens from there."""
    me.open("/customers")
    paths = [p for p in me.page.eval_on_selector_all("nav a", "as => as.map(a => a.getAttribute('href'))")]
    if me.login == "manager":
        cid = customer_of(workbench, "manager")
        paths += [f"/customers/{cid}", f"/customers/{cid}/report"]
    if me.login in ("head", "hq"):
        me.open("/campaigns")
        first = me.page.locator("a[href^='/campaigns/CMP']").first
        if first.count():
            paths.append(first.get_attribute("href") or "")
    return list(dict.fromkeys(p for p in paths if p))


def problems_on(me: Person, path: str, lang: str) -> list[str]:
    status = me.open(f"{path}{'&' if '?' in path else '?'}lang={lang}")
    if status != 200:
        return [f"{path}: answered {status}"]
    found: list[str] = []
    if lang == "zh_CN":
        text = me.page.evaluate(VISIBLE_TEXT)
        words = {w for w in WORD.findall(text) if w not in ALLOWED and w != me.login}
        found += [f"{path}: English or a code in Chinese: {w!r}" for w in sorted(words)]
    else:
        for tag, text in me.page.evaluate(OWN_TEXT, CHROME):
            if HAN.search(text):
                found.append(f"{path}: Chinese in English <{tag}>: {text[:60]!r}")
        text = me.page.evaluate(VISIBLE_TEXT)
        found += [f"{path}: a raw code: {c!r}" for c in sorted(set(CODE.findall(text)))]
    shot = path.strip("/").replace("/", "-") or "home"
    me.shot(f"walk-{lang}-{shot}")
    return found


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_page_of_every_role_speaks_the_language_it_is_read_in(
    browser: Browser,  # noqa: F811
    server: str,  # noqa: F811
    workbench: Workbench,
    lang: str,
) -> None:
    store = "postgresql" if workbench.url.startswith("postgresql") else "sqlite"
    found: dict[str, list[str]] = {}
    seen = 0
    for login in ROLES:
        me = Person(browser, server, login, f"{store}/walk")
        try:
            for path in pages_of(me, workbench):
                seen += 1
                problems = problems_on(me, path, lang)
                if problems:
                    found.setdefault(login, []).extend(problems)
            assert not me.errors, f"{login}: console errors {me.errors}"
        finally:
            me.close()
    assert seen >= 15, seen
    assert not found, "\n".join(f"{who}: {p}" for who, ps in found.items() for p in ps)
