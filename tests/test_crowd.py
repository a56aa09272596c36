"""A crowd at the door: many simultaneous requests to a real server process, on each database.

Litestar 2's test client serialises requests, so these tests start ``reservations serve`` on
loopback (tests/live_server.py) and send overlapping requests over many connections. They assert
outcomes only (status counts, problem bodies, the database's counters), never timings.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date

import httpx
import pytest
from sqlalchemy import text

from reservations.base import clock
from tests.factories import fetch_slot, make_slot
from tests.live_server import LiveServer, live_server

PROBLEM = "application/problem+json"
CAPACITY = 20
CROWD = 220


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url) as running:
        yield running
        output = running.output()
    assert "Traceback" not in output, output


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """Enough connections for the whole crowd at once; the timeout only guards against a hang."""
    limits = httpx.Limits(max_connections=CROWD + 30, max_keepalive_connections=CROWD + 30)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=120) as client:
        yield client


async def open_connections(http: httpx.AsyncClient, count: int) -> None:
    """Open ``count`` keep-alive connections first, so the crowd's requests leave together
    instead of queueing behind TCP handshakes."""
    answers = await asyncio.gather(*(http.get("/api/v1/nothing-here") for _ in range(count)))
    assert {answer.status_code for answer in answers} == {404}


async def post_booking(
    http: httpx.AsyncClient, body: dict[str, object], key: str
) -> httpx.Response:
    """POST a booking as a careful client does: with an Idempotency-Key, so that a connection
    the loaded server dropped (a keep-alive closed as the request left) can be retried without
    booking twice; the places counted below are then still exact."""
    for _attempt in range(3):
        try:
            return await http.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": key})
        except (httpx.ReadError, httpx.RemoteProtocolError):
            continue
    raise AssertionError(f"the server dropped booking {key} three times")


async def all_at_once(calls: list[Callable[[], Awaitable[httpx.Response]]]) -> list[httpx.Response]:
    """Run every call concurrently, released together by one event."""
    go = asyncio.Event()

    async def when_released(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        await go.wait()
        return await call()

    tasks = [asyncio.create_task(when_released(call)) for call in calls]
    await asyncio.sleep(0)  # every task is now waiting on the event
    go.set()
    return await asyncio.gather(*tasks)


def booking_body(
    slot_id: int, number: int, adults: int = 1, children: int = 0
) -> dict[str, object]:
    return {
        "slot_id": slot_id,
        "adults": adults,
        "children": children,
        "name": f"Visitor {number}",
        "email": f"visitor{number}@example.org",
    }


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status and body["code"] == code, body
    return body


async def counted_bookings(db, slot_id: int) -> dict[str, tuple[int, int]]:
    """(bookings, people) per booking status on a slot, counted in SQL by the test itself."""
    async with db.reading() as session:
        rows = await session.execute(
            text(
                "SELECT status, count(*), coalesce(sum(adults + children), 0) FROM booking "
                "WHERE slot_id = :slot GROUP BY status"
            ),
            {"slot": slot_id},
        )
        return {status: (bookings, people) for status, bookings, people in rows}


async def audit_actions(db, slot_id: int) -> Counter[str]:
    async with db.reading() as session:
        rows = await session.execute(
            text("SELECT action FROM audit_entry WHERE slot_id = :slot"), {"slot": slot_id}
        )
        return Counter(action for (action,) in rows)


async def remaining_shown(http: httpx.AsyncClient, slot_id: int, day: date) -> dict:
    day_param = {"from": day.isoformat(), "to": day.isoformat()}
    listed = (await http.get("/api/v1/availability", params=day_param)).json()
    (shown,) = [slot for slot in listed if slot["id"] == slot_id]
    return shown


async def test_crowd_books_exactly_the_capacity(db, server, http):
    slot = await make_slot(db, capacity=CAPACITY)
    await open_connections(http, CROWD)

    answers = await all_at_once(
        [
            lambda n=n: post_booking(http, booking_body(slot.id, n), key=f"crowd-{slot.id}-{n}")
            for n in range(CROWD)
        ]
    )

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: CAPACITY, 409: CROWD - CAPACITY}, statuses
    booked = [answer.json() for answer in answers if answer.status_code == 201]
    assert all(booking["status"] == "confirmed" for booking in booked)
    assert len({booking["reference"] for booking in booked}) == CAPACITY
    for refused in (answer for answer in answers if answer.status_code == 409):
        body = assert_problem(refused, 409, "not_enough_places")
        assert body["remaining"] == 0 and body["requested"] == 1, body

    shown = await remaining_shown(http, slot.id, clock.local_date(slot.starts_at))
    assert shown["remaining"] == 0 and shown["bookable"] is False
    assert (await fetch_slot(db, slot.id)).booked == CAPACITY
    assert await counted_bookings(db, slot.id) == {"confirmed": (CAPACITY, CAPACITY)}
    assert (await audit_actions(db, slot.id)) == {"booking.created": CAPACITY}


async def test_crowd_of_cancellations_gives_places_back_once(db, server, http):
    parties = [(1, 1)] * 5 + [(1, 0)] * 10  # 15 bookings, 20 people: the slot is full
    slot = await make_slot(db, capacity=sum(a + c for a, c in parties))
    created = [
        await http.post("/api/v1/bookings", json=booking_body(slot.id, n, adults, children))
        for n, (adults, children) in enumerate(parties)
    ]
    assert [answer.status_code for answer in created] == [201] * len(parties)
    assert (await fetch_slot(db, slot.id)).booked == slot.capacity
    tokens = [answer.json()["manage_token"] for answer in created]
    await open_connections(http, 2 * len(tokens))

    twice = [token for token in tokens for _ in range(2)]
    answers = await all_at_once(
        [lambda token=token: http.delete(f"/api/v1/bookings/{token}") for token in twice]
    )

    by_token: dict[str, list[int]] = {token: [] for token in tokens}
    for token, answer in zip(twice, answers, strict=True):
        by_token[token].append(answer.status_code)
        if answer.status_code == 200:
            assert answer.json()["status"] == "cancelled"
        else:
            assert_problem(answer, 409, "already_cancelled")
    assert all(sorted(codes) == [200, 409] for codes in by_token.values()), by_token

    assert (await fetch_slot(db, slot.id)).booked == 0
    assert await counted_bookings(db, slot.id) == {"cancelled": (len(parties), slot.capacity)}
    actions = await audit_actions(db, slot.id)
    assert actions == {"booking.created": len(parties), "booking.cancelled": len(parties)}
    shown = await remaining_shown(http, slot.id, clock.local_date(slot.starts_at))
    assert shown["remaining"] == slot.capacity and shown["bookable"] is True
