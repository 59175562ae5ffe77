"""A killed ingest leaves the earlier snapshot as it was, and the store usable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from kequn.ingest import ingest, snapshots

from .conftest import make_bank, snapshot_tables


def _signature(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _start(extract: Path, store: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kequn.cli.main", "ingest", str(extract), "--into", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killing_ingest_midway_leaves_the_earlier_snapshot(tmp_path: Path, bank_store: Path) -> None:
    store = tmp_path / "kill.duckdb"
    shutil.copy(bank_store, store)
    before = snapshot_tables(store)
    later = make_bank(tmp_path, "later", customers=20_000, as_of=date(2026, 12, 20))
    # while validating (after a delay), then while publishing: the store file is
    # written to only when the snapshot is published, so its first change marks it
    for moment in (
        ("run", 0.5),
        ("run", 2.0),
        ("publish", 0.0),
        ("publish", 0.05),
        ("publish", 0.15),
        ("publish", 0.3),
    ):
        untouched = _signature(store)
        proc = _start(later, store)
        if moment[0] == "publish":
            deadline = time.monotonic() + 120
            while _signature(store) == untouched and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.0005)
        time.sleep(moment[1])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        found = [s.snapshot_id for s in snapshots(store)]
        if found == ["2026-11-20"]:
            after = snapshot_tables(store)
            for name, table in before.items():
                assert after[name].equals(table), (moment, name)
        else:  # it finished before the signal arrived: then it is whole
            assert found == ["2026-11-20", "2026-12-20"], moment
            assert snapshot_tables(store)["customers"].num_rows == 20_000
            break
    # the store takes the next ingest as if nothing had happened
    report = ingest(later, store)
    assert report.quarantined == 0
    assert [s.snapshot_id for s in snapshots(store)] == ["2026-11-20", "2026-12-20"]
    assert snapshot_tables(store, "snap_20261120")["customers"].equals(before["customers"])
    assert not list(tmp_path.glob("kill.duckdb.stage-*"))
