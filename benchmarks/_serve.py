"""A `kequn serve` the benchmarks start on a free port, wait for, and sign in to."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(base: str, tries: int = 300) -> None:
    """Until the sign-in page answers (a worker loads the app and the playbook first)."""
    for _ in range(tries):
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server at {base} did not start")


def sign_in(client: httpx.Client, login: str, password: str) -> None:
    """Signs ``client`` in through the sign-in form (its CSRF token first)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    if token is None:
        raise SystemExit("no sign-in form")
    client.post("/login", data={"login": login, "password": password, "csrf_token": token.group(1)})


@contextmanager
def serving(ops: str, analytics: str, workers: int) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``kequn serve`` on a free port of this machine, ready to answer: the
    process (its pid is what CPU is read from) and its base URL; stopped after."""
    port = free_port()
    env = {**os.environ, "KEQUN_SECRET_KEY": secrets.token_hex(16), "KEQUN_INSECURE_COOKIES": "1"}
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "kequn.cli.main", "serve"),
            *("--store", ops, "--port", str(port)),
            *("--analytics", analytics, "--workers", str(workers)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base)
        yield server, base
    finally:
        server.terminate()
        server.wait(20)


TICK = os.sysconf("SC_CLK_TCK")


def processes() -> list[tuple[int, int, int, float]]:
    """Every process: pid, parent, owner's uid, CPU seconds (Linux's /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            uid = (entry / "status").stat().st_uid
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out.append((int(entry.name), int(fields[1]), uid, (int(fields[11]) + int(fields[12])) / TICK))
    return out


def cpu_seconds(root: int) -> tuple[float, float]:
    """CPU of ``root`` and its descendants, and of PostgreSQL's processes."""
    procs = processes()
    children: dict[int, list[int]] = {}
    for pid, parent, _, _ in procs:
        children.setdefault(parent, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += children.get(pid, [])
    postgres = pwd.getpwnam("postgres").pw_uid
    return (
        sum(cpu for pid, _, _, cpu in procs if pid in tree),
        sum(cpu for _, _, uid, cpu in procs if uid == postgres),
    )
