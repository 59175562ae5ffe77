"""Thirty days of a 20,000-customer bank, night after night, with its staff at
work through the workbench and faults in three of the nights' extracts; every
invariant holds after every night and every day.

``KEQUN_MONTH_CUSTOMERS`` and ``KEQUN_MONTH_DAYS`` change the size (CI runs the
defaults); ``scripts/month.py`` runs bigger banks by hand and prints figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cycle.month import FAULTS, run_month

CUSTOMERS = int(os.environ.get("KEQUN_MONTH_CUSTOMERS", "20000"))
DAYS = int(os.environ.get("KEQUN_MONTH_DAYS", "30"))
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("month")]


def test_a_month_of_nights_and_days_breaks_nothing(tmp_path: Path) -> None:
    month, report = run_month(tmp_path / "bank", CUSTOMERS, DAYS)
    ARTIFACTS.mkdir(exist_ok=True)
    month.record(ARTIFACTS / "month-steps.json")
    (ARTIFACTS / "month-days.json").write_text(
        json.dumps([vars(log) | {"day": str(log.day)} for log in report.logs], ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    print("month seconds:", report.seconds)
    assert not report.violations, json.dumps(report.violations, ensure_ascii=False, indent=1)[:6000]
    assert not report.busy, report.busy[:20]
    # the month did what a month does: every night decided, people worked every day
    assert len(report.logs) == DAYS
    assert all(sum(log.outcomes.values()) > 0 for log in report.logs)
    assert sum(log.sales for log in report.logs) > 0
    assert month.campaign is not None
    if max(FAULTS) < DAYS:
        refused = [s for s in month.steps if s.expected_to_fail]
        assert len(refused) == len(FAULTS) and all(s.failed for s in refused)
    assert report.erased is not None or DAYS <= 6
