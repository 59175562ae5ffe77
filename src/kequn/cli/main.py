"""The ``kequn`` command."""

from __future__ import annotations

import typer

from kequn import __version__
from kequn.cli import campaigns, data, decisions, pipeline, privacy, web
from kequn.privacy.logs import install as install_log_scrubbing

app = typer.Typer(
    name="kequn",
    help="Kequn (客群): customer operations for retail banks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("synth")(data.synth_command)
app.command("ingest")(data.ingest_command)
app.command("snapshots")(data.snapshots_command)
app.command("run")(pipeline.run_command)
app.command("runs")(pipeline.runs_command)
app.command("decide")(decisions.decide_command)
app.command("why")(decisions.why_command)
app.command("event")(decisions.event_command)
app.command("train")(decisions.train_command)
app.command("simulate")(decisions.simulate_command)
export_app = typer.Typer(help="Exports for the bank's other systems.", no_args_is_help=True)
export_app.command("calls")(decisions.export_calls_command)
export_app.command("wechat-groups")(decisions.export_wechat_command)
app.add_typer(export_app, name="export")
app.command("serve")(web.serve_command)
app.command("demo")(web.demo_command)
app.add_typer(web.users_app, name="users")
playbook_app = typer.Typer(help="Check and inspect playbooks.", no_args_is_help=True)
playbook_app.command("check")(pipeline.playbook_check_command)
app.add_typer(playbook_app, name="playbook")
app.add_typer(privacy.audit_app, name="audit")
app.add_typer(privacy.privacy_app, name="privacy")
app.command("consent")(privacy.consent_command)
app.add_typer(campaigns.group_app, name="group")
app.add_typer(campaigns.campaign_app, name="campaign")
adapt = typer.Typer(help="Map a real public bank dataset onto the contract.", no_args_is_help=True)
adapt.command("berka")(data.adapt_berka_command)
app.add_typer(adapt, name="adapt")


@app.callback()
def main() -> None:
    """Kequn (客群): customer operations for retail banks."""
    install_log_scrubbing()


@app.command("version")
def version() -> None:
    """Print Kequn's version."""
    typer.echo(__version__)


if __name__ == "__main__":  # pragma: no cover
    app()
