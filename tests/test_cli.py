from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
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
