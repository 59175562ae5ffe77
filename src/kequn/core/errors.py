"""Errors a user can act on. Each names the file (and line) at fault."""

from __future__ import annotations

from pathlib import Path


class KequnError(Exception):
    """An error whose message is meant for the person running Kequn."""


class InputError(KequnError):
    """A bank file that cannot be read as it stands (missing, wrong header, encoding)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ConfigError(KequnError):
    """A playbook, mapping or other configuration file that is refused."""

    def __init__(self, problems: list[tuple[str, int | None, str]]) -> None:
        self.problems = problems
        lines = [
            f"{path}:{line}: {reason}" if line else f"{path}: {reason}" for path, line, reason in problems
        ]
        super().__init__("\n".join(lines))
