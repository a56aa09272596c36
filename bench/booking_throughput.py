"""Booking throughput: the HTTP API against the same transaction sent straight through asyncpg.

One run, on PostgreSQL, in a fresh database it creates, migrates and drops at the end:

  a. bookings through the HTTP API (a real ``reservations serve`` process, 1 then 2 workers,
     rate limit and access log off), a fixed number of requests over a fixed number of client
     connections, on a HOT slot (every booking on one slot) and on SPREAD slots (round-robin
     over many slots);
  b. the floor: the very statement ``reservations.base.rules.places`` sends for a booking (compiled by
     SQLAlchemy, with the parameters ``booking.book`` builds) issued with asyncpg, same
     concurrency and request count;
  c. availability reads of a 30-day window through HTTP, over a realistic programme.

    .venv/bin/python bench/booking_throughput.py [--postgres-url URL] [--requests N] ...

The load generator (bare keep-alive HTTP/1.1 in this process, so that it costs little) shares the
machine's cores with the server and PostgreSQL: the table shows each side's CPU time so the
figures can be judged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.live_server: the helper that runs a real server process

import asyncpg  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from reservations.base import clock  # noqa: E402
from reservations.base.infra import db as db_module  # noqa: E402
from reservations.base.infra import tokens  # noqa: E402
from reservations.base.infra.db import Database  # noqa: E402
from reservations.base.models import Activity, ActivityKind, Provider  # noqa: E402
from reservations.base.rules import booking as booking_service  # noqa: E402
from reservations.base.rules import places  # noqa: E402
from reservations.base.rules.booking import BookingRequest  # noqa: E402
from reservations.base.rules.planning import new_slot  # noqa: E402
from tests.live_server import (  # noqa: E402
    LiveServer,
    live_server,
    process_cpu_seconds,
)

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
POLICY = booking_service.BookingPolicy(secret_key="bench")
#: Statements per path of the service, counted once in a run (``statements_per_path``).
ROUND_TRIPS: dict[str, int] = {}
HOLD_MINUTES = 15  # the holds the benchmark makes never end during a run
BIG_CAPACITY = 1_000_000  # never the limit: the benchmark measures taking places, not refusals
WINDOW_DAYS = 30


def serve_without_access_log(workers: int) -> list[str]:
    """The deployed command, without the access log (a line per request costs CPU)."""
    return [
        sys.executable,
        "-m",
        "reservations",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--no-access-log",
        "--workers",
        str(workers),
    ]


# --- the programme --------------------------------------------------------------------------


@dataclass(frozen=True)
class Programme:
    hot_slot: int
    #: A hot slot of a farm with a daily cap (one that is never reached): the locked path.
    capped_hot_slot: int
    spread_slots: list[int]
    window: tuple[date, date]
    slots_in_window: int
    #: Where the service's statements are counted (kept out of the counters' check).
    counted_slot: int


async def seed(db: Database, spread: int, programme_slots: int, programme_days: int) -> Programme:
    """A season's programme for the reads (realistic capacities, days 1..programme_days) and,
    far ahead, the benchmark's own slots with capacities that never fill."""
    today = clock.today()
    async with db.writing() as session:
        activities = _activities(session, count=24)
        await session.flush()
        starts_on: list[date] = []
        times = (clock_time(10), clock_time(14), clock_time(15, 30), clock_time(17), clock_time(21))
        per_day = -(-programme_slots // programme_days)
        for number in range(programme_slots):
            day = today + timedelta(days=1 + number // per_day)
            starts = clock.local_datetime(day, times[number % per_day % len(times)])
            session.add(new_slot(activities[number % len(activities)], starts))
            starts_on.append(day)
        bench = activities[0]
        far = today + timedelta(days=300)
        hot = new_slot(bench, clock.local_datetime(far, clock_time(10)), capacity=BIG_CAPACITY)
        spread_slots = [
            new_slot(
                bench,
                clock.local_datetime(far + timedelta(days=1 + n // 4), times[n % 4]),
                capacity=BIG_CAPACITY,
            )
            for n in range(spread)
        ]
        capped = activities[1]
        capped.provider.daily_cap = BIG_CAPACITY
        capped_hot = new_slot(
            capped, clock.local_datetime(far, clock_time(10)), capacity=BIG_CAPACITY
        )
        counted = new_slot(bench, clock.local_datetime(far, clock_time(17)), capacity=BIG_CAPACITY)
        session.add_all([hot, capped_hot, counted, *spread_slots])
    first, last = today + timedelta(days=1), today + timedelta(days=WINDOW_DAYS)
    in_window = sum(1 for day in starts_on if first <= day <= last)
    return Programme(
        hot.id,
        capped_hot.id,
        [slot.id for slot in spread_slots],
        (first, last),
        in_window,
        counted.id,
    )


def _activities(session, count: int) -> list[Activity]:  # type: ignore[no-untyped-def]
    sectors = ("Mont Lozère", "Vallée Française", "Vallée Longue et Calbertois")
    activities = []
    for number in range(count):
        provider = Provider(
            name=f"Ferme {number}",
            village="Vialas",
            sector=sectors[number % 3],
            email=f"ferme{number}@example.org",
            languages=["fr", "en"],
        )
        activity = Activity(
            provider=provider,
            kind=ActivityKind.FARM_VISIT,
            name=f"Visite {number}",
            title={"fr": f"Visite de la ferme {number}", "en": f"Farm visit {number}"},
            description={"fr": "Une visite."},
            accessibility={},
            default_capacity=8 + number % 18,
            default_min_participants=4,
            price_adult_cents=800,
            price_child_cents=400,
        )
        session.add(activity)
        activities.append(activity)
    return activities


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    client_cpu: float
    server_cpu: float | None
    postgres_cpu: float
    machine_busy: float
    new_sessions: int
    statuses: Counter[int | str]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def machine_busy_seconds() -> float:
    """CPU-seconds all cores spent not idle since boot (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU of this process (the client), of the server, of the benchmark database's PostgreSQL
    backends and of the whole machine, plus the PostgreSQL sessions opened, over one phase."""

    def __init__(self, admin: asyncpg.Connection, database: str, server: LiveServer | None):
        self.admin, self.database, self.server = admin, database, server

    async def _backends_cpu(self) -> dict[int, float]:
        rows = await self.admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
        )
        return {row["pid"]: process_cpu_seconds(row["pid"]) for row in rows}

    async def _sessions(self) -> int:
        await self.admin.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            await self.admin.fetchval(
                "SELECT sessions FROM pg_stat_database WHERE datname = $1", self.database
            )
            or 0
        )

    async def _sample(self) -> tuple[float, ...]:
        server = self.server.cpu_seconds if self.server else 0.0
        return (
            time.perf_counter(),
            time.process_time(),
            server,
            machine_busy_seconds(),
            float(await self._sessions()),
        )

    async def measure(
        self, name: str, count: int, load: Callable[[], Awaitable[Counter[int | str]]]
    ) -> Result:
        backends_before, before = await self._backends_cpu(), await self._sample()
        statuses = await load()
        after, backends_after = await self._sample(), await self._backends_cpu()
        wall, client, server, busy, sessions = (b - a for a, b in zip(before, after, strict=True))
        # Backends that ended during the phase are missed (see 'new pg conns').
        backends = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
        return Result(
            name,
            count,
            wall,
            client,
            server if self.server else None,
            backends,
            busy,
            int(sessions),
            statuses,
        )


async def drive(
    concurrency: int, count: int, call: Callable[[int], Awaitable[int | str]]
) -> Counter[int | str]:
    """``concurrency`` workers send requests number 0..count-1 between them, each as soon as its
    previous one is answered."""
    numbers: Iterator[int] = iter(range(count))
    outcomes: Counter[int | str] = Counter()

    async def worker() -> None:
        for number in numbers:
            outcomes[await call(number)] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


# --- (a, c) through HTTP ----------------------------------------------------------------------


def booking_body(slot_id: int, number: int) -> dict[str, object]:
    return {
        "slot_id": slot_id,
        "adults": 1,
        "children": 1,
        "name": f"Visiteur {number}",
        "email": f"visiteur{number}@example.org",
        "locale": "fr",
    }


class BareHttpConnection:
    """One keep-alive HTTP/1.1 connection that only writes requests and reads answers: a load
    generator that costs a fraction of httpx's CPU, so the cores go to what is measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base_url: str) -> BareHttpConnection:
        host, port = base_url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: str = ""
    ) -> tuple[int, bytes]:
        """``headers``: more header lines, each ending in CRLF."""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: bench\r\n{headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def http_phases(
    server: LiveServer, meter: Meter, programme: Programme, args: argparse.Namespace, workers: int
) -> list[Result]:
    connections: asyncio.Queue[BareHttpConnection] = asyncio.Queue()
    for _ in range(args.concurrency):
        connections.put_nowait(await BareHttpConnection.open(server.base_url))

    async def send(method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        connection = await connections.get()
        try:
            return await connection.request(method, target, body)
        finally:
            connections.put_nowait(connection)

    def book_on(slot_of: Callable[[int], int]) -> Callable[[int], Awaitable[int]]:
        async def call(number: int) -> int:
            body = json.dumps(booking_body(slot_of(number), number)).encode()
            return (await send("POST", "/api/v1/bookings", body))[0]

        return call

    first, last = programme.window
    window = f"/api/v1/availability?from={first.isoformat()}&to={last.isoformat()}"

    async def read(_number: int) -> int:
        return (await send("GET", window))[0]

    try:
        listed = json.loads((await send("GET", window))[1])
        assert len(listed) == programme.slots_in_window, (len(listed), programme.slots_in_window)
        spread = programme.spread_slots
        await drive(args.concurrency, args.warmup, book_on(lambda n: spread[n % len(spread)]))
        await drive(args.concurrency, args.warmup, read)

        def hot_slot(number: int) -> int:
            return programme.hot_slot

        hot = book_on(hot_slot)
        capped_hot = book_on(lambda n: programme.capped_hot_slot)
        spreading = book_on(lambda n: spread[n % len(spread)])
        return [
            await meter.measure(
                f"HTTP book, hot slot, {workers}w",
                args.requests,
                lambda: drive(args.concurrency, args.requests, hot),
            ),
            await meter.measure(
                f"HTTP book, hot slot, daily cap, {workers}w",
                args.requests,
                lambda: drive(args.concurrency, args.requests, capped_hot),
            ),
            await meter.measure(
                f"HTTP book, {len(spread)} slots, {workers}w",
                args.requests,
                lambda: drive(args.concurrency, args.requests, spreading),
            ),
            await meter.measure(
                f"HTTP read 30 d ({programme.slots_in_window} slots), {workers}w",
                args.reads,
                lambda: drive(args.concurrency, args.reads, read),
            ),
        ]
    finally:
        while not connections.empty():
            connections.get_nowait().close()


# --- (b) the floor: the same transaction through asyncpg ----------------------------------------


def _floor_statement() -> tuple[str, list[str]]:
    """The SQL text and parameter order of the statement ``reservations.base.rules.places`` sends on
    PostgreSQL (compiled by SQLAlchemy for asyncpg), so the floor is exactly the same work."""
    compiled = places._POSTGRES_STATEMENT.compile(dialect=postgresql_asyncpg.dialect())
    return str(compiled), list(compiled.positiontup or [])


FLOOR_SQL, FLOOR_PARAMETERS = _floor_statement()


async def raw_booking(
    connection: asyncpg.Connection, slot_id: int, number: int, *, hold: bool = False
) -> str:
    """One booking as ``booking.book`` makes it: the same parameters, one autocommit statement.
    With ``hold``, a place hold of 15 minutes (an unpaid online booking): the same statement."""
    request = BookingRequest(
        slot_id=slot_id,
        adults=1,
        children=1,
        name=f"Visiteur {number}",
        email=f"visiteur{number}@example.org",
        locale="fr",
    )
    params = booking_service._statement_params(
        request,
        tokens.new_reference(),
        tokens.new_token(),
        None,
        None,
        "api",
    )
    if hold:
        booking_service._as_hold(params, HOLD_MINUTES)
    places._at(params, clock.now)
    params["audit_data"] = json.dumps(params["audit_data"])
    row = await connection.fetchrow(FLOOR_SQL, *(params[name] for name in FLOOR_PARAMETERS))
    return "booked" if row else "full"


async def raw_phases(
    dsn: str, meter: Meter, programme: Programme, args: argparse.Namespace
) -> list[Result]:
    size = args.concurrency
    async with asyncpg.create_pool(dsn, min_size=size, max_size=size) as pool:

        def book_on(
            slot_of: Callable[[int], int], *, hold: bool = False
        ) -> Callable[[int], Awaitable[str]]:
            async def call(number: int) -> str:
                async with pool.acquire() as connection:
                    return await raw_booking(connection, slot_of(number), number, hold=hold)

            return call

        spread = programme.spread_slots
        await drive(args.concurrency, args.warmup, book_on(lambda n: spread[n % len(spread)]))

        def hot_slot(number: int) -> int:
            return programme.hot_slot

        hot = book_on(hot_slot)
        spreading = book_on(lambda n: spread[n % len(spread)])
        return [
            await meter.measure(
                "asyncpg book, hot slot",
                args.requests,
                lambda: drive(args.concurrency, args.requests, hot),
            ),
            await meter.measure(
                f"asyncpg book, {len(spread)} slots",
                args.requests,
                lambda: drive(args.concurrency, args.requests, spreading),
            ),
            await meter.measure(
                "asyncpg hold, hot slot",
                args.requests,
                lambda: drive(args.concurrency, args.requests, book_on(hot_slot, hold=True)),
            ),
        ]


# --- round trips of the service's paths --------------------------------------------------------


async def statements_per_path(db: Database, slot_id: int) -> dict[str, int]:
    """The statements ``booking.book`` sends for a booking, a hold, and the first booking after
    a hold lapsed (which releases it): counted at the driver, BEGIN and COMMIT included."""
    sent: list[str] = []

    def count(*_args: object) -> None:
        sent.append("statement")

    listened = db.engine.sync_engine
    event.listen(listened, "before_cursor_execute", count)
    event.listen(listened, "begin", count)
    event.listen(listened, "commit", count)

    async def statements(**options: Any) -> int:
        sent.clear()
        request = BookingRequest(
            slot_id=slot_id,
            adults=1,
            children=1,
            name="Compte",
            email=None,
            phone="+33 4 66 00 00 00",
        )
        await booking_service.book(db, request, POLICY, actor="bench", **options)
        return len(sent)

    try:
        lapsed_at = clock.now() - timedelta(minutes=HOLD_MINUTES, seconds=1)
        return {
            "booking": await statements(),
            "hold": await statements(hold_minutes=HOLD_MINUTES),
            "lapsed hold made": await statements(hold_minutes=HOLD_MINUTES, now=lapsed_at),
            "first booking after a lapse": await statements(),
            "booking again": await statements(),
        }
    finally:
        event.remove(listened, "before_cursor_execute", count)
        event.remove(listened, "begin", count)
        event.remove(listened, "commit", count)


# --- the run --------------------------------------------------------------------------------


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.set(database=database or parsed.database).render_as_string(hide_password=False)


def _sqlalchemy_url(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql+asyncpg", database=database)
    return parsed.render_as_string(hide_password=False)


async def run(args: argparse.Namespace) -> list[Result]:
    name = f"reservations_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_asyncpg_dsn(args.postgres_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _sqlalchemy_url(args.postgres_url, name)
        await asyncio.to_thread(db_module.upgrade, url)
        database = Database(url)
        try:
            programme = await seed(database, args.spread, args.programme_slots, args.programme_days)
            ROUND_TRIPS.update(await statements_per_path(database, programme.counted_slot))
        finally:
            await database.dispose()
        results = await raw_phases(
            _asyncpg_dsn(args.postgres_url, name), Meter(admin, name, None), programme, args
        )
        for workers in args.workers:
            with live_server(url, command=serve_without_access_log(workers)) as server:
                meter = Meter(admin, name, server)
                results += await http_phases(server, meter, programme, args, workers)
        await check_counters(_asyncpg_dsn(args.postgres_url, name), args)
        return results
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def check_counters(dsn: str, args: argparse.Namespace) -> None:
    """Every request booked 2 people: the slots' counters must say so, to the person."""
    connection = await asyncpg.connect(dsn)
    try:
        booked, people, held, holding = await connection.fetchrow(
            "SELECT (SELECT sum(booked) FROM slot), "
            "(SELECT sum(adults + children) FROM booking WHERE status = 'confirmed'), "
            "(SELECT sum(held) FROM slot), "
            "(SELECT sum(adults + children) FROM booking WHERE status = 'pending_payment')"
        )
    finally:
        await connection.close()
    # The floor books on the hot slot and the spread slots; each HTTP server also on the
    # capped farm's hot slot.
    floor = args.warmup + 2 * args.requests
    per_server = args.warmup + 3 * args.requests
    # and ``statements_per_path`` made three bookings and one hold that still runs.
    expected = 2 * (floor + len(args.workers) * per_server + 3)
    if not booked == people == expected:
        raise SystemExit(
            f"counters disagree: slot.booked {booked}, bookings {people}, expected {expected}"
        )
    if not held == holding == 2 * (args.requests + 1):
        raise SystemExit(f"holds disagree: slot.held {held}, holds {holding}")


# --- the report -----------------------------------------------------------------------------


def machine_description() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in _lines("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    memory = next(
        (line.split()[1] for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), "0"
    )
    return (
        f"{os.cpu_count()} CPUs ({model}), {int(memory) // 1024 // 1024} GiB RAM, "
        f"Python {platform.python_version()}"
    )


def load_average() -> str:
    lines = _lines("/proc/loadavg")
    return " ".join(lines[0].split()[:3]) if lines else "?"


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _per_request(seconds: float | None, requests: int) -> str:
    """CPU milliseconds per request, or a dash where there is no such process."""
    return f"{1000 * seconds / requests:7.2f}" if seconds is not None else f"{'-':>7}"


def report(results: list[Result], args: argparse.Namespace, postgres_version: str) -> str:
    by_name = {result.name: result for result in results}
    rows = [
        f"{'scenario':<36} {'requests':>8} {'req/s':>7} {'wall s':>7}   {'CPU ms per request':^23}"
        f" {'busy':>5} {'new pg':>6}",
        f"{'':<36} {'':>8} {'':>7} {'':>7}   {'client':>7} {'server':>7} {'pg':>7} {'%':>5} "
        f"{'conns':>6}",
    ]
    for result in results:
        client, server, postgres = (
            _per_request(seconds, result.requests)
            for seconds in (result.client_cpu, result.server_cpu, result.postgres_cpu)
        )
        busy = 100 * result.machine_busy / (result.seconds * (os.cpu_count() or 1))
        rows.append(
            f"{result.name:<36} {result.requests:>8} {result.rate:>7.0f} {result.seconds:>7.2f}   "
            f"{client} {server} {postgres} {busy:>5.0f} {result.new_sessions:>6}"
        )
    spread = f"{args.spread} slots"

    def ratio(http: str, floor: str) -> float:
        return by_name[http].rate / by_name[floor].rate

    hold_ratio = (
        "a hold/a booking, both through asyncpg on the hot slot (the same one statement): "
        f"{ratio('asyncpg hold, hot slot', 'asyncpg book, hot slot'):.2f}"
    )
    ratios = [
        f"HTTP ({workers} worker{'s' if workers > 1 else ''})/asyncpg: hot slot "
        f"{ratio(f'HTTP book, hot slot, {workers}w', 'asyncpg book, hot slot'):.2f}, {spread} "
        f"{ratio(f'HTTP book, {spread}, {workers}w', f'asyncpg book, {spread}'):.2f}"
        for workers in args.workers
    ]
    problems = [
        f"{r.name}: {dict(r.statuses)}" for r in results if set(r.statuses) - {200, 201, "booked"}
    ]
    return "\n".join(
        [
            *rows,
            "",
            *ratios,
            hold_ratio,
            "",
            f"{args.concurrency} client connections at once (asyncpg: a pool of "
            f"{args.concurrency}); a booking is 1 adult + 1 child.",
            "The load generator runs in this process ('client': bare keep-alive HTTP/1.1, or",
            "asyncpg for the floor) and shares the machine's cores with the server ('server':",
            "`reservations serve --no-access-log --workers N`, Nw, its processes summed) and",
            "PostgreSQL ('pg': the",
            "benchmark database's backends alive at the end of a phase). 'busy %' is the whole",
            "machine; 'new pg conns' are PostgreSQL sessions opened during the phase.",
            "Statements sent per booking by the service (round trips, BEGIN/COMMIT included): "
            + ", ".join(f"{path} {count}" for path, count in ROUND_TRIPS.items()),
            "Unexpected answers: " + ("; ".join(problems) if problems else "none"),
            f"PostgreSQL {postgres_version}; " + machine_description(),
        ]
    )


async def postgres_version(admin_url: str) -> str:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RESERVATIONS_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="an administrative database of the server (a fresh one is created next to it)",
    )
    parser.add_argument("--requests", type=int, default=2000, help="bookings per scenario")
    parser.add_argument("--reads", type=int, default=600, help="availability reads")
    parser.add_argument("--concurrency", type=int, default=16, help="client connections")
    parser.add_argument("--spread", type=int, default=200, help="slots of the spread scenario")
    parser.add_argument("--warmup", type=int, default=100, help="uncounted requests first")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="server processes to try, e.g. 1,2",
    )
    parser.add_argument("--programme-slots", type=int, default=300)
    parser.add_argument("--programme-days", type=int, default=60)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    version = asyncio.run(postgres_version(args.postgres_url))
    started, clock_started = time.perf_counter(), datetime.now().astimezone()
    load_before = load_average()
    results = asyncio.run(run(args))
    print(report(results, args, version))
    print(f"Load average (1, 5, 15 min) before the run: {load_before}; after: {load_average()}.")
    print(
        f"Whole run: {time.perf_counter() - started:.0f} s "
        f"(started {clock_started:%Y-%m-%d %H:%M %Z})."
    )


if __name__ == "__main__":
    main()
