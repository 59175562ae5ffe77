"""HQ's playbook page: a change submitted, rehearsed beside the version in
force, and approved by a second HQ user (``kequn.release``)."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from kequn.core.errors import KequnError
from kequn.playbook import load_playbook
from kequn.playbook.diff import diff
from kequn.playbook.names import playbook_names
from kequn.release import versions
from kequn.release.sheets import reason_zh, workbook_of
from kequn.release.simulate import from_dict, simulate
from kequn.rules import RULES, STAGES
from kequn.store.models import PlaybookVersion
from kequn.web.deps import DB, ViewerDep
from kequn.web.i18n import gettext_for, language_of
from kequn.web.render import page
from kequn.web.security import check_csrf, require

router = APIRouter(include_in_schema=False)
STATUS = {"draft": "草稿", "active": "现行", "retired": "已退役"}
STAGE_EN = {st.name: st.en for st in STAGES}


def _refused(exc: KequnError) -> HTTPException:
    return HTTPException(status_code=409, detail=str(exc))


def _changes(s: DB, version: PlaybookVersion, lang: str) -> list[str]:
    """What the version changes against the one in force, in the page's language."""
    current = versions.active(s)
    base = versions.checked(current.text) if current and current.version_id != version.version_id else None
    old = base.playbook if base else load_playbook().playbook
    return [c.en if lang == "en" else c.zh for c in diff(old, versions.checked(version.text).playbook)]


@router.get("/playbooks", response_class=HTMLResponse)
def playbooks_page(request: Request, s: DB, v: ViewerDep) -> HTMLResponse:
    me = require(v, "hq")
    rows = list(s.scalars(select(PlaybookVersion).order_by(PlaybookVersion.version_id.desc())))
    return page(
        request,
        "playbooks.html",
        title="方案发布",
        viewer=me,
        versions=rows,
        in_force=versions.active(s),
        status=STATUS,
    )


@router.post("/playbooks")
def playbook_submit(
    request: Request,
    s: DB,
    v: ViewerDep,
    text: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    me = require(v, "hq")
    check_csrf(request, me, csrf_token)
    with tempfile.TemporaryDirectory(prefix="kequn-upload-") as tmp:
        path = Path(tmp) / "candidate.toml"
        path.write_text(text.replace("\r\n", "\n"), encoding="utf-8")
        try:
            version = versions.submit(s, path, me.login)
        except KequnError as exc:
            raise _refused(exc) from None
    return RedirectResponse(f"/playbooks/{version.version_id}", status_code=303)


def _version(s: DB, version_id: int) -> PlaybookVersion:
    found = s.get(PlaybookVersion, version_id)
    if found is None:
        raise HTTPException(status_code=404, detail="no such playbook version")
    return found


@router.get("/playbooks/{version_id}", response_class=HTMLResponse)
def playbook_page(request: Request, s: DB, v: ViewerDep, version_id: int) -> HTMLResponse:
    me = require(v, "hq")
    # whether a rehearsal runs is read before the version: a rehearsal records
    # its figures and only then lets go of "running", so the page shows one or
    # the other. Read the other way round, one that ended in between left the
    # page with neither, and no longer looking again (seen under load)
    rehearsing = rehearsals(request).state.get(version_id)
    version = _version(s, version_id)
    lang = language_of(request, request.app.state.settings.default_language)
    sim = from_dict(version.simulation) if version.simulation else None
    names = playbook_names(versions.checked(version.text), lang)
    say = gettext_for(lang)
    chart: dict[str, Any] | None = None
    if sim:
        actions = sorted(set(sim.active.tasks_by_action) | set(sim.candidate.tasks_by_action))

        def bars(counts: dict[str, int]) -> list[int]:
            return [counts.get(a, 0) for a in actions]

        chart = {
            "tooltip": {},
            "legend": {},
            "grid": {"containLabel": True},
            "xAxis": {"type": "value"},
            "yAxis": {"type": "category", "data": [names.get(a, a) for a in actions]},
            "series": [
                {"name": say("现行方案"), "type": "bar", "data": bars(sim.active.tasks_by_action)},
                {"name": say("候选方案"), "type": "bar", "data": bars(sim.candidate.tasks_by_action)},
            ],
        }

    heat: dict[str, Any] | None = None
    if sim:
        ladder = [t.name for t in versions.checked(version.text).playbook.tiers.ladder]
        shown = [names.get(t, t) for t in ladder]
        cells = [[ladder.index(m.to_tier), ladder.index(m.from_tier), m.customers] for m in sim.migration
                 if m.to_tier in ladder and m.from_tier in ladder]  # fmt: skip
        heat = {
            "tooltip": {},
            "grid": {"containLabel": True},
            "xAxis": {"type": "category", "data": shown, "name": say("新层级")},
            "yAxis": {"type": "category", "data": shown, "name": say("原层级")},
            "visualMap": {"min": 0, "max": max([c[2] for c in cells] or [1]), "show": False},
            "series": [{"type": "heatmap", "data": cells, "label": {"show": True}}],
        }

    def reason(key: str) -> str:
        stage, _, rule = key.partition(":")
        found = RULES.get(rule)
        if lang == "en":
            return f"{STAGE_EN.get(stage, stage)}: {found.en if found else rule}"
        return reason_zh(key)

    return page(
        request,
        "playbook.html",
        title="方案版本",
        viewer=me,
        version=version,
        changes=_changes(s, version, lang),
        sim=sim,
        chart=chart,
        heat=heat,
        names=names,
        reason=reason,
        status=STATUS,
        rehearsing=rehearsing,
        may_approve=version.status == "draft"
        and version.simulated_at is not None
        and version.author != me.login,
    )


class Rehearsals:
    """Rehearsals under way in this server, one per version at a time: minutes at a
    large bank, so they run beside the requests and the page looks again until
    the figures are in (or says why they are not)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[int, str] = {}  # version -> "running" or the reason it failed

    def start(self, version_id: int, work: Any) -> None:
        with self.lock:
            if self.state.get(version_id) == "running":
                return
            self.state[version_id] = "running"

        def run() -> None:
            try:
                work()
            except Exception as exc:  # shown on the page: a rehearsal that failed says why
                self.state[version_id] = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            else:
                self.state.pop(version_id, None)

        threading.Thread(target=run, name=f"rehearse-{version_id}", daemon=True).start()


def rehearsals(request: Request) -> Rehearsals:
    found = getattr(request.app.state, "rehearsals", None)
    if found is None:
        found = request.app.state.rehearsals = Rehearsals()
    return found  # type: ignore[no-any-return]


@router.post("/playbooks/{version_id}/rehearse")
def playbook_rehearse(
    request: Request, s: DB, v: ViewerDep, version_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    me = require(v, "hq")
    check_csrf(request, me, csrf_token)
    version = _version(s, version_id)
    if version.status != "draft":
        raise HTTPException(status_code=409, detail="only a draft is rehearsed")
    settings = request.app.state.settings
    if not settings.analytics:
        raise HTTPException(status_code=503, detail="no analytical store configured (KEQUN_ANALYTICS)")
    store, ops = Path(settings.analytics), request.app.state.store
    current = versions.active(s)
    texts = (version.text, current.text if current else None)
    digests = (version.digest, current.digest if current else None)

    def work() -> None:
        with tempfile.TemporaryDirectory(prefix="kequn-rehearse-") as tmp:
            folder = Path(tmp)
            candidate = folder / f"candidate-{digests[0][:16]}.toml"
            candidate.write_text(texts[0], encoding="utf-8")
            active = None
            if texts[1] is not None:
                active = folder / f"active-{(digests[1] or '')[:16]}.toml"
                active.write_text(texts[1], encoding="utf-8")
            sim = simulate(store, settings.store_url, candidate, active)
            with ops.session() as session:
                versions.mark_simulated(session, version_id, me.login, sim)

    rehearsals(request).start(version_id, work)
    return RedirectResponse(f"/playbooks/{version_id}", status_code=303)


@router.post("/playbooks/{version_id}/approve")
def playbook_approve(
    request: Request, s: DB, v: ViewerDep, version_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    me = require(v, "hq")
    check_csrf(request, me, csrf_token)
    try:
        versions.approve(s, version_id, me.login)
    except KequnError as exc:
        raise _refused(exc) from None
    return RedirectResponse(f"/playbooks/{version_id}", status_code=303)


@router.get("/playbooks/{version_id}/simulation.xlsx")
def playbook_simulation_xlsx(s: DB, v: ViewerDep, version_id: int) -> Response:
    require(v, "hq")
    version = _version(s, version_id)
    if not version.simulation:
        raise HTTPException(status_code=404, detail="this version was never rehearsed")
    body = workbook_of(from_dict(version.simulation), versions.checked(version.text))
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="playbook-{version_id}-simulation.xlsx"'},
    )
