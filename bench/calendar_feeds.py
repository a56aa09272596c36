"""The public calendar feed (``/calendar.ics``) of a 1,000-event programme, on PostgreSQL, one
server worker, in a fresh database it creates, migrates and drops at the end:

  a. a full build: every event changed before each request (each activity's ``updated_at``
     raised, as a catalogue edit does), then one GET, one at a time; beside it, the same 1,000
     events serialised by ``notices.ics`` in this process (icalendar's share of the build);
     then the same after one activity's edit (its events only are serialised again);
  b. a fetch without ``If-None-Match`` while the ETag holds (a new subscriber): the worker's
     built body, against the full build;
  c. a poll with the ETag: ``304 Not Modified``, against the full build;
  d. bookings through the HTTP API, then a poll: the ETag must be the same (the feed shows no
     places) and the poll answered 304.

    .venv/bin/python bench/calendar_feeds.py [--postgres-url URL] [--quick]

The load generator (``booking_throughput``'s bare keep-alive client) shares the machine's cores
with the server and PostgreSQL: the ratios are of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from bench import booking_throughput as machinery  # noqa: E402
from bench.targets import Target, table  # noqa: E402

from reservations.base import clock  # noqa: E402
from reservations.base.infra import db as db_module  # noqa: E402
from reservations.base.infra.db import Database  # noqa: E402
from reservations.base.rules.planning import new_slot  # noqa: E402
from reservations.notices import ics  # noqa: E402
from tests.live_server import live_server  # noqa: E402

FEED = "/calendar.ics"
EVENTS = 1000
PER_DAY = 10
DESCRIPTION = (
    "Une visite de la ferme en famille : la traite des chèvres, les chevreaux, la fabrication "
    "du pélardon et une dégustation au retour. Chaussures de marche conseillées ; le chemin "
    "est en pente. Les chiens restent à la voiture."
)


async def seed(db: Database) -> list[int]:
    """``EVENTS`` slots over the coming days, 24 activities with a season's texts."""
    today = clock.today()
    times = [clock_time(9 + hour, 30 if hour % 2 else 0) for hour in range(PER_DAY)]
    async with db.writing() as session:
        activities = machinery._activities(session, count=24)
        for number, activity in enumerate(activities):
            activity.description = {"fr": DESCRIPTION, "en": "A farm visit."}
            activity.meeting_point = f"Parking de la ferme {number}, Vialas"
            activity.latitude, activity.longitude = 44.33 + number / 1000, 3.89
        await session.flush()
        slots = [
            new_slot(
                activities[number % len(activities)],
                clock.local_datetime(
                    today + timedelta(days=1 + number // PER_DAY), times[number % PER_DAY]
                ),
                capacity=machinery.BIG_CAPACITY,
            )
            for number in range(EVENTS)
        ]
        session.add_all(slots)
    return [slot.id for slot in slots]


def sample_events() -> list[ics.CalendarEvent]:
    """1,000 events like the feed's, for icalendar's share of a build."""
    now = clock.now().replace(microsecond=0)
    return [
        ics.CalendarEvent(
            uid=ics.slot_uid(number),
            title=f"Visite de la ferme {number % 24}",
            description="\n".join(
                [
                    "Se fait à partir de 4 personnes ; décidé le mardi 11 août 2026, 18:00.",
                    DESCRIPTION,
                    f"Organisé par Ferme {number % 24}, Vialas.",
                    "Adulte 8,00 €, enfant 4,00 €",
                    "",
                    f"https://example.org/visits/{number}",
                    "Office de tourisme : +33 4 66 45 81 94",
                ]
            ),
            location=f"Parking de la ferme {number % 24}, Vialas",
            starts_at=now + timedelta(hours=number),
            ends_at=now + timedelta(hours=number, minutes=90),
            stamp=now,
            url=f"https://example.org/visits/{number}",
            status="TENTATIVE",
            sequence=0,
            latitude=44.33,
            longitude=3.89,
        )
        for number in range(EVENTS)
    ]


def icalendar_ms(rounds: int) -> float:
    """CPU ms of ``ics.calendar_feed`` over 1,000 events none of which it has serialised yet."""
    events = sample_events()
    spent = 0.0
    for _ in range(rounds):
        if kept := getattr(ics, "_event_ical", None):  # absent before it was introduced
            kept.cache_clear()
        started = time.process_time()
        ics.calendar_feed(events, name="Visites")
        spent += time.process_time() - started
    return 1000 * spent / rounds


async def measure_http(url: str, admin_dsn: str, slot_ids: list[int], quick: bool) -> list[Target]:
    builds, fetches, bookings = (5, 200, 20) if quick else (40, 1500, 200)
    concurrency = 8
    writer = await asyncpg.connect(admin_dsn)
    with live_server(url, command=machinery.serve_without_access_log(1)) as server:
        connections = [
            await machinery.BareHttpConnection.open(server.base_url) for _ in range(concurrency)
        ]
        one = connections[0]
        try:
            status, body = await one.request("GET", FEED)
            assert status == 200 and body.count(b"BEGIN:VEVENT") == EVENTS, status

            async def rebuilds(change: str) -> tuple[float, float]:
                """Wall and server CPU seconds per GET, each after ``change``."""
                wall = cpu = 0.0
                for _ in range(builds):
                    await writer.execute(change)
                    cpu_before, started = server.cpu_seconds, time.perf_counter()
                    status, body = await one.request("GET", FEED)
                    wall += time.perf_counter() - started
                    cpu += server.cpu_seconds - cpu_before
                    assert status == 200 and body.count(b"BEGIN:VEVENT") == EVENTS, status
                return wall / builds, cpu / builds

            # (a) full builds, one at a time, each after a change to every event; then
            # rebuilds after one activity's edit (its events only are serialised again)
            build_wall, build_cpu = await rebuilds(
                "UPDATE activity SET updated_at = clock_timestamp()"
            )
            build_rate = 1 / build_wall
            one_wall, one_cpu = await rebuilds(
                "UPDATE activity SET updated_at = clock_timestamp() WHERE id = 1"
            )
            etag = one.headers["etag"]

            async def rate(headers: str, expected: int) -> tuple[float, float]:
                pool: asyncio.Queue[machinery.BareHttpConnection] = asyncio.Queue()
                for connection in connections:
                    pool.put_nowait(connection)

                async def call(_number: int) -> int:
                    connection = await pool.get()
                    try:
                        return (await connection.request("GET", FEED, headers=headers))[0]
                    finally:
                        pool.put_nowait(connection)

                cpu_before, started = server.cpu_seconds, time.perf_counter()
                statuses = await machinery.drive(concurrency, fetches, call)
                seconds = time.perf_counter() - started
                assert set(statuses) == {expected}, statuses
                return fetches / seconds, 1000 * (server.cpu_seconds - cpu_before) / fetches

            # (b) the built body again, (c) 304
            cached_rate, cached_cpu = await rate("", 200)
            not_modified_rate, not_modified_cpu = await rate(f"If-None-Match: {etag}\r\n", 304)
            # (d) bookings leave the ETag
            booked = 0
            for number in range(bookings):
                body = json.dumps(
                    machinery.booking_body(slot_ids[number % len(slot_ids)], number)
                ).encode()
                booked += (await one.request("POST", "/api/v1/bookings", body))[0] == 201
            status, _ = await one.request("GET", FEED, headers=f"If-None-Match: {etag}\r\n")
            kept = booked == bookings and status == 304 and one.headers["etag"] == etag
        finally:
            for connection in connections:
                connection.close()
            await writer.close()
    in_process_ms = icalendar_ms(3 if quick else 10)
    return [
        Target(
            f"public feed, full build of {EVENTS} events, server CPU / icalendar alone",
            1000 * build_cpu,
            in_process_ms,
            "CPU ms",
            goal=1.5,
            at_most=True,
            note=f"{1000 * build_wall:.0f} ms wall, {build_rate:.1f} req/s",
        ),
        Target(
            f"public feed, rebuild after one activity's edit / full build ({EVENTS} events)",
            1000 * one_cpu,
            1000 * build_cpu,
            "CPU ms",
            goal=0.5,
            at_most=True,
            note=f"{1000 * one_wall:.0f} ms wall",
        ),
        Target(
            "public feed, ETag holds, no If-None-Match / full build",
            cached_rate,
            build_rate,
            "req/s",
            goal=5.0,
            note=f"server CPU {cached_cpu:.2f} ms per fetch",
        ),
        Target(
            "public feed, 304 / full build",
            not_modified_rate,
            build_rate,
            "req/s",
            goal=10.0,
            note=f"server CPU {not_modified_cpu:.2f} ms per poll",
        ),
        Target(
            f"public feed, ETag unchanged after {bookings} bookings",
            1.0 if kept else 0.0,
            1.0,
            "met",
            goal=1.0,
            note=f"{booked} of {bookings} booked, poll answered {status}",
        ),
    ]


async def measure(options: argparse.Namespace) -> list[Target]:
    name = f"reservations_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(machinery._asyncpg_dsn(options.postgres_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = machinery._sqlalchemy_url(options.postgres_url, name)
        await asyncio.to_thread(db_module.upgrade, url)
        database = Database(url)
        try:
            slot_ids = await seed(database)
        finally:
            await database.dispose()
        dsn = machinery._asyncpg_dsn(options.postgres_url, name)
        return await measure_http(url, dsn, slot_ids, options.quick)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RESERVATIONS_BENCH_POSTGRES_URL", machinery.DEFAULT_ADMIN_URL),
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests: a smoke run")
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    print(table(asyncio.run(measure(options))))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
