"""A bank run night after night: each night's extract derived from the last,
then ``kequn ingest``, ``kequn run`` and ``kequn decide`` as the bank's
scheduler runs them (separate processes, forked from a warm interpreter, on
the bank's calendar through ``KEQUN_CLOCK``), and the workbench served by ``kequn serve`` for the day.

``Month`` keeps what every step did (exit code, time, peak memory) so that the
invariants, the test and ``scripts/month.py`` read the same record."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx

from kequn.core.clock import SHANGHAI
from kequn.synth.night_defects import Damage, damage
from kequn.synth.nightly import NightResult
from tests.cycle.warm import Warm

PASSWORD = "month-of-nights-1"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Step:
    night: int
    name: str
    args: list[str]
    code: int
    seconds: float
    peak_mb: float
    out: str
    err: str
    expected_to_fail: bool = False
    cpu_seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.code != 0


@dataclass
class Fault:
    """A night whose extract first arrives spoilt; the good one follows."""

    kind: Damage
    table: str


@dataclass
class Month:
    root: Path
    customers: int = 20_000
    seed: int = 7
    start: date = date(2026, 12, 1)
    ops_url: str | None = None
    faults: dict[int, Fault] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    nights: dict[int, NightResult | None] = field(default_factory=dict)
    server: subprocess.Popen[bytes] | None = None
    port: int = 0
    campaign: str | None = None  # the campaign the month's head launched
    preparing: subprocess.Popen[bytes] | None = None
    server_cpu_seconds: float = 0.0  # the workbench's own CPU over the month, read as it stops
    warm: Warm | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = self.root / "bank.duckdb"
        self.ops_url = self.ops_url or f"sqlite:///{self.root / 'bank.ops.sqlite'}"

    # the calendar -------------------------------------------------------------------

    def as_of(self, night: int) -> date:
        return self.start + timedelta(days=night)

    def workday(self, night: int) -> date:
        """The day staff work on the tasks of ``night``."""
        return self.as_of(night) + timedelta(days=1)

    def extract(self, night: int) -> Path:
        return self.root / "extracts" / f"{self.as_of(night):%Y%m%d}"

    # commands -----------------------------------------------------------------------

    def kequn(
        self, night: int, *args: str, clock: datetime | None = None, expect_failure: bool = False
    ) -> Step:
        """Runs ``kequn ARGS`` as its own process on the bank's clock (forked from
        a warm interpreter: see ``tests.cycle.warm``)."""
        env = {**os.environ, "KEQUN_STORE_URL": self.ops_url or ""}
        env["KEQUN_CLOCK"] = (
            clock or datetime.combine(self.as_of(night), dtime(23, 0), SHANGHAI)
        ).isoformat()
        env.setdefault("KEQUN_OPERATOR", "ops:scheduler")
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        stem = logs / f"{night:02d}-{len(self.steps):03d}-{args[0] if args else 'kequn'}"
        if self.warm is None:
            self.warm = Warm(self.root, dict(os.environ))
        done = self.warm.run(list(args), env, self.root, Path(f"{stem}.out"), Path(f"{stem}.err"))
        step = Step(
            night,
            args[0] if args else "",
            list(args),
            done.code,
            done.seconds,
            round(done.peak_kb / 1024, 1),  # kilobytes on Linux
            Path(f"{stem}.out").read_text(encoding="utf-8", errors="replace"),
            Path(f"{stem}.err").read_text(encoding="utf-8", errors="replace"),
            expect_failure,
            done.cpu_seconds,
        )
        self.steps.append(step)
        return step

    def prepare(self, days: int) -> None:
        """Makes every night's extract ahead, in a process of its own: a night's
        extract depends only on the night before, not on what staff did."""
        self.preparing = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.cycle.extracts",
                str(self.root / "extracts"),
                self.start.isoformat(),
                str(days),
                str(self.customers),
                str(self.seed),
            ],
            cwd=Path(__file__).parents[2],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "extracts.log", "ab"),  # noqa: SIM115 (kept by the child)
        )

    def _arrived(self, night: int) -> Path:
        path = self.extract(night)
        deadline = time.monotonic() + 600
        while not (path / "extract.json").exists():
            if self.preparing is None:
                raise RuntimeError("call prepare() first")
            if self.preparing.poll() not in (None, 0):
                raise RuntimeError(f"making the extracts failed: see {self.root / 'extracts.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"extract of night {night} did not arrive")
            time.sleep(0.1)
        return path

    def night(self, night: int) -> list[Step]:
        """The nightly job: the extract arrives (spoilt first on a fault night),
        then ingest, run and decide."""
        path = self._arrived(night)
        done: list[Step] = []
        fault = self.faults.get(night)
        if fault is not None:
            spoilt = damage(path, path.with_name(path.name + f"-{fault.kind}"), fault.kind, fault.table)
            done.append(
                self.kequn(night, "ingest", str(spoilt), "--into", str(self.store), expect_failure=True)
            )
            shutil.rmtree(spoilt)
        done.append(self.kequn(night, "ingest", str(path), "--into", str(self.store)))
        done.append(self.kequn(night, "run", "--snapshot", str(self.store)))
        done.append(self.kequn(night, "decide", "--snapshot", str(self.store), "--store", self.ops_url or ""))
        return done

    # the workbench ------------------------------------------------------------------

    def serve(self, night: int) -> str:
        """The workbench on the work day after ``night``: started once, its clock
        moved to each day's morning through ``KEQUN_CLOCK_FILE``."""
        morning = datetime.combine(self.workday(night), dtime(8, 30), SHANGHAI)
        clock = self.root / "clock.txt"
        clock.write_text(morning.isoformat(), encoding="utf-8")
        if self.server is not None and self.server.poll() is None:
            return f"http://127.0.0.1:{self.port}"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {**os.environ, "KEQUN_CLOCK_FILE": str(clock), "KEQUN_SECRET_KEY": "m" * 32}
        env.pop("KEQUN_CLOCK", None)
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kequn.cli.main",
                "serve",
                "--store",
                self.ops_url or "",
                "--port",
                str(self.port),
                "--analytics",
                str(self.store),
            ],
            env=env,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "serve.log", "ab"),  # noqa: SIM115 (kept by the child)
        )
        base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    return base
            except httpx.HTTPError:
                pass
            if self.server.poll() is not None:
                raise RuntimeError(f"the workbench did not start: see {self.root / 'serve.log'}")
            time.sleep(0.2)
        raise RuntimeError("the workbench did not answer within a minute")

    def stop(self) -> None:
        if self.warm is not None:
            self.warm.close()
            self.warm = None
        if self.server is not None and self.server.poll() is None:
            self.server_cpu_seconds = cpu_seconds(self.server.pid)
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
        self.server = None

    def record(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                [
                    {
                        "night": s.night,
                        "step": s.name,
                        "code": s.code,
                        "seconds": s.seconds,
                        "peak_mb": s.peak_mb,
                        "cpu_seconds": s.cpu_seconds,
                        "expected_to_fail": s.expected_to_fail,
                    }
                    for s in self.steps
                ],
                indent=1,
            ),
            encoding="utf-8",
        )
