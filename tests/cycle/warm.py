"""The month's scheduler: each ``kequn`` command a process of its own, forked
from an interpreter that has already imported Kequn.

A cold ``python -m kequn.cli.main decide`` spends two to four seconds importing
pandas, ibis and SQLAlchemy before it does anything; a month of nights runs a
hundred commands, and the cycle is what is under test here, not the import
(``tests/test_cli.py`` runs the real entry point cold; the fault tests kill
forked commands as the month runs them). A
forked child is still a separate process with its own memory, environment,
working directory, exit code and peak memory, and a crash in it ends only it.

``python -m tests.cycle.warm`` reads one JSON request per line on stdin and
answers each with one JSON line on stdout (see ``Warm``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: the commands a night runs, imported before the first fork
PRELOADED = ("ingest", "run", "decide", "audit", "privacy")


@dataclass(frozen=True)
class Finished:
    code: int
    seconds: float
    peak_kb: int
    cpu_seconds: float = 0.0  # user + system, the command's own and its threads'


def _child(request: dict[str, Any]) -> int:
    """In the forked process: the request's environment, directory and output
    files, then the command as ``kequn`` itself would run it."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path in ((1, request["out"]), (2, request["err"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdin = open(os.devnull)  # noqa: SIM115 (the child's own, closed at exit)
    from kequn.cli.main import app
    from kequn.core import clock

    clock.restart()  # the parent's clock was set from the parent's environment

    try:
        app(args=request["args"], prog_name="kequn", standalone_mode=True)
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException:  # an uncaught error ends the command as Python would
        traceback.print_exc()
        return 1
    return 0


def serve(requests: IO[str], answers: IO[str]) -> None:
    from kequn.cli.main import load_command

    for name in PRELOADED:
        load_command(name)
    answers.write("ready\n")
    answers.flush()
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        _, status, usage = os.wait4(pid, 0)
        answers.write(
            json.dumps(
                {
                    "code": os.waitstatus_to_exitcode(status),
                    "seconds": round(time.monotonic() - started, 2),
                    "peak_kb": usage.ru_maxrss,
                    "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
                }
            )
            + "\n"
        )
        answers.flush()


class Warm:
    """The scheduler's side: starts the warm interpreter once, then runs one
    command per call."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cycle.warm"],
            cwd=Path(__file__).parents[2],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError(f"the warm interpreter did not start (said {ready!r})")

    def run(self, args: list[str], env: dict[str, str], cwd: Path, out: Path, err: Path) -> Finished:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"args": args, "env": env, "cwd": str(cwd), "out": str(out), "err": str(err)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError("the warm interpreter ended")
        found = json.loads(answer)
        return Finished(
            int(found["code"]), float(found["seconds"]), int(found["peak_kb"]), float(found["cpu_seconds"])
        )

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


if __name__ == "__main__":
    # answers go on a private copy of stdout: a command's own printing cannot reach them
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    serve(sys.stdin, channel)
