"""A `kequn serve` the benchmarks start on a free port, wait for, and sign in to."""

from __future__ import annotations

import re
import socket
import time

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
