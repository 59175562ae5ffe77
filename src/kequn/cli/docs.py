"""Renders every command's help as Markdown (docs/cli.md); a test keeps it in sync."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

from kequn.cli.main import app


def _param_row(p: Any) -> str:
    # typer ships its own copy of click, so parameters are told apart by name
    if p.param_type_name == "argument":
        name = f"`{p.name.upper()}`"
        help_text = getattr(p, "help", "") or ""
        default = ""
    else:
        name = ", ".join(f"`{o}`" for o in p.opts + p.secondary_opts)
        help_text = p.help or ""
        value = getattr(p.default, "value", p.default)
        default = "" if value is None or (p.is_flag and not value) else f"`{value}`"
        annotation = p.type_descriptor.annotation
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            help_text += " One of: " + ", ".join(f"`{c.value}`" for c in annotation) + "."
    return f"| {name} | {help_text} | {default} |"


def _walk(cmd: Any, path: list[str], out: list[str]) -> None:
    if hasattr(cmd, "list_commands"):
        ctx = typer.Context(cmd)
        for name in sorted(cmd.list_commands(ctx)):
            _walk(cmd.get_command(ctx, name), [*path, name], out)
        return
    out += [f"## `{' '.join(path)}`", "", (cmd.help or "").strip(), ""]
    params = [p for p in cmd.params if p.name != "help"]
    if params:
        out += ["| argument / option | meaning | default |", "| --- | --- | --- |"]
        out += [_param_row(p) for p in params]
        out.append("")


def render() -> str:
    root = typer.main.get_command(app)
    out = [
        "# Command line",
        "",
        "Generated from the code by `python -m kequn.cli.docs`; a test fails when this file "
        "and the commands differ. `kequn COMMAND --help` prints the same.",
        "",
    ]
    _walk(root, ["kequn"], out)
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
