"""A mixed workload at rising concurrency: throughput and p50/p99 per route, where it saturates,
with 1 and 2 workers, and the workers' memory after a soak.

    .venv/bin/python bench/mixed_workload.py [--postgres-url URL] [--quick] [--levels 1,4,16]
        [--seconds 20] [--workers 1,2] [--soak-minutes 10] [--soak-concurrency 16]

On PostgreSQL, in a fresh database (``booking_throughput.fresh_database``) holding the
programme ``booking_throughput.seed`` builds (300 slots over 60 days, 24 farms, one of them with
a daily cap), every farm with its private link (``provider_links.issue_link``), and a real
``reservations serve --no-access-log --workers N`` (rate limit off, as in every live server).

**The mix**, per 100 requests, as a tourist office's site is used in season: what people *read*
dominates by far, because everyone who books looked at several pages first, and most who look
never book.

| share | route | what is sent |
| ---: | --- | --- |
| 44 | ``availability`` | ``GET /api/v1/availability``: the office's site widgets and the resellers' polls; half the default window (today + 30 days), a third a week from a day of the season, the rest one farm's 30 days |
| 26 | ``programme`` | ``GET /`` as a browser sends it (``Accept-Encoding: gzip``): two in three the default 30 days, one in three filtered by a sector |
| 9 | ``public feed`` | ``GET /calendar.ics`` (a third with ``?sector=``): subscribed calendars polling |
| 8 | ``farmer feed`` | ``GET /farm/{secret}/calendar.ics``: the farmers' phones polling their own feed |
| 7 | ``farmer sheet`` | ``GET /farm/{secret}/{day}`` (a day of the next two weeks), or ``/farm/{secret}`` (today) |
| 5 | ``book`` | ``POST /api/v1/bookings`` with an ``Idempotency-Key``, 1-2 adults and 0-2 children on a slot of the season |
| 1 | ``cancel`` | ``DELETE /api/v1/bookings/{manage_token}`` of a booking made earlier in the run (the manage link's cancellation through the API) |

Why these shares: a visit page leads to a booking for a few percent of its views, so bookings are
a few percent of the traffic (5: on the high side, a season's busy evening); about one booking
in five to ten is cancelled, so cancellations are fewer (1). Calendar apps poll every 5-15
minutes whether anyone looks or not, so feeds are a steady part (17 in all); nine polls in ten
after the first send the ``ETag`` they got back (``If-None-Match``) and get a 304 while nothing
changed, the tenth is a new subscriber or an app that fetches in full. The farmers are few (24)
but open their day sheet several times a day in season (7). The rest are reads of what is on
and what is left (70: API and programme).

The programme's capacities are raised to 1,000,000 so that bookings never fill the season
(a full slot answers 409 at less cost, and would soon be all that is measured); a 409 (full,
closed, already cancelled) or a 410 is an expected answer, any other status but 2xx/304, or a
broken connection, is an error, and a clean run has none.

Each level (1, 4, 16, 64, 256 client connections) runs for a fixed time, each connection sending
its next request as soon as its answer arrives (a closed loop: at 256 connections, 256 requests
in flight). The load *saturates* at the last level after which the total throughput grows by
10 % or less while the p99 grows.

**Memory**: a fresh server (``--soak-workers``, default 2), warmed up, its worker processes' RSS
(``VmRSS`` of uvicorn's workers, or of the server itself with one worker) read, then the mix at
``--soak-concurrency`` for ``--soak-minutes``, the RSS read again (and every minute, to tell a
leak from a plateau).

The load generator (``booking_throughput.BareHttpConnection``, in this process) shares the
machine's cores with the server and PostgreSQL: the CPU each side spent per request is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from bench import booking_throughput as bt  # noqa: E402
from bench.targets import Target, table  # noqa: E402

from reservations.base import clock  # noqa: E402
from reservations.base.infra.db import Database  # noqa: E402
from reservations.base.rules.provider_links import issue_link  # noqa: E402
from tests.live_server import LiveServer, live_server, process_tree  # noqa: E402

#: route -> share of the requests (per 100), see the module's docstring.
MIX: dict[str, int] = {
    "availability": 44,
    "programme": 26,
    "public feed": 9,
    "farmer feed": 8,
    "farmer sheet": 7,
    "book": 5,
    "cancel": 1,
}
#: Statuses that are the service's right answer to a request of the mix, not an error.
EXPECTED = {200, 201, 304, 409, 410}
#: Polls that send back the ETag they hold (the others fetch in full).
CONDITIONAL_SHARE = 0.9
#: A level stops growing when its throughput is at most this much above the previous one.
SATURATION_GROWTH = 1.10
#: How long the warm-up runs, at 16 connections, before anything is counted.
WARMUP_SECONDS = 5.0
SEASON_CAPACITY = 1_000_000
#: What SQLAlchemy's pool says in the server's log when a request waited too long (a 503).
POOL_TIMEOUT = "QueuePool limit"


# --- the site: what the mix asks for -------------------------------------------------------


@dataclass
class Site:
    slot_ids: list[int]
    provider_ids: list[int]
    sectors: list[str]
    secrets: list[str]
    season: tuple[date, date]
    #: Manage tokens of the bookings made in the run and not cancelled yet.
    tokens: deque[str] = field(default_factory=deque)
    #: The ETag last served for each feed address (what a subscribed calendar holds).
    etags: dict[str, str] = field(default_factory=dict)


async def prepare(name: str, args: argparse.Namespace) -> Site:
    """Seed the programme, give every farm its private link, open the season's capacities."""
    database = Database(bt._sqlalchemy_url(args.postgres_url, name))
    connection = await asyncpg.connect(bt._asyncpg_dsn(args.postgres_url, name))
    try:
        await bt.seed(database, 0, args.programme_slots, args.programme_days)
        providers = await connection.fetch("SELECT id, name, sector FROM provider ORDER BY id")
        secrets = [await issue_link(database, row["name"]) for row in providers]
        # The season's slots (the seed's own ones for bookings lie 300 days ahead).
        rows = await connection.fetch(
            "UPDATE slot SET capacity = $1 WHERE starts_at < now() + make_interval(days => $2) "
            "RETURNING id",
            SEASON_CAPACITY,
            args.programme_days + 2,
        )
    finally:
        await connection.close()
        await database.dispose()
    today = clock.today()
    return Site(
        slot_ids=sorted(row["id"] for row in rows),
        provider_ids=[row["id"] for row in providers],
        sectors=sorted({row["sector"] for row in providers}),
        secrets=secrets,
        season=(today + timedelta(days=1), today + timedelta(days=args.programme_days)),
    )


# --- one client connection's requests --------------------------------------------------------


@dataclass
class Tally:
    """Latencies and statuses per route over one phase."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int | str]] = field(default_factory=dict)

    def add(self, route: str, status: int | str, seconds: float) -> None:
        self.latencies.setdefault(route, []).append(seconds)
        self.statuses.setdefault(route, Counter())[status] += 1

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def errors(self, route: str | None = None) -> int:
        routes = [route] if route else list(self.statuses)
        return sum(
            count
            for name in routes
            for status, count in self.statuses.get(name, Counter()).items()
            if status not in EXPECTED
        )

    def percentile(self, share: float, route: str | None = None) -> float:
        values = sorted(
            self.latencies.get(route, [])
            if route
            else [v for values in self.latencies.values() for v in values]
        )
        return values[min(len(values) - 1, int(share * len(values)))] if values else 0.0


class Visitor:
    """One client connection sending the mix: picks a route by its share, sends it, tallies."""

    def __init__(
        self, site: Site, base_url: str, rng: random.Random, mix: dict[str, int] = MIX
    ) -> None:
        self.site, self.base_url, self.rng = site, base_url, rng
        self.connection: bt.BareHttpConnection | None = None
        self.routes = list(mix)
        self.weights = list(mix.values())

    async def run_until(self, deadline: float, tally: Tally) -> None:
        try:
            while time.perf_counter() < deadline:
                route = self.rng.choices(self.routes, self.weights)[0]
                if route == "cancel" and not self.site.tokens:
                    route = "book"  # nothing to cancel yet: a booking instead
                started = time.perf_counter()
                try:
                    status = await self.send(route)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                    status = type(exc).__name__
                    self.close()
                tally.add(route, status, time.perf_counter() - started)
        finally:
            self.close()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    async def exchange(
        self, method: str, target: str, body: bytes = b"", headers: str = ""
    ) -> tuple[int, dict[bytes, bytes], bytes]:
        if self.connection is None:
            self.connection = await bt.BareHttpConnection.open(self.base_url)
        return await self.connection.exchange(method, target, body, headers)

    async def send(self, route: str) -> int:
        site, rng = self.site, self.rng
        if route == "availability":
            return (await self.exchange("GET", self.availability_target()))[0]
        if route == "programme":
            target = "/"
            if rng.random() < 1 / 3:
                target = "/?sector=" + quote(rng.choice(site.sectors))
            return (await self.exchange("GET", target, headers="Accept-Encoding: gzip\r\n"))[0]
        if route == "public feed":
            target = "/calendar.ics"
            if rng.random() < 1 / 3:
                target += "?sector=" + quote(rng.choice(site.sectors))
            return await self.poll(target)
        if route == "farmer feed":
            return await self.poll(f"/farm/{rng.choice(site.secrets)}/calendar.ics")
        if route == "farmer sheet":
            secret = rng.choice(site.secrets)
            day = clock.today() + timedelta(days=rng.randrange(15))
            target = f"/farm/{secret}" if day == clock.today() else f"/farm/{secret}/{day}"
            return (await self.exchange("GET", target))[0]
        if route == "cancel":
            token = site.tokens.popleft()
            return (await self.exchange("DELETE", f"/api/v1/bookings/{token}"))[0]
        return await self.book()

    def availability_target(self) -> str:
        site, rng, choice = self.site, self.rng, self.rng.random()
        if choice < 0.5:
            return "/api/v1/availability"
        if choice < 5 / 6:
            first = site.season[0] + timedelta(
                days=rng.randrange((site.season[1] - site.season[0]).days)
            )
            return f"/api/v1/availability?from={first}&to={first + timedelta(days=6)}"
        return f"/api/v1/availability?provider={rng.choice(site.provider_ids)}"

    async def poll(self, target: str) -> int:
        """A subscribed calendar's poll: with the ETag it holds, mostly."""
        known = self.site.etags.get(target)
        headers = ""
        if known and self.rng.random() < CONDITIONAL_SHARE:
            headers = f"If-None-Match: {known}\r\n"
        status, answer_headers, _ = await self.exchange("GET", target, headers=headers)
        if status == 200 and b"etag" in answer_headers:
            self.site.etags[target] = answer_headers[b"etag"].decode()
        return status

    async def book(self) -> int:
        rng = self.rng
        body = {
            "slot_id": rng.choice(self.site.slot_ids),
            "adults": rng.randint(1, 2),
            "children": rng.randint(0, 2),
            "name": "Visiteur du banc",
            "email": f"visiteur{rng.randrange(10**6)}@example.org",
            "locale": rng.choice(("fr", "fr", "en", "de", "nl")),
        }
        status, _, answer = await self.exchange(
            "POST",
            "/api/v1/bookings",
            json.dumps(body).encode(),
            headers=f"Idempotency-Key: {uuid.uuid4()}\r\n",
        )
        if status == 201:
            self.site.tokens.append(json.loads(answer)["manage_token"])
        return status


async def drive_for(
    site: Site,
    base_url: str,
    connections: int,
    seconds: float,
    seed: int,
    mix: dict[str, int] = MIX,
) -> Tally:
    """``connections`` visitors send ``mix`` for ``seconds``; the requests still in flight at
    the end are answered and counted."""
    tally = Tally()
    deadline = time.perf_counter() + seconds
    visitors = [
        Visitor(site, base_url, random.Random(seed * 1000 + n), mix) for n in range(connections)
    ]
    async with asyncio.timeout(seconds + 120):  # a server that stops answering ends the run
        await asyncio.gather(*(visitor.run_until(deadline, tally) for visitor in visitors))
    return tally


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Level:
    workers: int
    connections: int
    tally: Tally
    result: bt.Result
    #: Requests that waited longer than the pool's timeout for a database connection (503).
    pool_timeouts: int = 0

    @property
    def rate(self) -> float:
        return self.tally.requests / self.result.seconds


async def measured(
    meter: bt.Meter, name: str, load: Callable[[], Awaitable[Tally]]
) -> tuple[Tally, bt.Result]:
    tallies: list[Tally] = []

    async def counted() -> Counter[int | str]:
        tallies.append(await load())
        return Counter()

    result = await meter.measure(name, 0, counted)
    result.requests = tallies[0].requests
    return tallies[0], result


def worker_pids(server: LiveServer) -> list[int]:
    """uvicorn's worker processes (spawned by its supervisor), or the server itself when it
    runs alone (one worker)."""
    tree = process_tree(server.process.pid)
    workers = [pid for pid in tree[1:] if b"spawn_main" in _cmdline(pid)]
    return workers or [server.process.pid]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc/PID/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def saturation(levels: list[Level]) -> Level | None:
    """The last level before growth stops: the next one adds at most 10 % of throughput while
    its p99 grows. None when every step still paid off."""
    for before, after in zip(levels, levels[1:]):
        if after.rate <= before.rate * SATURATION_GROWTH and after.tally.percentile(
            0.99
        ) > before.tally.percentile(0.99):
            return before
    return None


@dataclass
class Cost:
    """One route sent alone: what a request of it costs each side."""

    route: str
    tally: Tally
    result: bt.Result

    def per_request(self, seconds: float | None) -> float:
        return 1000 * (seconds or 0.0) / max(1, self.tally.requests)


async def sweep(
    admin: asyncpg.Connection,
    name: str,
    site: Site,
    url: str,
    args: argparse.Namespace,
    workers: int,
) -> tuple[list[Level], list[Cost]]:
    """Warm up, each route alone (with the first worker count only), then every level."""
    levels: list[Level] = []
    costs: list[Cost] = []
    with live_server(url, command=bt.serve_without_access_log(workers)) as server:
        await drive_for(site, server.base_url, 16, WARMUP_SECONDS, seed=workers)
        meter = bt.Meter(admin, name, server)
        if workers == args.workers[0] and args.route_seconds > 0:
            for route in MIX:
                tally, result = await measured(
                    meter,
                    route,
                    lambda: drive_for(
                        site, server.base_url, 4, args.route_seconds, 50, mix={route: 1}
                    ),
                )
                costs.append(Cost(route, tally, result))
        for connections in args.levels:
            tally, result = await measured(
                meter,
                f"{workers}w, {connections} conns",
                lambda: drive_for(site, server.base_url, connections, args.seconds, connections),
            )
            timeouts = server.output().count(POOL_TIMEOUT) - sum(
                done.pool_timeouts for done in levels
            )
            levels.append(Level(workers, connections, tally, result, timeouts))
            print(level_line(levels[-1]), flush=True)
    return levels, costs


def costs_table(costs: list[Cost]) -> str:
    """Each route's CPU per request, and its share of the mix's server CPU (share x cost)."""
    weighted = {
        cost.route: MIX[cost.route] * cost.per_request(cost.result.server_cpu) for cost in costs
    }
    whole = sum(weighted.values()) or 1.0
    lines = [
        f"{'route alone, 4 conns':<22} {'req/s':>7} {'p50 ms':>7} {'client':>7} {'server':>7} "
        f"{'pg':>6} {'of the mix':>10}",
        f"{'':<22} {'':>7} {'':>7} {'CPU ms per request':^22} {'server CPU':>10}",
    ]
    for cost in costs:
        lines.append(
            f"{cost.route:<22} {cost.tally.requests / cost.result.seconds:>7.0f} "
            f"{1000 * cost.tally.percentile(0.5):>7.1f} "
            f"{cost.per_request(cost.result.client_cpu):>7.2f} "
            f"{cost.per_request(cost.result.server_cpu):>7.2f} "
            f"{cost.per_request(cost.result.postgres_cpu):>6.2f} "
            f"{100 * weighted[cost.route] / whole:>9.0f}%"
        )
    mix_cost = whole / sum(MIX.values())
    lines.append(f"the mix, from these: {mix_cost:.2f} ms of server CPU per request")
    return "\n".join(lines)


@dataclass
class Soak:
    workers: int
    rss_start: dict[int, int]
    rss_end: dict[int, int]
    trajectory: list[int]
    tally: Tally
    result: bt.Result


async def soak(
    admin: asyncpg.Connection, name: str, site: Site, url: str, args: argparse.Namespace
) -> Soak:
    """A fresh server, warmed up; its workers' RSS, the mix for ``soak_minutes``, the RSS again."""
    with live_server(url, command=bt.serve_without_access_log(args.soak_workers)) as server:
        await drive_for(site, server.base_url, 16, WARMUP_SECONDS, seed=7)
        pids = worker_pids(server)
        start = {pid: rss_kib(pid) for pid in pids}
        trajectory = [sum(start.values())]
        meter = bt.Meter(admin, name, server)
        minutes = max(1, round(args.soak_minutes))

        async def minute_by_minute() -> Tally:
            whole = Tally()
            for minute in range(minutes):
                part = await drive_for(
                    site,
                    server.base_url,
                    args.soak_concurrency,
                    60 * args.soak_minutes / minutes,
                    100 + minute,
                )
                for route, values in part.latencies.items():
                    whole.latencies.setdefault(route, []).extend(values)
                    whole.statuses.setdefault(route, Counter()).update(part.statuses[route])
                trajectory.append(sum(rss_kib(pid) for pid in pids))
                print(
                    f"  soak minute {minute + 1}: workers' RSS {trajectory[-1] / 1024:.1f} MiB",
                    flush=True,
                )
            return whole

        tally, result = await measured(meter, "soak", minute_by_minute)
        end = {pid: rss_kib(pid) for pid in pids}
    return Soak(args.soak_workers, start, end, trajectory, tally, result)


# --- the report ------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:8.1f}"


def level_line(level: Level) -> str:
    result, tally = level.result, level.tally
    cpu = [
        f"{1000 * seconds / tally.requests:6.2f}" if tally.requests else "     -"
        for seconds in (result.client_cpu, result.server_cpu or 0.0, result.postgres_cpu)
    ]
    busy = 100 * result.machine_busy / (result.seconds * (os.cpu_count() or 1))
    return (
        f"{level.workers}w {level.connections:>4} conns {tally.requests:>7} req "
        f"{level.rate:>7.0f}/s  p50 {_ms(tally.percentile(0.5))} ms  p99 {_ms(tally.percentile(0.99))} ms"
        f"  errors {tally.errors():>4} (pool timeouts {level.pool_timeouts})  CPU ms/req client {cpu[0]} server {cpu[1]} pg {cpu[2]}"
        f"  busy {busy:3.0f} %"
    )


def routes_table(levels: list[Level]) -> str:
    lines = [
        f"{'':<16}" + "".join(f"{f'{level.connections} conns':>31}" for level in levels),
        f"{'route':<16}"
        + "".join(f"{'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'err':>5}" for _ in levels),
    ]
    for route in MIX:
        cells = []
        for level in levels:
            count = len(level.tally.latencies.get(route, []))
            cells.append(
                f"{count / level.result.seconds:>9.1f} "
                f"{1000 * level.tally.percentile(0.5, route):>7.1f} "
                f"{1000 * level.tally.percentile(0.99, route):>7.1f} "
                f"{level.tally.errors(route):>5}"
            )
        lines.append(f"{route:<16}" + "".join(cells))
    return "\n".join(lines)


def unexpected(tally: Tally) -> str:
    found = {
        route: {status: n for status, n in statuses.items() if status not in EXPECTED}
        for route, statuses in tally.statuses.items()
    }
    return "; ".join(f"{route}: {codes}" for route, codes in found.items() if codes) or "none"


def report(
    levels: list[Level], costs: list[Cost], soaked: Soak | None, args: argparse.Namespace
) -> str:
    out: list[str] = ["\n== each route alone", costs_table(costs)] if costs else []
    for workers in args.workers:
        mine = [level for level in levels if level.workers == workers]
        point = saturation(mine)
        out += [
            f"\n== {workers} worker{'s' if workers > 1 else ''}: per route (req/s, p50, p99, errors)",
            routes_table(mine),
            *(level_line(level) for level in mine),
            "saturates at "
            + (
                f"{point.connections} connections, {point.rate:.0f} req/s"
                if point
                else f"no level up to {mine[-1].connections} connections (throughput still grows)"
            ),
            "statuses: "
            + ", ".join(
                f"{route} {dict(sorted(level_statuses(mine, route).items(), key=str))}"
                for route in MIX
            ),
            "unexpected answers: " + "; ".join(unexpected(level.tally) for level in mine),
        ]
    if soaked:
        out += [
            f"\n== soak: {args.soak_minutes:g} min at {args.soak_concurrency} connections, "
            f"{soaked.workers} worker(s)",
            f"{soaked.tally.requests} requests, {soaked.tally.requests / soaked.result.seconds:.0f}/s, "
            f"p50 {_ms(soaked.tally.percentile(0.5)).strip()} ms, p99 "
            f"{_ms(soaked.tally.percentile(0.99)).strip()} ms, errors {soaked.tally.errors()} "
            f"({unexpected(soaked.tally)})",
            "workers' RSS (MiB) at start "
            + ", ".join(f"{kib / 1024:.1f}" for kib in soaked.rss_start.values())
            + "; after "
            + ", ".join(f"{kib / 1024:.1f}" for kib in soaked.rss_end.values())
            + "; every minute (sum) "
            + " ".join(f"{kib / 1024:.1f}" for kib in soaked.trajectory),
        ]
    return "\n".join(out)


def level_statuses(levels: list[Level], route: str) -> Counter[int | str]:
    total: Counter[int | str] = Counter()
    for level in levels:
        total.update(level.tally.statuses.get(route, Counter()))
    return total


def targets(levels: list[Level], soaked: Soak | None) -> list[Target]:
    found = []
    for workers in sorted({level.workers for level in levels}):
        mine = [level for level in levels if level.workers == workers]
        total = sum(level.tally.requests for level in mine)
        point = saturation(mine)
        found.append(
            Target(
                f"mixed, {workers}w: requests without error / all",
                total - sum(level.tally.errors() for level in mine),
                total,
                "requests",
                1,
                note=f"saturates at {point.connections} conns, {point.rate:.0f} req/s"
                if point
                else "no saturation seen",
            )
        )
    if soaked:
        found.append(
            Target(
                f"mixed: worker RSS after {soaked.result.seconds / 60:.0f} min soak / at start",
                sum(soaked.rss_end.values()) / 1024,
                sum(soaked.rss_start.values()) / 1024,
                "MiB",
                1.1,
                at_most=True,
                note=f"{soaked.workers} worker(s), {soaked.tally.errors()} errors",
            )
        )
    return found


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> tuple[list[Level], list[Cost], Soak | None]:
    async with bt.fresh_database(args.postgres_url) as (admin, name):
        site = await prepare(name, args)
        url = bt._sqlalchemy_url(args.postgres_url, name)
        levels: list[Level] = []
        costs: list[Cost] = []
        for workers in args.workers:
            found, priced = await sweep(admin, name, site, url, args, workers)
            levels += found
            costs += priced
        soaked = await soak(admin, name, site, url, args) if args.soak_minutes > 0 else None
        return levels, costs, soaked


async def measure(options: argparse.Namespace) -> list[Target]:
    """For ``bench/run.py``: its options (``postgres_url``, ``quick``) over this one's defaults."""
    args = resolved(argparse.Namespace(**(vars(parser().parse_args([])) | vars(options))))
    levels, costs, soaked = await run(args)
    print(report(levels, costs, soaked, args), flush=True)
    return targets(levels, soaked)


def parser() -> argparse.ArgumentParser:
    numbers = lambda text: [int(n) for n in text.split(",")]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RESERVATIONS_BENCH_POSTGRES_URL", bt.DEFAULT_ADMIN_URL),
        help="an administrative database of the server (a fresh one is created next to it)",
    )
    parser.add_argument("--quick", action="store_true", help="5 s a level, a 1-minute soak")
    parser.add_argument("--levels", type=numbers, default=[1, 4, 16, 64, 256])
    parser.add_argument("--seconds", type=float, default=None, help="per level (20; quick 5)")
    parser.add_argument("--workers", type=numbers, default=[1, 2])
    parser.add_argument("--soak-minutes", type=float, default=None, help="10 (quick 1); 0: none")
    parser.add_argument(
        "--route-seconds", type=float, default=None, help="each route alone first (3; quick 2)"
    )
    parser.add_argument("--soak-concurrency", type=int, default=16)
    parser.add_argument("--soak-workers", type=int, default=2)
    parser.add_argument("--programme-slots", type=int, default=300)
    parser.add_argument("--programme-days", type=int, default=60)
    return parser


def resolved(args: argparse.Namespace) -> argparse.Namespace:
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 20.0
    if args.route_seconds is None:
        args.route_seconds = 2.0 if args.quick else 3.0
    if args.soak_minutes is None:
        args.soak_minutes = 1.0 if args.quick else 10.0
    return args


def main() -> None:
    args = resolved(parser().parse_args())
    version = asyncio.run(bt.postgres_version(args.postgres_url))
    load_before, started = bt.load_average(), time.perf_counter()
    levels, costs, soaked = asyncio.run(run(args))
    print(report(levels, costs, soaked, args))
    print("\n" + table(targets(levels, soaked)))
    print(
        f"\nPostgreSQL {version}; {bt.machine_description()}\n"
        f"Load average (1, 5, 15 min) before: {load_before}; after: {bt.load_average()}. "
        f"Whole run: {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
