from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kequn.cli.docs import render
from kequn.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_cli_doc_is_in_sync_with_the_commands() -> None:
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `make docs`"
    )


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("synth", "ingest", "snapshots", "adapt"):
        assert command in result.output


def test_each_command_is_summed_up_in_one_line() -> None:
    """``kequn --help`` lists each command by the first paragraph of its help:
    a sentence broken across lines there is shown broken."""

    def each(group, path: str):  # type: ignore[no-untyped-def]
        with group.make_context(path, [], resilient_parsing=True) as ctx:
            for name in group.list_commands(ctx):
                command = group.get_command(ctx, name)
                yield f"{path} {name}", command
                if hasattr(command, "list_commands"):
                    yield from each(command, f"{path} {name}")

    seen = 0
    for path, command in each(typer.main.get_command(app), "kequn"):
        summary = (command.help or "").strip().split("\n\n")[0]
        assert summary and "\n" not in summary, f"{path}: {summary!r}"
        seen += 1
    assert seen > 40, "the subcommands were walked"


def test_bad_input_exits_2_naming_the_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nowhere"), "--into", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2
    assert "nowhere" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_the_issue_commands_work_as_written(tmp_path: Path) -> None:
    """`kequn synth --customers 20000 --seed 7 --out bank && kequn ingest bank --into
    bank.duckdb`, from a shell, in a fresh folder."""
    kequn = Path(sys.executable).with_name("kequn")
    subprocess.run(
        f"{kequn} synth --customers 20000 --seed 7 --out bank && {kequn} ingest "
        "bank --into bank.duckdb --report report.json",
        shell=True,
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert sum(t["quarantined"] for t in report["tables"]) == 0
    customers = next(t for t in report["tables"] if t["table"] == "customers")
    assert customers["accepted"] == 20_000
    listing = runner.invoke(app, ["snapshots", str(tmp_path / "bank.duckdb"), "--json"])
    assert json.loads(listing.output)[0]["schema"].startswith("snap_")


def test_the_demo_prepares_its_bank_and_again_in_the_same_folder(tmp_path: Path) -> None:
    """`make demo` as a new user runs it (the serving left out), and once more in
    the same folder: each time it decides today with the simulated history's
    model and prints the logins."""
    for _ in range(2):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "kequn.cli.main",
                "demo",
                "--customers",
                "300",
                "--workdir",
                str(tmp_path / "demo"),
                "--no-serve",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "Demo bank ready" in done.stdout
        assert "already decided" not in done.stdout + done.stderr


def test_a_group_count_names_the_tiers_as_the_playbook_does(run_store: Path, tmp_path: Path) -> None:
    """The tier mix reads "Private banking 3 · Wealth 40", highest first, not the codes."""
    from kequn.playbook import load_playbook

    ladder = load_playbook().playbook.tiers.ladder
    result = runner.invoke(
        app,
        [
            "group",
            "count",
            "aum >= 0",
            "--snapshot",
            str(run_store),
            "--store",
            f"sqlite:///{tmp_path}/ops.sqlite",
        ],
    )
    assert result.exit_code == 0, result.output
    line = " ".join(result.output.split())
    named = [t.en for t in ladder if f"{t.en} " in line]
    assert len(named) >= 3, line
    assert [line.index(f"{t} ") for t in named] == sorted(line.index(f"{t} ") for t in named)
    assert not [t.name for t in ladder if re.search(rf"(?:; |· ){t.name} \d", line)], line


def test_the_run_and_decision_reports_name_what_they_count(run_store: Path) -> None:
    """An operator reads "Private banking", "suitable: no suitable product fills
    the gap…" and "Maturity ahead", each beside its code where a code is needed."""
    from datetime import date

    from kequn.cli.console import console
    from kequn.cli.decisions import print_decision
    from kequn.cli.names import Names
    from kequn.cli.pipeline import print_summary
    from kequn.decide.batch import DecisionReport
    from kequn.pipeline import runs
    from kequn.playbook import load_playbook
    from kequn.rules import RULES

    pb = load_playbook()
    names = Names(pb)
    (info,) = runs(run_store)
    width = console.width
    console.width = 200  # one table row to a line
    try:
        with console.capture() as summary:
            print_summary(info, names)
        out = summary.get()
        shown = [t for t in pb.playbook.tiers.ladder if info.summary["tiers"].get(t.name)]
        assert shown and all(f"{t.en} " in out and f" {t.name} " in out for t in shown)
        stages = info.summary["life_stages"]
        assert stages and all(f"{names(k)} {v:,}" in out for k, v in stages.items())

        trigger = pb.playbook.triggers[0]
        report = DecisionReport("20261121_01", date(2026, 11, 21), "2026-11-20", info.run_id, None)
        report.funnel = {"suitable": 5}
        report.dropped = {"suitable:no_suitable_product": 3}
        report.tasks_by_trigger = {trigger.name: 2}
        with console.capture() as decision:
            print_decision(report, names)
    finally:
        console.width = width
    out = " ".join(decision.get().split())
    assert f"suitable: {RULES['no_suitable_product'].en}" in out and "no_suitable_product" in out
    assert trigger.en and f"{trigger.en} │ 2" in out
    # a stage's row counts the pairs reaching it (5), its drops are below (3),
    # and the tasks made of the rest close the funnel (2)
    assert "pairs entering each stage" in out and "tasks made │ 2" in out


def test_an_ingest_names_each_quarantine_reason_beside_its_code(tmp_path: Path) -> None:
    from kequn.contract.schema import REASONS

    extract = tmp_path / "x"
    made = runner.invoke(app, ["synth", "--customers", "300", "--dirty", "0.05", "--out", str(extract)])
    assert made.exit_code == 0, made.output
    result = runner.invoke(
        app,
        [
            "ingest",
            str(extract),
            "--into",
            str(tmp_path / "bank.duckdb"),
            "--accept",
            "a test's dirty extract",
        ],
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    codes = [code for code in REASONS if f" {code} " in out]
    assert len(codes) >= 3, out
    for code in codes:
        assert " ".join(REASONS[code].split()[:3]) in out, code
