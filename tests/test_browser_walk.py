"""Every page of every role, in Chinese and in English, read as a banker reads it:
in Chinese no English word or raw code (beyond a short list everyone in a bank
says, such as AUM); in English no Chinese and no raw code. The bank's own data
— names of customers, staff, products and units, and the talk track a manager
says to the customer in Chinese — is marked ``translate="no"`` in the pages
and read as it is. The Chinese walk is made on a desktop and the English one at a
phone's width; every page, in both, is also narrowed to a phone's width, where
none may scroll sideways. Screenshots of each page land in ``test-artifacts/<store>/walk``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser

from tests.conftest import Workbench
from tests.test_browser import PHONE, Person, browser, customer_of, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web")]

#: words a Chinese bank's staff read as they are
ALLOWED = {
    "AUM",
    "NPS",
    "Kequn",
    "KYC",
    "PDF",
    "Excel",
    "CSV",
    "ID",
    "English",
    "APP",
    "ETC",
    "ATM",
    "POS",
    "ms",
}
#: the page's own frame: a page read without any of it was not read at all
CHROME = "h1, h2, h3, h4, th, label, button, nav a, summary, legend, .kpi > span, .hint, caption, option"
WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
CODE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
HAN = re.compile(r"[\u4e00-\u9fff]")
#: a half-width comma, semicolon, colon, question or exclamation mark beside
#: Chinese: Chinese text takes the full-width ones (，；：？！)
HALF_WIDTH = re.compile(r"[\u4e00-\u9fff][,;:?!]|[,;:?!]\s*[\u4e00-\u9fff]")
#: and the full-width ones (and the enumeration comma) in English
FULL_WIDTH = re.compile(r"[，；：？！、。]")
ROLES = ("manager", "head", "hq", "compliance", "teller", "lobby")

#: every text node a person sees, with its element and whether that element is the
#: page's own words (``CHROME``); the bank's data is marked translate="no" and skipped
SHOWN_TEXT = """chrome => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode, el = node.parentElement;
    const text = node.textContent.trim();
    if (!el || !text || el.closest('[translate=no], script, style, template, noscript')) continue;
    // an option is seen through its list; anything else only when it is laid out
    const shown = e => e.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true});
    const seen = el.tagName === 'OPTION' ? shown(el.closest('select')) : shown(el);
    if (!seen) continue;
    out.push([el.tagName.toLowerCase(), text, !!el.closest(chrome)]);
  }
  return out;
}"""


#: the page's width once the frames after a resize are laid out (the resize
#: handlers, such as a chart's redraw, have run by the second frame)
LAID_OUT_WIDTH = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(
  () => done(document.documentElement.scrollWidth))))"""


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
    shown = me.page.evaluate(SHOWN_TEXT, CHROME)
    # the walk reads what is on the page: its heading or navigation at least
    if len(shown) < 5 or not any(tag in ("h1", "a") and chrome for tag, _, chrome in shown):
        found.append(f"{path}: the walk did not read the page ({len(shown)} texts)")
    for tag, text, _ in shown:
        if lang == "zh_CN":
            words = [w for w in WORD.findall(text) if w not in ALLOWED]
            if words:
                found.append(f"{path}: English or a code in Chinese <{tag}>: {text[:80]!r}")
            if HALF_WIDTH.search(text):
                found.append(f"{path}: half-width punctuation in Chinese <{tag}>: {text[:80]!r}")
        elif HAN.search(text):
            found.append(f"{path}: Chinese in English <{tag}>: {text[:80]!r}")
        elif FULL_WIDTH.search(text):
            found.append(f"{path}: Chinese punctuation in English <{tag}>: {text[:80]!r}")
        elif CODE.search(text):
            found.append(f"{path}: a raw code <{tag}>: {text[:80]!r}")
    shot = re.sub(r"[^A-Za-z0-9_-]+", "-", path.strip("/")) or "home"
    me.shot(f"walk-{lang}-{me.width}-{shot}")
    # every page in both languages at a phone's width too: a desktop walk narrows
    # the same page (its charts redraw on the resize) rather than load it again
    if me.width > PHONE:
        me.page.set_viewport_size({"width": PHONE, "height": 844})
    width = me.page.evaluate(LAID_OUT_WIDTH)
    if width > PHONE + 1:
        found.append(f"{path}: {width} px wide on a {PHONE} px phone")
    if me.width > PHONE:
        me.page.set_viewport_size({"width": me.width, "height": 900})
    return found


#: Chinese on a desktop (narrowed to a phone on every page) over SQLite; English,
#: whose words run longer, on a phone over PostgreSQL, whose numbers come back as
#: decimals: each language, each width and each store walked once
WALKS = {"sqlite": ("zh_CN", 1280), "postgresql": ("en", PHONE)}


def test_every_page_of_every_role_speaks_the_language_it_is_read_in(
    browser: Browser,  # noqa: F811
    server: str,  # noqa: F811
    workbench: Workbench,
) -> None:
    store = "postgresql" if workbench.url.startswith("postgresql") else "sqlite"
    lang, width = WALKS[store]
    found: dict[str, list[str]] = {}
    seen = 0
    for login in ROLES:
        me = Person(browser, server, login, f"{store}/walk", width=width)
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
