"""Serving with several worker processes, each on a listening socket of its own.

Uvicorn's own multi-worker mode binds one socket in the parent and shares it:
every worker accepts from one queue, and the worker that wakes first takes
whatever connections are waiting. A browser keeps its connection open, so a
manager stays with the worker that took them. Measured with 50 signed-in
managers on two workers: one worker at 95% of a core, the other at 15%, and the
pages queued behind the busy one while half the machine idled.

Here each worker binds its own socket to the same address with ``SO_REUSEPORT``
(Linux): the kernel spreads new connections evenly over the workers' sockets.
Where the platform lacks it, uvicorn's shared socket serves as before.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

from kequn.core.errors import KequnError


def balanced() -> bool:
    """Whether the kernel spreads connections over sockets sharing a port."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket of this worker's own, in the port's ``SO_REUSEPORT`` group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


class _Announcing(uvicorn.Server):
    """A server that says when it serves: a worker that ends before then could not
    start, and another would fail the same way."""

    def __init__(self, config: uvicorn.Config, ready: Any) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()


def _worker(options: dict[str, Any], ready: Any) -> None:
    config = uvicorn.Config(**options)
    sock = listening_socket(config.host, config.port)
    # a Ctrl-C in the terminal reaches the whole group: the supervisor stops the rest
    with contextlib.suppress(KeyboardInterrupt):
        _Announcing(config, ready).run(sockets=[sock])


def serve(options: dict[str, Any], workers: int) -> None:
    """``uvicorn.run(**options)`` with ``workers`` processes. Several workers on
    Linux: each on its own ``SO_REUSEPORT`` socket, started again if it dies;
    SIGINT or SIGTERM stops them all. Exits non-zero when a worker exited by
    itself before it served (the app refused its settings)."""
    if workers <= 1 or not balanced():
        uvicorn.run(**options, workers=workers)
        return
    # refused here, with one clear error, when another program holds the address;
    # another server of ours would let us join its port group and split its traffic
    with contextlib.suppress(OSError), socket.create_connection((options["host"], options["port"]), 1):
        raise KequnError(f"{options['host']}:{options['port']} is already served by another program")
    try:
        listening_socket(options["host"], options["port"]).close()
    except OSError as exc:
        raise KequnError(f"cannot listen on {options['host']}:{options['port']}: {exc.strerror}") from None
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> tuple[BaseProcess, Any]:
        ready = spawn.Event()
        process = spawn.Process(target=_worker, args=(options, ready), daemon=False)
        process.start()
        return process, ready

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    running = [start() for _ in range(workers)]
    failed = False
    try:
        while not stop.wait(0.5):
            for i, (process, ready) in enumerate(running):
                if process.is_alive():
                    continue
                # ended by itself before it served: the app refused its settings, and
                # another would fail the same way (one killed by a signal is replaced)
                if not ready.is_set() and (process.exitcode or 0) > 0:
                    failed = True
                    stop.set()
                    break
                running[i] = start()
    finally:
        processes = [process for process, _ in running]
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise SystemExit("a worker of the workbench could not start; see the error above")
