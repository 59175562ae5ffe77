"""Terminal output: one Rich console, progress bars, and clean error exits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from kequn.core.errors import KequnError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def progress_bars(description: str) -> Iterator[Callable[[str, int, int], None]]:
    """A callback ``(stage, done, total)`` that draws one bar per stage."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            # "check customers" and "check holdings" share the bar "check"
            key = stage.split()[0]
            if key not in tasks:
                tasks[key] = bars.add_task(f"{description}: {stage}", total=total)
            bars.update(tasks[key], completed=done, total=total, description=f"{description}: {stage}")

        yield update


def friendly_errors(func: F) -> F:
    """Turns a KequnError into its message and exit code 2, no traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KequnError as exc:
            # the message as written: a path is not broken across lines, nor a
            # bracket in it read as markup
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Exception as exc:
            if not _database_failure(exc):
                raise
            # a lost connection or a database refusing mid-step: the step's transaction
            # was rolled back by the database, so nothing of it was written
            first = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]
            err_console.print(
                f"[bold red]error:[/] the operational store failed ({type(exc).__name__}: {first}); "
                "nothing of this step was written: run it again",
                highlight=False,
            )
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _database_failure(exc: BaseException) -> bool:
    return any(
        c.__module__.startswith("sqlalchemy")
        and c.__name__
        in ("OperationalError", "InterfaceError", "DBAPIError", "PendingRollbackError", "DisconnectionError")
        for c in type(exc).__mro__
    )
