"""The models a bank has trained: kept whole in the operational store, at most one
in force. A model is activated only by training that beat the one in force, or
by a person (``kequn model activate``); a rollback puts back the model the
active one replaced. Nothing is loaded from a file or unpickled: the text
LightGBM wrote is parsed by LightGBM."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kequn.core.errors import KequnError
from kequn.learn.model import Model
from kequn.store import Store
from kequn.store.models import PropensityModel

_LOADED: dict[str, Model] = {}


def active(ops: Store) -> Model | None:
    """The model in force (parsed once per process), or None: priors."""
    with ops.session() as s:
        return active_in(s)


def active_in(s: Session) -> Model | None:
    """``active``, read in the caller's transaction."""
    # the version alone: its text (a few hundred kilobytes of trees) is read
    # once per process, not on every event
    version = s.scalar(
        select(PropensityModel.version).where(PropensityModel.active, PropensityModel.model_text.is_not(None))
    )
    if version is None:
        return None
    found = _LOADED.get(version)
    if found is None:
        text, spec = s.execute(
            select(PropensityModel.model_text, PropensityModel.spec).where(PropensityModel.version == version)
        ).one()
        found = _LOADED[version] = Model.from_text(version, text, spec)
    return found


def load(s: Session, version: str) -> Model:
    row = s.get(PropensityModel, version)
    if row is None or not row.model_text or not row.spec:
        raise KequnError(f"no model {version!r} to load")
    return Model.from_text(version, row.model_text, row.spec)


def keep(
    s: Session,
    version: str,
    model_text: str,
    spec: dict[str, Any],
    metrics: dict[str, Any],
    rows: int,
    trained_at: datetime,
) -> PropensityModel:
    row = PropensityModel(
        version=version,
        trained_at=trained_at,
        algorithm="LightGBM",
        outcomes_used=rows,
        metrics=metrics,
        artifact=None,
        active=False,
        model_text=model_text,
        spec=spec,
        status="trained",
    )
    s.add(row)
    s.flush()
    return row


def in_force(s: Session) -> PropensityModel | None:
    return s.scalars(select(PropensityModel).where(PropensityModel.active)).first()


def activate(s: Session, version: str, by: str, moment: datetime) -> str | None:
    """Puts ``version`` in force; returns the version it replaced."""
    row = s.get(PropensityModel, version)
    if row is None or not row.model_text:
        raise KequnError(f"no model {version!r} to activate (see `kequn model list`)")
    if row.active:
        raise KequnError(f"model {version} is already in force")
    before = in_force(s)
    s.execute(update(PropensityModel).where(PropensityModel.active).values(active=False, status="retired"))
    row.active = True
    row.status = "active"
    row.replaced = before.version if before else None
    row.activated_at = moment
    row.activated_by = by
    s.flush()
    return row.replaced


def rollback(s: Session, by: str, moment: datetime) -> tuple[str, str | None]:
    """Retires the model in force and puts back the one it replaced (None: the
    playbook's priors). Returns (retired, restored)."""
    current = in_force(s)
    if current is None:
        raise KequnError("no model is in force: decisions already use the playbook's priors")
    current.active = False
    current.status = "retired"
    restored = s.get(PropensityModel, current.replaced) if current.replaced else None
    if restored is not None and restored.model_text:
        restored.active = True
        restored.status = "active"
        restored.activated_at = moment
        restored.activated_by = by
    s.flush()
    return current.version, restored.version if restored is not None and restored.model_text else None


def versions(s: Session) -> list[PropensityModel]:
    return list(s.scalars(select(PropensityModel).order_by(PropensityModel.trained_at.desc())))
