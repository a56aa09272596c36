"""Public reads: availability and the programme's pages against what a static file costs, and
against today's code (commit 51b2ce5, before the answers were kept), in one run.

One run, on PostgreSQL, one server worker, in a fresh database it creates, migrates and drops:
a season's programme of 300 upcoming visits over 30 days (``booking_throughput.seed``), then
through ``reservations serve --workers 1``:

  a. ``/static/site.css`` (the floor: what a static file costs through the same server),
     first and last, the faster of the two taken;
  b. ``/api/v1/availability`` over 30 days, then the same with ``If-None-Match`` (304);
  c. ``/``, ``/embed`` and ``/kiosk``, and the programme's size with its 300 visits;
  d. the same pages served by today's code (``bench/baseline.py``: ``git archive 51b2ce5``,
     run with PYTHONPATH, on a database its own migrations built and the same programme): the
     rate the issue asks to multiply.

    .venv/bin/python bench/public_reads.py [--postgres-url URL] [--quick]

The load generator is ``booking_throughput``'s bare keep-alive HTTP/1.1 client, in this
process, sharing the cores with the server and PostgreSQL: ratios measured in one run are the
figures to read, not the rates.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from bench import baseline  # noqa: E402
from bench import booking_throughput as bt  # noqa: E402
from bench.targets import Target, table  # noqa: E402

from reservations.base.infra.db import Database  # noqa: E402
from tests.live_server import LiveServer, live_server  # noqa: E402

#: Today's code: the commit before the public answers were kept.
TODAY = baseline.BEFORE
UPCOMING_VISITS = 300
PROGRAMME_DAYS = 30
CONCURRENCY = 16
PAGE_SIZE_GOAL_KB = 100


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RESERVATIONS_BENCH_POSTGRES_URL", bt.DEFAULT_ADMIN_URL),
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests: a smoke run")
    return parser.parse_args()


class Client:
    """``CONCURRENCY`` bare keep-alive connections to one server."""

    def __init__(self, connections: list[bt.BareHttpConnection]) -> None:
        self.idle: asyncio.Queue[bt.BareHttpConnection] = asyncio.Queue()
        for connection in connections:
            self.idle.put_nowait(connection)

    @classmethod
    async def open(cls, server: LiveServer) -> Client:
        return cls([await bt.BareHttpConnection.open(server.base_url) for _ in range(CONCURRENCY)])

    async def get(self, target: str, headers: str = "") -> tuple[int, bytes]:
        connection = await self.idle.get()
        try:
            return await connection.request("GET", target, headers=headers)
        finally:
            self.idle.put_nowait(connection)

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().close()


async def rate(
    meter: bt.Meter, client: Client, name: str, target: str, count: int, headers: str = ""
) -> bt.Result:
    """Requests per second of ``count`` GETs of ``target`` (after a warm-up), each answered
    200 or 304, or the run stops."""

    async def call(_number: int) -> int:
        return (await client.get(target, headers))[0]

    await bt.drive(CONCURRENCY, max(count // 10, CONCURRENCY), call)
    result = await meter.measure(name, count, lambda: bt.drive(CONCURRENCY, count, call))
    if set(result.statuses) - {200, 304}:
        raise SystemExit(f"{name}: unexpected answers {dict(result.statuses)}")
    return result


PAGES = ("/", "/embed", "/kiosk")


async def measure_server(
    server: LiveServer, meter: bt.Meter, label: str, count: int, *, everything: bool
) -> dict[str, bt.Result]:
    client = await Client.open(server)
    try:
        results: dict[str, bt.Result] = {}
        if everything:
            results["css"] = await rate(meter, client, "static CSS", "/static/site.css", count)
            tag = httpx.get(server.url(AVAILABILITY)).headers["etag"]
            results["availability"] = await rate(
                meter, client, "availability 30 d", AVAILABILITY, count
            )
            results["304"] = await rate(
                meter,
                client,
                "availability 30 d, If-None-Match",
                AVAILABILITY,
                count,
                headers=f"If-None-Match: {tag}\r\n",
            )
        for page in PAGES:
            results[page] = await rate(meter, client, f"{page} ({label})", page, count)
        if everything:  # the floor again: the machine's load moves during a run
            results["css again"] = await rate(
                meter, client, "static CSS, again", "/static/site.css", count
            )
        return results
    finally:
        client.close()


AVAILABILITY = "/api/v1/availability"


async def page_size(server: LiveServer) -> tuple[float, int]:
    """The programme's size in KB (uncompressed) and the visits it lists."""
    client = await Client.open(server)
    try:
        status, body = await client.get("/")
        assert status == 200, status
        return len(body) / 1000, body.count(b'<li class="slot')
    finally:
        client.close()


async def run(options: argparse.Namespace) -> list[Target]:
    count = 300 if options.quick else 3000
    async with bt.fresh_database(options.postgres_url) as (admin, name):
        url = bt._sqlalchemy_url(options.postgres_url, name)
        await _seed(url)
        with live_server(url, command=bt.serve_without_access_log(1)) as server:
            meter = bt.Meter(admin, name, server)
            now = await measure_server(server, meter, "kept", count, everything=True)
            size, visits = await page_size(server)
    # Today's code on a database its own migrations built, holding the same programme.
    migrate = functools.partial(baseline.migrate, revision=TODAY)
    async with bt.fresh_database(options.postgres_url, migrate) as (admin, name):
        url = bt._sqlalchemy_url(options.postgres_url, name)
        await _seed(url)
        command = bt.serve_without_access_log(1)
        with live_server(url, command=command, env=baseline.environment(TODAY)) as server:
            meter = bt.Meter(admin, name, server)
            before = await measure_server(
                server, meter, TODAY, max(count // 10, 100), everything=False
            )
    return _targets(now, before, size, visits)


async def _seed(url: str) -> None:
    database = Database(url)
    try:
        await bt.seed(database, 0, UPCOMING_VISITS, PROGRAMME_DAYS)
    finally:
        await database.dispose()


def _targets(
    now: dict[str, bt.Result], before: dict[str, bt.Result], size: float, visits: int
) -> list[Target]:
    for result in [*now.values(), *before.values()]:
        print(f"{result.name:<42} {result.rate:>9,.0f} req/s  {dict(result.statuses)}")
    # The faster of the two: a floor measured while the machine was busier would flatter.
    css = max(now["css"].rate, now["css again"].rate)
    targets = [
        Target(
            "availability 30 d / static CSS, 1 worker",
            now["availability"].rate,
            css,
            "req/s",
            0.7,
        ),
        Target("availability 30 d, 304 / static CSS, 1 worker", now["304"].rate, css, "req/s", 0.7),
        *(
            Target(
                f"{page} / today's ({TODAY}), 1 worker",
                now[page].rate,
                before[page].rate,
                "req/s",
                4,
            )
            for page in PAGES
        ),
        Target(
            f"programme page, {UPCOMING_VISITS} upcoming visits ({visits} on it)",
            size,
            PAGE_SIZE_GOAL_KB,
            "KB",
            1,
            at_most=True,
            note="uncompressed HTML",
        ),
    ]
    return targets


async def measure(options: argparse.Namespace) -> list[Target]:
    return await run(options)


if __name__ == "__main__":
    print(table(asyncio.run(measure(_options()))))
