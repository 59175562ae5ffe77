"""Rendering pages: the templates, their helpers and the language of the request."""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Undefined
from markupsafe import Markup

from kequn.core.clock import SHANGHAI
from kequn.learn.features import CALENDAR_WORDS
from kequn.pipeline.group_builder import Words, read_back
from kequn.pipeline.groups import parse_group
from kequn.playbook.expr import ExpressionError
from kequn.playbook.names import playbook_names
from kequn.rules import RULES
from kequn.web.i18n import amount_words, gettext_for, language_of, wan
from kequn.web.services.myday import OUTCOMES
from kequn.web.services.sentences import in_language, templates_of
from kequn.web.services.views import actor_name, trail_detail

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# the templates ship with the package and do not change while it serves: no stat
# of each file at every render and every task's include
TEMPLATES.env.auto_reload = False


#: a task's outcome buttons: every outcome but a sale, which has its own button
#: with the product and the amount
BUTTONS = tuple(o for o in OUTCOMES if o != "sold")


def count(n: object) -> str:
    """A number of people or things with thousands separators ("—" when unknown)."""
    return "—" if n is None or isinstance(n, Undefined) else f"{int(n):,}"  # type: ignore[call-overload]


def pct(share: float | None, places: int = 1) -> str:
    """A share as a percentage; "—" when there is none (nothing to divide by)."""
    return "—" if share is None or isinstance(share, Undefined) else f"{share * 100:.{places}f}%"


def measure_value(value: object) -> str:
    """A campaign's target or its progress: a count of customers or sales as a
    whole number, an amount (each measure's label says 元) in whole yuan; with
    thousands separators either way ("30.00" sales was shown)."""
    if value is None or isinstance(value, Undefined):
        return "—"
    number = Decimal(str(value))
    return f"{number.quantize(Decimal(1)):,f}"


def helpers(request: Request) -> dict[str, Any]:
    """What every template may call, in the request's language."""
    lang = language_of(request, request.app.state.settings.default_language)
    translate = gettext_for(lang)
    names = playbook_names(request.app.state.playbook, lang)

    def label(code: str | None) -> str:
        """Codes of the playbook (actions, triggers, segments, stages) in the page's language."""
        if not code:
            return ""
        if code in names:
            return names[code]
        text = translate(code)
        if text != code:
            return text
        # a funnel rule a verdict names (a referral or a salon lead refused)
        found = RULES.get(code)
        if found is not None:
            return found.en if lang == "en" else found.zh
        return code.replace("_", " ")

    words = Words(label, lambda v: amount_words(v, lang, label))
    page_key = uuid.uuid4().hex
    sentences = templates_of(request.app.state.playbook)

    @functools.cache
    def outcome_buttons() -> Markup:
        """A task's outcome buttons, the same on every task of the page: rendered
        once per page, not once per task (by the same escaping environment)."""
        return Markup(TEMPLATES.get_template("_outcome_buttons.html").render(_=label, outcomes=BUTTONS))

    def reason(r: Mapping[str, Any]) -> str:
        """What moved a task's chance, as a banker reads it: the day's own words
        for a weekday, a day of the month or a month (not ``星期=6``), else the
        feature's label and its value."""
        value = r.get("value")
        when = CALENDAR_WORDS.get(str(r.get("name")))
        # a whole number, whether the row held it as an int or a float (never NaN)
        if (
            when is not None
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and float(value).is_integer()
        ):
            return when[lang == "en"](int(value))
        text = label(r.get("label"))
        if value is True:
            return f"{text}({label('是')})"
        if value is False:
            return f"{text}({label('否')})"
        return text if value is None else f"{text}{label('：')}{label(str(value))}"

    def read_text(text: str) -> str:
        """A saved condition in words (its text when it no longer parses)."""
        try:
            return read_back(parse_group(text), words)
        except ExpressionError:
            return text

    return {
        "_": label,
        "lang": lang,
        # a fact the page lacks (no analytical store, a customer the run does not know) reads "—"
        "wan": lambda v: wan(None if isinstance(v, Undefined) else v, lang),
        "count": count,
        "pct": pct,
        "measure_value": measure_value,
        "tz": SHANGHAI,
        # a form's idempotency key: the page's own random part and the form's
        # number on it (one random draw a page, not one a task)
        "new_key": functools.partial(next, (f"{page_key}{n:08x}" for n in itertools.count())),
        "read_back": lambda expr: read_back(expr, words),
        "read_text": read_text,
        "reason": reason,
        "outcome_buttons": outcome_buttons,
        "trail_detail": trail_detail,
        "actor_name": lambda actor: actor_name(actor, label),
        # Kequn's own sentences (findings, advice, reasons) in the page's language
        "say": lambda text: in_language(text, lang, label, sentences),
    }


def render_text(request: Request, name: str, **context: Any) -> str:
    """A template rendered as a page would be (for a PDF or a mail)."""
    return TEMPLATES.get_template(name).render({**helpers(request), **context})


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language_of(request, request.app.state.settings.default_language)
    response = TEMPLATES.TemplateResponse(
        request,
        name,
        {**helpers(request), **context},
        status_code=status_code,
    )
    if request.query_params.get("lang") in ("zh_CN", "en"):
        response.set_cookie("kequn_lang", lang, httponly=True, samesite="lax")
    return response
