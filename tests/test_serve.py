"""`kequn serve --workers N`: every connection goes to the worker holding the
fewest (a few clients as evenly as many), a worker that dies is replaced, and
the server stops whole."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kequn.store import open_store

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="read from Linux's /proc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _workers(pid: int) -> list[int]:
    """The serving processes under ``kequn serve`` (not multiprocessing's tracker)."""
    return [p for p in _children(pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def _sockets(worker: int, port: int, state: str) -> int:
    """The worker's sockets on ``port`` in ``state`` (01: a connection it holds;
    0A: listening), found by their inodes in /proc/net/tcp."""
    inodes = set()
    for fd in Path(f"/proc/{worker}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == state and fields[9] in inodes:
            count += 1
    return count


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    open_store(url).dispose()
    return url


def _serve(url: str, port: int, workers: int, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "kequn.cli.main", "serve"),
            *("--store", url, "--port", str(port), "--workers", str(workers)),
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@contextlib.contextmanager
def _server(url: str, workers: int = 2) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``kequn serve`` on a free port, stopped by SIGTERM after the block; it
    must then exit 0 and leave no process behind."""
    port = _free_port()
    proc = _serve(url, port, workers)
    try:
        yield proc, port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0
    assert not _children(proc.pid)


def _until_serving(proc: subprocess.Popen[bytes], port: int, workers: int) -> None:
    """Until every worker serves: each answers a connection of its own (the
    supervisor hands one to each worker holding none) while all are held."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(_workers(proc.pid)) == workers:
            probes = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) for _ in range(workers)]
            try:
                with contextlib.suppress(httpx.HTTPError):
                    answered = all(c.get("/login").status_code == 200 for c in probes)
                    if answered and all(_sockets(w, port, "01") >= 1 for w in _workers(proc.pid)):
                        return
            finally:
                for c in probes:
                    c.close()
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the workbench did not start: {proc.communicate()[1].decode()[-2000:]}")


def _until_none_held(proc: subprocess.Popen[bytes], port: int) -> None:
    """Until the workers have closed every connection (a socket leaves /proc once
    its worker has let it go and counted it closed)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not any(_sockets(w, port, state) for w in _workers(proc.pid) for state in ("01", "08")):
            return
        time.sleep(0.05)
    raise AssertionError("the workers still hold connections the clients closed")


def _held_after_connecting(proc: subprocess.Popen[bytes], port: int, clients: int) -> list[int]:
    """The connections each worker holds once ``clients`` clients, asking at once,
    have each had an answer and kept their connection."""
    base = f"http://127.0.0.1:{port}"
    opened = [httpx.Client(base_url=base, timeout=30) for _ in range(clients)]
    try:
        with ThreadPoolExecutor(min(clients, 20)) as pool:
            assert all(r.status_code == 200 for r in pool.map(lambda c: c.get("/login"), opened))
        return [_sockets(w, port, "01") for w in _workers(proc.pid)]
    finally:
        for c in opened:
            c.close()


def test_each_worker_holds_its_share_of_the_connections_few_or_many(store_url: str) -> None:
    with _server(store_url) as (proc, port):
        _until_serving(proc, port, 2)
        _until_none_held(proc, port)
        # four clients posting events: two and two (a hash of their addresses,
        # as SO_REUSEPORT spreads them, put three or four on one worker in most
        # rounds and left the other core idle)
        assert sorted(_held_after_connecting(proc, port, 4)) == [2, 2]
        _until_none_held(proc, port)
        # sixty browsers opening the sign-in page at once and keeping their connections
        held = _held_after_connecting(proc, port, 60)
        assert sum(held) == 60 and min(held) == 30, held


def test_clients_that_connect_while_a_worker_starts_are_spread_too(store_url: str) -> None:
    """Four clients asking while one worker is still starting (killed as it
    loads the app, and started again): none is served before every worker
    serves, so the worker up first does not keep all four."""
    with _server(store_url) as (proc, port):
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) for _ in range(4)]
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(_workers(proc.pid)) < 2:
                time.sleep(0.05)
            os.kill(_workers(proc.pid)[0], signal.SIGKILL)
            for c in clients:
                while True:
                    try:
                        assert c.get("/login").status_code == 200
                        break
                    except httpx.ConnectError:  # not listening yet
                        assert time.monotonic() < deadline and proc.poll() is None
                        time.sleep(0.05)
            assert sorted(_sockets(w, port, "01") for w in _workers(proc.pid)) == [2, 2]
        finally:
            for c in clients:
                c.close()


def test_a_worker_that_dies_is_replaced_and_ctrl_c_stops_them_all(store_url: str) -> None:
    port = _free_port()
    proc = _serve(store_url, port, 2)
    base = f"http://127.0.0.1:{port}"
    try:
        _until_serving(proc, port, 2)
        first = _workers(proc.pid)
        # killed from outside, perhaps while still loading the app: replaced, not
        # taken for a worker that cannot start
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            len(now := _workers(proc.pid)) == 2 and first[0] not in now
        ):
            time.sleep(0.3)
        assert len(_workers(proc.pid)) == 2 and first[0] not in _workers(proc.pid)
        _until_serving(proc, port, 2)
        assert httpx.get(f"{base}/login", timeout=30).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 0
    assert not _workers(proc.pid)


def test_a_worker_killed_while_it_starts_is_replaced(store_url: str) -> None:
    """A worker killed before it served (the OOM killer, an operator) is not a
    worker that cannot start: the server starts another and serves."""
    port = _free_port()
    proc = _serve(store_url, port, 2)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_workers(proc.pid)) < 2:
            time.sleep(0.05)
        first = _workers(proc.pid)
        os.kill(first[0], signal.SIGKILL)  # still importing the app
        _until_serving(proc, port, 2)
        assert first[0] not in _workers(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0


def test_a_worker_that_cannot_start_stops_the_server_with_an_error(store_url: str) -> None:
    proc = _serve(store_url, _free_port(), 2, KEQUN_SECRET_KEY="too-short")
    _, err = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert b"KEQUN_SECRET_KEY must be at least 16 characters" in err
    assert b"could not start" in err


def test_an_address_already_served_is_refused(store_url: str) -> None:
    port = _free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        proc = _serve(store_url, port, 2)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert f"127.0.0.1:{port}".encode() in err
