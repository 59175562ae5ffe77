"""The ``kequn`` command.

Each command's module is imported only when that command runs: the whole
package (pandas, ibis, SQLAlchemy, scipy, FastAPI) takes seconds to import, and
a banker's ``kequn why`` or a nightly script's ``kequn ingest`` should not pay
for the web app and the campaign statistics."""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from kequn import __version__

#: command name -> (module, attribute): a function is one command, a Typer app a group
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("kequn.cli.data", "synth_command"),
    "ingest": ("kequn.cli.data", "ingest_command"),
    "snapshots": ("kequn.cli.data", "snapshots_command"),
    "adapt": ("kequn.cli.data", "adapt_app"),
    "run": ("kequn.cli.pipeline", "run_command"),
    "runs": ("kequn.cli.pipeline", "runs_command"),
    "playbook": ("kequn.cli.release", "playbook_app"),
    "decide": ("kequn.cli.decisions", "decide_command"),
    "why": ("kequn.cli.decisions", "why_command"),
    "event": ("kequn.cli.decisions", "event_command"),
    "events": ("kequn.cli.events", "events_command"),
    "train": ("kequn.cli.models", "train_command"),
    "model": ("kequn.cli.models", "model_app"),
    "uplift": ("kequn.cli.models", "uplift_command"),
    "history": ("kequn.cli.models", "history_app"),
    "simulate": ("kequn.cli.decisions", "simulate_command"),
    "export": ("kequn.cli.decisions", "export_app"),
    "serve": ("kequn.cli.web", "serve_command"),
    "demo": ("kequn.cli.web", "demo_command"),
    "users": ("kequn.cli.web", "users_app"),
    "audit": ("kequn.cli.privacy", "audit_app"),
    "privacy": ("kequn.cli.privacy", "privacy_app"),
    "consent": ("kequn.cli.privacy", "consent_command"),
    "group": ("kequn.cli.campaigns", "group_app"),
    "campaign": ("kequn.cli.campaigns", "campaign_app"),
}


def load_command(name: str) -> Any:
    module, attribute = COMMANDS[name]
    target: Any = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command: Any = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """Lists every command, imports one only when it is asked for."""

    # typer ships its own copy of click: its types are not click's
    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in COMMANDS:
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="kequn",
    cls=LazyGroup,
    help="Kequn (客群): customer operations for retail banks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Kequn (客群): customer operations for retail banks."""
    from kequn.privacy.logs import install as install_log_scrubbing

    install_log_scrubbing()


@app.command("version")
def version() -> None:
    """Print Kequn's version."""
    typer.echo(__version__)


if __name__ == "__main__":  # pragma: no cover
    app()
