"""Serving with several worker processes, each connection given to the worker
that holds the fewest.

Uvicorn's own multi-worker mode shares one listening socket: the worker that
wakes first takes whatever connections are waiting. Measured with 50 signed-in
managers on two workers: one worker at 95% of a core, the other at 15%. A
socket of each worker's own in the port's ``SO_REUSEPORT`` group, which served
next, lets the kernel pick a worker by a hash of each connection's address:
even over many connections, not over a few. Four clients posting events kept
one worker busy and the other idle in two rounds of five, and in batches of 8
the rounds gave 385-784 decisions a second by how the four fell.

Here the supervisor accepts every connection and hands it (``SCM_RIGHTS`` over
a Unix socket pair) to the worker holding the fewest; each worker counts the
connections it has closed in a shared array. A browser or a client keeps its
connection, so holding is what is balanced: four clients on two workers are
two and two, sixty are thirty and thirty. Elsewhere than Linux, uvicorn's
shared socket serves as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

from kequn.core.errors import KequnError


def dispatching() -> bool:
    """Whether connections can be handed to workers: ``SCM_RIGHTS`` over a
    ``SOCK_SEQPACKET`` socket pair, which Linux has (macOS has no such pair)."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise KequnError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class _Handed(uvicorn.Server):
    """A server with no socket of its own: it serves the connections the
    supervisor hands it, says when it serves (a worker that ends before then
    could not start, and another would fail the same way), and counts each
    connection it closes."""

    def __init__(
        self, config: uvicorn.Config, ready: Any, channel: socket.socket, closed: Any, index: int
    ) -> None:
        super().__init__(config)
        self.ready, self.channel, self.closed, self.index = ready, channel, closed, index
        self.handing: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        if not self.started:
            return
        loop = asyncio.get_running_loop()
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._receive, loop)
        self.ready.set()

    def _protocol(self) -> asyncio.Protocol:
        protocol: Any = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            with self.closed.get_lock():
                self.closed[self.index] += 1
            lost(exc)

        protocol.connection_lost = connection_lost
        return protocol  # type: ignore[no-any-return]

    def _receive(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.channel, 1, 4)
        except BlockingIOError:
            return
        if not data:  # the supervisor is gone: finish what is in flight and stop
            loop.remove_reader(self.channel.fileno())
            self.should_exit = True
            return
        for fd in fds:
            task = loop.create_task(self._serve_connection(loop, socket.socket(fileno=fd)))
            self.handing.add(task)
            task.add_done_callback(self.handing.discard)

    async def _serve_connection(self, loop: asyncio.AbstractEventLoop, connection: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._protocol, connection)
        except OSError:  # gone before it was served: counted as closed, as it is
            connection.close()
            with self.closed.get_lock():
                self.closed[self.index] += 1


def _worker(options: dict[str, Any], ready: Any, channel: socket.socket, closed: Any, index: int) -> None:
    # a Ctrl-C in the terminal reaches the whole group: the supervisor stops the rest
    with contextlib.suppress(KeyboardInterrupt):
        _Handed(uvicorn.Config(**options), ready, channel, closed, index).run()


@dataclass
class _Running:
    process: BaseProcess
    ready: Any
    channel: socket.socket  # the supervisor's end
    handed: int = 0  # connections handed to it; open = handed - closed[index]


def serve(options: dict[str, Any], workers: int) -> None:
    """``uvicorn.run(**options)`` with ``workers`` processes. Several workers
    where connections can be handed over: each connection to the worker holding
    the fewest, a worker that dies started again; SIGINT or SIGTERM stops them
    all. Exits non-zero when a worker exited by itself before it served (the app
    refused its settings)."""
    if workers <= 1 or not dispatching():
        uvicorn.run(**options, workers=workers)
        return
    listener = listening_socket(options["host"], options["port"])
    spawn = multiprocessing.get_context("spawn")
    closed = spawn.Array("q", workers)
    stop = threading.Event()
    lock = threading.Lock()  # the accepting thread and the supervisor both touch ``running``

    def start(index: int) -> _Running:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ready = spawn.Event()
        with closed.get_lock():
            closed[index] = 0
        process = spawn.Process(target=_worker, args=(options, ready, theirs, closed, index), daemon=False)
        process.start()
        theirs.close()
        return _Running(process, ready, ours)

    running = [start(i) for i in range(workers)]

    def hand(connection: socket.socket) -> None:
        with lock:
            serving = [(w.handed - closed[i], i) for i, w in enumerate(running) if w.ready.is_set()]
            for _, i in sorted(serving):
                try:
                    socket.send_fds(running[i].channel, [b"c"], [connection.fileno()])
                except OSError:  # died since: the supervisor replaces it
                    continue
                running[i].handed += 1
                return
        # no worker serves yet (or none is alive): the client tries again
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)

    def accepting() -> None:
        # nothing is accepted before every worker serves (connections wait in the
        # backlog): a client keeps its connection, and four handed to the first
        # worker up stayed there while the second was still loading the app
        while not stop.is_set() and not all(w.ready.is_set() for w in running):
            stop.wait(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # the listener closed: stopping
            with connection:
                hand(connection)

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    acceptor = threading.Thread(target=accepting, name="kequn-accept", daemon=True)
    acceptor.start()
    failed = False
    try:
        while not stop.wait(0.5):
            for i, worker in enumerate(running):
                if worker.process.is_alive():
                    continue
                # ended by itself before it served: the app refused its settings, and
                # another would fail the same way (one killed by a signal is replaced)
                if not worker.ready.is_set() and (worker.process.exitcode or 0) > 0:
                    failed = True
                    stop.set()
                    break
                with lock:
                    worker.channel.close()
                    running[i] = start(i)
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(5)
        processes = [w.process for w in running]
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
        for w in running:
            w.channel.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise SystemExit("a worker of the workbench could not start; see the error above")
