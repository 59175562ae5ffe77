"""The nightly run's SQL (and the decision's), compiled once and kept.

Building the run's Ibis expressions and compiling them to SQL costs seconds,
every night the same seconds for the same SQL: the day is read from session
variables and the inputs through views of fixed names (``engines.DuckDBEngine``).
So the SQL is kept in a cache file, named by everything it depends on: Kequn's
own code, the versions of Ibis, sqlglot and DuckDB, the playbook, and the names
and types of the input columns. Anything else changed is another name, so a
stale entry is never read. A cache that cannot be read or written is no cache:
the run compiles as if it were the first."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

#: the format of the cache file; a change makes every older entry another name
FORMAT = 2


@dataclass(frozen=True)
class CompiledRun:
    #: the materialised steps in order: (name, SQL, the kept steps let go after it)
    steps: tuple[tuple[str, str, tuple[str, ...]], ...]
    #: the results the run publishes: (name, SQL)
    outputs: tuple[tuple[str, str], ...]


def cache_dir() -> Path | None:
    """``KEQUN_CACHE_DIR`` (``off``: no cache), else the user's cache folder."""
    chosen = os.environ.get("KEQUN_CACHE_DIR")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kequn"


@cache
def code_digest() -> str:
    """Every source file of the package: the expressions are built by all of it."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    for lib in ("ibis-framework", "sqlglot", "duckdb"):
        h.update(f"{lib}={version(lib)}".encode())
    return h.hexdigest()


def run_key(con: Any, inputs: list[str], playbook_digest: str) -> str:
    """The name of the SQL for these inputs (their columns and types, read from
    ``con``) under this playbook and this code."""
    shapes = {
        name: con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall()
        for name in inputs
    }
    payload = json.dumps([FORMAT, code_digest(), playbook_digest, shapes], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _path(key: str, kind: str = "run") -> Path | None:
    folder = cache_dir()
    return folder / f"{kind}-{key}.json" if folder else None


def one_query(name: str, con: Any, inputs: list[str], playbook_digest: str, build: Callable[[], str]) -> str:
    """One query's SQL (``build`` compiles it), kept like the run's under a name
    made of ``name``, the inputs' shapes, the playbook and the code."""
    key = hashlib.sha256(f"{name}|{run_key(con, inputs, playbook_digest)}".encode()).hexdigest()
    path = _path(key, "sql")
    if path is not None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("key") == key and isinstance(raw.get("sql"), str):
                return str(raw["sql"])
        except (OSError, ValueError, AttributeError):
            pass  # missing, unreadable or spoilt: compiled afresh
    sql = build()
    if path is not None:
        _write(path, json.dumps({"key": key, "sql": sql}, ensure_ascii=False))
    return sql


def load(key: str) -> CompiledRun | None:
    path = _path(key)
    if path is None:
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("key") != key:
            return None
        steps = tuple((str(n), str(q), tuple(str(f) for f in fs)) for n, q, fs in raw["steps"])
        outputs = tuple((str(n), str(q)) for n, q in raw["outputs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, unreadable or spoilt: compiled afresh
    return CompiledRun(steps, outputs)


def save(key: str, compiled: CompiledRun) -> None:
    path = _path(key)
    if path is None:
        return
    body = json.dumps({"key": key, "steps": compiled.steps, "outputs": compiled.outputs}, ensure_ascii=False)
    _write(path, body)


def _write(path: Path, body: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".run-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        os.replace(tmp, path)  # readers see the whole file or none
    except OSError:
        Path(tmp).unlink(missing_ok=True)
