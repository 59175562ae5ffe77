"""TOML files whose keys can be traced back to their line, for error messages.

``tomllib`` gives values without positions. ``KeyLines`` scans the text once
and records the line of every table header and key, so a validator can say
``playbook.toml:42: weights sum to 0.9, not 1``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from kequn.core.errors import ConfigError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:\"[^\"]*\"|'[^']*'|"
    r"[A-Za-z0-9_\-]+))*)\s*="
)


def _split_key(text: str) -> list[str]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_\-]+)", text)
    return [a or b or c for a, b, c in parts]


class KeyLines:
    """Maps key paths such as ``("tiers", 2, "min_aum")`` to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str | int, ...], int] = {}
        array_counts: dict[tuple[str, ...], int] = {}
        current: tuple[str | int, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header and not line.lstrip().startswith("#"):
                names = tuple(_split_key(header.group(2)))
                if header.group(1) == "[[":
                    idx = array_counts.get(names, 0)
                    array_counts[names] = idx + 1
                    current = (*self._resolve(names, array_counts), idx)
                else:
                    current = self._resolve(names, array_counts)
                self.lines.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key and not line.lstrip().startswith("#"):
                self.lines.setdefault((*current, *_split_key(key.group(1))), number)

    @staticmethod
    def _resolve(names: tuple[str, ...], arrays: dict[tuple[str, ...], int]) -> tuple[str | int, ...]:
        # a sub-table of an array of tables belongs to the array's last element
        out: list[str | int] = []
        for i, name in enumerate(names):
            out.append(name)
            prefix = names[: i + 1]
            if prefix in arrays and i < len(names) - 1:
                out.append(arrays[prefix] - 1)
        return tuple(out)

    def line(self, path: tuple[str | int, ...]) -> int | None:
        """The line of ``path`` or of its nearest enclosing key."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def load_toml(path: Path) -> tuple[dict[str, Any], KeyLines]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([(str(path), None, "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([(str(path), None, f"not UTF-8 text ({exc.reason})")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            [(str(path), int(match.group(1)) if match else None, f"not valid TOML: {exc}")]
        ) from None
    return data, KeyLines(text)
