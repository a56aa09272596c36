"""Run the application as a real server process on loopback, for tests and benchmarks that need
requests to really overlap (Litestar 2's test client serialises them).

    with live_server(database_url) as server:
        httpx.get(server.url("/api/v1/availability"))

The server is ``python -m reservations serve`` (the command people deploy) started with this
interpreter, on a free port of 127.0.0.1, with the rate limit off and a fixed secret key. Leaving
the block always stops it: SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

HOST = "127.0.0.1"
READY_PATH = "/api/v1/availability"
#: Starting tries: another process may take the free port between our probe and the bind.
PORT_TRIES = 3


class ServerDidNotStart(RuntimeError):
    """The server exited or never answered; the message carries its output."""


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    _log: IO[bytes]

    def url(self, path: str) -> str:
        return self.base_url + path

    def output(self) -> str:
        """Everything the server wrote so far (stdout and stderr, interleaved)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    @property
    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far, its worker processes included
        (Linux /proc)."""
        return sum(process_cpu_seconds(pid) for pid in process_tree(self.process.pid))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "reservations", "serve", "--host", HOST, "--port", str(port)]


def self_pointing_command() -> list[str]:
    """``serve_command`` with the server's links pointing at itself: its port goes into
    RESERVATIONS_PUBLIC_URL (``live_server`` fills ``{port}`` in the command only)."""
    return [
        "/usr/bin/env",
        f"RESERVATIONS_PUBLIC_URL=http://{HOST}:{{port}}",
        sys.executable,
        "-m",
        "reservations",
        "serve",
        "--host",
        HOST,
        "--port",
        "{port}",
    ]


def server_environment(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RESERVATIONS_DATABASE_URL=database_url,
        RESERVATIONS_BOOKING_RATE_LIMIT="0",
        RESERVATIONS_SECRET_KEY="test",
        # The tests run the due work themselves, when they mean to.
        RESERVATIONS_TICK_SECONDS="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


@contextmanager
def live_server(
    database_url: str,
    *,
    env: Mapping[str, str] | None = None,
    command: list[str] | None = None,
    startup_timeout: float = 30.0,
    stop_timeout: float = 10.0,
) -> Iterator[LiveServer]:
    """A running server on ``database_url``; ``command`` may replace ``serve_command`` (it must
    contain ``{port}``), e.g. to run it under a profiler."""
    server = _start(database_url, env, command, startup_timeout)
    try:
        yield server
    finally:
        stop(server.process, stop_timeout)
        server._log.close()


def _start(
    database_url: str,
    env: Mapping[str, str] | None,
    command: list[str] | None,
    startup_timeout: float,
) -> LiveServer:
    for attempt in range(1, PORT_TRIES + 1):
        port = free_port()
        argv = [part.replace("{port}", str(port)) for part in command] if command else None
        log = tempfile.TemporaryFile()
        process = subprocess.Popen(
            argv or serve_command(port),
            env=server_environment(database_url, env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = LiveServer(f"http://{HOST}:{port}", process, log)
        try:
            _wait_until_ready(server, startup_timeout)
            return server
        except ServerDidNotStart:
            stop(process, 5.0)
            output = server.output()
            log.close()
            if "address already in use" in output.lower() and attempt < PORT_TRIES:
                continue
            raise
        except BaseException:
            stop(process, 5.0)
            log.close()
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _wait_until_ready(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerDidNotStart(
                    f"the server exited with code {server.process.returncode} before answering "
                    f"{READY_PATH}; its output:\n{server.output()}"
                )
            try:
                if client.get(server.url(READY_PATH)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise ServerDidNotStart(
        f"the server did not answer {READY_PATH} with 200 within {timeout:.0f} s; "
        f"its output:\n{server.output()}"
    )


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Ask the process to stop (uvicorn shuts down gracefully on SIGTERM), then force it."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def process_tree(pid: int) -> list[int]:
    """A process and its descendants, from /proc/<pid>/task/<tid>/children."""
    tree, index = [pid], 0
    while index < len(tree):
        for task in Path(f"/proc/{tree[index]}/task").glob("*/children"):
            try:
                tree.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
        index += 1
    return tree


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (0.0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: field 3 is the state, so utime (14) and stime (15) are at 11, 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
