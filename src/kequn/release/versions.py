"""A playbook change released under four eyes.

A change is submitted as a draft by an HQ user, rehearsed (``kequn playbook
simulate --version N``), and becomes active only when a second HQ user, never
its author, approves it. Every version is kept whole, so any two can be
compared and a rollback returns to the version that was in force before; each
step is on the audit trail. The nightly run and decide use the active version
(``active``), and each run records its digest.

Who someone is, is settled before these functions are called: the web app's
signed-in user, or a password checked by the CLI. Here their role is checked."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from kequn.core.clock import now
from kequn.core.errors import KequnError
from kequn.playbook import LoadedPlaybook, load_playbook
from kequn.privacy.audit import record_one
from kequn.store.models import PlaybookVersion, User

if TYPE_CHECKING:  # the rehearsal's stack is for those who rehearse, not every command
    from kequn.release.simulate import Simulation

ROLE = "hq"  # the retail strategists who own the playbook


class ReleaseError(KequnError):
    """A release step that the four-eyes rule or the version's state forbids."""


def _hq(s: Session, login: str) -> User:
    user = s.scalar(select(User).where(User.login == login))
    if user is None or not user.active or user.role != ROLE:
        raise ReleaseError(f"{login!r} is not an active HQ user: only HQ releases a playbook")
    return user


def checked(text: str) -> LoadedPlaybook:
    """The playbook a text holds, validated as a file of it would be."""
    with tempfile.TemporaryDirectory(prefix="kequn-playbook-") as tmp:
        path = Path(tmp) / "playbook.toml"
        path.write_text(text, encoding="utf-8")
        return load_playbook(path)


def submit(s: Session, path: Path, author: str) -> PlaybookVersion:
    """A new draft from a playbook file (refused if invalid, or if this very text
    is already a draft or in force)."""
    _hq(s, author)
    text = path.read_text(encoding="utf-8")
    pb = load_playbook(path)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    same = s.scalar(
        select(PlaybookVersion).where(
            PlaybookVersion.digest == digest, PlaybookVersion.status.in_(["draft", "active"])
        )
    )
    if same is not None:
        raise ReleaseError(f"this playbook is already version {same.version_id} ({same.status})")
    version = PlaybookVersion(
        name=pb.playbook.playbook.name,
        version=pb.version,
        digest=digest,
        text=text,
        status="draft",
        author=author,
        created_at=now(),
    )
    s.add(version)
    s.flush()
    record_one(s, author, ROLE, "playbook_submitted", None, {"version": version.version_id, "digest": digest})
    return version


def get(s: Session, version_id: int) -> PlaybookVersion:
    version = s.get(PlaybookVersion, version_id)
    if version is None:
        raise ReleaseError(f"no playbook version {version_id}")
    return version


def mark_simulated(s: Session, version_id: int, by: str, sim: Simulation) -> PlaybookVersion:
    """Records that a draft was rehearsed, with the rehearsal's figures."""
    _hq(s, by)
    version = get(s, version_id)
    if version.status != "draft":
        raise ReleaseError(f"version {version_id} is {version.status}, not a draft")
    version.simulated_by, version.simulated_at = by, now()
    from kequn.release.simulate import as_dict

    version.simulation = as_dict(sim)
    headline = {
        "snapshot": sim.snapshot_id,
        "tasks": [sim.active.tasks, sim.candidate.tasks],
        "moved": sum(m.customers for m in sim.migration if m.from_tier != m.to_tier),
        "flags": len(sim.flags),
    }
    record_one(s, by, ROLE, "playbook_simulated", None, {"version": version_id, **headline})
    return version


def active(s: Session) -> PlaybookVersion | None:
    return s.scalar(select(PlaybookVersion).where(PlaybookVersion.status == "active"))


def approve(s: Session, version_id: int, approver: str) -> PlaybookVersion:
    """The second pair of eyes: the draft becomes the active playbook and the one
    in force before it is retired (kept for a rollback)."""
    _hq(s, approver)
    version = get(s, version_id)
    if version.status != "draft":
        raise ReleaseError(f"version {version_id} is {version.status}, not a draft")
    if approver == version.author:
        raise ReleaseError(f"{approver!r} wrote version {version_id}: a second HQ user must approve it")
    if version.simulated_at is None:
        raise ReleaseError(
            f"version {version_id} was never rehearsed: "
            f"`kequn playbook simulate --version {version_id}` first"
        )
    before = active(s)
    if before is not None:
        before.status = "retired"
        version.previous_id = before.version_id
    version.status, version.approved_by, version.approved_at = "active", approver, now()
    record_one(
        s,
        approver,
        ROLE,
        "playbook_approved",
        None,
        {"version": version_id, "author": version.author, "replaces": before.version_id if before else None},
    )
    return version


def rollback(s: Session, by: str) -> PlaybookVersion | None:
    """Retires the active version and puts back the one it replaced (None: back
    to Kequn's own playbook)."""
    _hq(s, by)
    current = active(s)
    if current is None:
        raise ReleaseError("no released playbook is in force: Kequn's own is used already")
    current.status = "retired"
    back = get(s, current.previous_id) if current.previous_id is not None else None
    if back is not None:
        back.status = "active"
    record_one(
        s,
        by,
        ROLE,
        "playbook_rolled_back",
        None,
        {"retired": current.version_id, "active": back.version_id if back else None},
    )
    return back


def file_of(version: PlaybookVersion, folder: Path) -> Path:
    """The version's text as a file the run and decide read (named by its digest,
    so the file's own digest, which a run records, is the version's)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"playbook-{version.digest[:16]}.toml"
    if not path.exists():
        path.write_text(version.text, encoding="utf-8")
    return path


def in_force(ops_url: str, store: Path) -> Path | None:
    """The file of the released playbook in force for a bank (None: none was
    released, so Kequn's own applies). A store that does not exist yet is not
    made here."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from kequn.store import open_store

    parsed = make_url(ops_url)
    if parsed.drivername.startswith("sqlite") and not (parsed.database and Path(parsed.database).exists()):
        return None
    from sqlalchemy.exc import OperationalError

    ops = open_store(ops_url, upgrade=False, pool_size=1)
    try:
        if not inspect(ops.engine).has_table("playbook_versions"):
            return None
        with ops.session() as s:
            version = active(s)
            return file_of(version, store.with_name(store.name + ".playbooks")) if version else None
    except OperationalError as exc:
        # a night on the wrong playbook is worse than no night: say so and stop
        raise KequnError(
            f"the operational store cannot be read for the playbook in force ({str(exc).splitlines()[0]}); "
            "pass --playbook FILE to run on a named playbook"
        ) from None
    finally:
        ops.dispose()
