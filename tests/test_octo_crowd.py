"""Resellers (the OCTO API, ``/octo``) and web visitors racing for the same places, on each
database: the places are sold once whatever the channel, a lapsed hold frees its places, and one
reseller's key reaches none of another's bookings nor spends another's rate limit.

The crowd runs against a real server process on loopback (tests/live_server.py: Litestar 2's
test client serialises requests); hold expiry is tested at the service level with pinned clocks
(the HTTP API reads the real one); isolation and the per-key rate limit use the in-process
client. Outcomes only (status counts, bodies, the database's rows), never timings.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from reservations.app import create_app
from reservations.base import clock
from reservations.base.errors import HoldEnded, NotEnoughPlaces
from reservations.base.infra.db import Database
from reservations.base.models import HOLD_STATUSES, AuditEntry, Booking, BookingStatus, Slot
from reservations.base.reads import reseller_bookings as reseller_reads
from reservations.base.rules import booking
from reservations.base.rules import reseller_bookings as reseller_rules
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest
from reservations.base.rules.reseller_bookings import ADULT, Guest, Reservation, UnitItem
from reservations.base.rules.resellers import ResellerRef, add_reseller
from reservations.settings import Settings
from tests.factories import fetch_slot, make_slot
from tests.live_server import LiveServer, live_server
from tests.test_crowd import all_at_once, assert_problem, open_connections, post_booking

CAPACITY = 20
RESELLERS = 3
#: Each reseller's reservations (1, 2 or 3 adults in turn), each confirmed once held.
SALES_PER_RESELLER = 30
#: Web visitors: two parties of one for each party of two.
WEB_VISITORS = 60
CROWD = RESELLERS * SALES_PER_RESELLER + WEB_VISITORS
#: A hold the crowd's resellers ask for: far longer than the test, so none lapses during it.
CROWD_HOLD_MINUTES = 30
POLICY = BookingPolicy(secret_key="t")


# --- helpers ------------------------------------------------------------------------------------


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def octo_reservation(
    slot: Slot, booking_uuid: str, adults: int, minutes: int = CROWD_HOLD_MINUTES, **more: Any
) -> dict[str, Any]:
    return {
        "uuid": booking_uuid,
        "productId": str(slot.activity_id),
        "optionId": "DEFAULT",
        "availabilityId": clock.local_stamp(slot.starts_at),
        "unitItems": [{"unitId": "adult"} for _ in range(adults)],
        "expirationMinutes": minutes,
        **more,
    }


def web_booking(slot_id: int, number: int, adults: int, children: int) -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "adults": adults,
        "children": children,
        "name": f"Visitor {number}",
        "email": f"visitor{number}@example.org",
        "locale": "fr",
    }


def assert_octo_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["errorMessage"], body
    assert "Traceback" not in response.text
    return body


async def live_people(db: Database, slot_id: int, now: datetime) -> tuple[int, int]:
    """(people on confirmed bookings, people on holds still running at ``now``) of a slot,
    counted from its bookings by the test itself."""
    async with db.reading() as session:
        rows = (
            await session.execute(
                select(
                    Booking.status, Booking.hold_expires_at, Booking.adults, Booking.children
                ).where(Booking.slot_id == slot_id)
            )
        ).all()
    booked = sum(r.adults + r.children for r in rows if r.status == BookingStatus.CONFIRMED)
    held = sum(
        r.adults + r.children
        for r in rows
        if r.status in HOLD_STATUSES and r.hold_expires_at is not None and r.hold_expires_at > now
    )
    return booked, held


async def statuses_on(db: Database, slot_id: int) -> Counter[str]:
    async with db.reading() as session:
        rows = await session.execute(select(Booking.status).where(Booking.slot_id == slot_id))
        return Counter(str(status) for (status,) in rows)


async def audit_actions(db: Database, slot_id: int) -> Counter[str]:
    async with db.reading() as session:
        rows = await session.execute(select(AuditEntry.action).where(AuditEntry.slot_id == slot_id))
        return Counter(action for (action,) in rows)


async def web_places_left(http: httpx.AsyncClient, slot: Slot) -> dict[str, Any]:
    day = clock.local_date(slot.starts_at).isoformat()
    listed = (await http.get("/api/v1/availability", params={"from": day, "to": day})).json()
    (shown,) = [item for item in listed if item["id"] == slot.id]
    return shown


async def octo_availability(http: Any, key: str, slot: Slot) -> dict[str, Any]:
    body = {
        "productId": str(slot.activity_id),
        "optionId": "DEFAULT",
        "localDate": clock.local_date(slot.starts_at).isoformat(),
    }
    answer = await http.post("/octo/availability", json=body, headers=auth(key))
    assert answer.status_code == 200, answer.text
    (shown,) = [item for item in answer.json() if item["id"] == clock.local_stamp(slot.starts_at)]
    return shown


# --- 1. a crowd of resellers and web visitors ------------------------------------------------


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    env = {
        "RESERVATIONS_BOOKING_RATE_LIMIT": "0",
        "RESERVATIONS_RESELLER_RATE_LIMIT": "0",
        "RESERVATIONS_OCTO_SANDBOX_DIR": str(tmp_path / "octo-sandbox"),
    }
    with live_server(database_url, env=env) as running:
        yield running
        output = running.output()
    assert "Traceback" not in output, output


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """Enough connections for the whole crowd at once; the timeout only guards against a hang."""
    limits = httpx.Limits(max_connections=CROWD + 30, max_keepalive_connections=CROWD + 30)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=120) as client:
        yield client


async def sent(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], key: str
) -> httpx.Response:
    """POST to the OCTO API as a careful reseller does: a connection the loaded server dropped
    is retried with the same body (the booking's uuid makes the retry the same request)."""
    for _attempt in range(3):
        try:
            return await http.post(path, json=body, headers=auth(key))
        except (httpx.ReadError, httpx.RemoteProtocolError):
            continue
    raise AssertionError(f"the server dropped {path} three times")


async def octo_sale(
    http: httpx.AsyncClient, key: str, slot: Slot, adults: int
) -> tuple[httpx.Response, httpx.Response | None]:
    """A reseller holds ``adults`` places and, once held, confirms them."""
    booking_uuid = str(uuid.uuid4())
    held = await sent(http, "/octo/bookings", octo_reservation(slot, booking_uuid, adults), key)
    if held.status_code != 200:
        return held, None
    contact = {"contact": {"fullName": f"Guest {booking_uuid[:8]}"}}
    confirmed = await sent(http, f"/octo/bookings/{booking_uuid}/confirm", contact, key)
    return held, confirmed


async def test_resellers_and_web_visitors_sell_exactly_the_capacity(db, server, http):
    slot = await make_slot(db, capacity=CAPACITY)
    resellers = [await add_reseller(db, f"Reseller {n}") for n in range(RESELLERS)]
    await open_connections(http, CROWD)

    # Parties of one are more than the capacity (30 + 40 > 20): one of them is refused only
    # once no place is left, so the places sold are exactly the capacity. The calls leave
    # interleaved (one sale of each reseller, then two visitors, in turn), so that every channel
    # is in the first wave and none fills the slot before the others are there.
    calls: list[Callable[[], Awaitable[Any]]] = []
    who: list[tuple[ResellerRef | None, int, int]] = []  # (reseller or None: web, adults, kids)
    for n in range(SALES_PER_RESELLER):
        for reseller, key in resellers:
            adults = n % 3 + 1
            calls.append(lambda key=key, adults=adults: octo_sale(http, key, slot, adults))
            who.append((reseller, adults, 0))
        for number in range(2 * n, 2 * n + 2):
            children = 1 if number % 3 == 2 else 0
            body = web_booking(slot.id, number, 1, children)
            idempotency_key = f"octo-crowd-{slot.id}-{number}"
            calls.append(lambda body=body, k=idempotency_key: post_booking(http, body, key=k))
            who.append((None, 1, children))
    assert len(calls) == CROWD
    answers = await all_at_once(calls)  # type: ignore[arg-type]

    web_statuses: Counter[int] = Counter()
    web_people, octo_people, octo_sold = 0, 0, Counter[int]()
    held_uuids = set()
    for answer, (reseller, adults, children) in zip(answers, who, strict=True):
        if reseller is None:
            # A web visitor: 201, or a proper 409 problem, nothing else.
            web_statuses[answer.status_code] += 1
            if answer.status_code == 201:
                created = answer.json()
                assert created["status"] == "confirmed", created
                assert (created["adults"], created["children"]) == (adults, children)
                web_people += adults + children
            else:
                refused = assert_problem(answer, 409, "not_enough_places")
                assert refused["requested"] == adults + children, refused
                assert refused["remaining"] < adults + children, refused
            continue
        # A reseller: 200 ON_HOLD then 200 CONFIRMED, or 400 UNPROCESSABLE_ENTITY, nothing else.
        held, confirmed = answer
        if held.status_code != 200:
            assert_octo_error(held, 400, "UNPROCESSABLE_ENTITY")
            assert confirmed is None
            continue
        hold = held.json()
        assert hold["status"] == "ON_HOLD" and hold["utcExpiresAt"], hold
        assert [item["unitId"] for item in hold["unitItems"]] == ["adult"] * adults
        assert confirmed is not None and confirmed.status_code == 200, confirmed.text
        sold = confirmed.json()
        assert sold["status"] == "CONFIRMED" and sold["uuid"] == hold["uuid"], sold
        assert sold["supplierReference"] == hold["supplierReference"]
        held_uuids.add(hold["uuid"])
        octo_people += adults
        octo_sold[reseller.id] += 1

    assert web_people + octo_people == CAPACITY, (web_people, octo_people)
    assert len(held_uuids) == sum(octo_sold.values())

    # The database: every sale a confirmed booking, of the reseller whose key made it, and the
    # slot's counters the sum of its live bookings.
    web_sold = web_statuses[201]
    assert await statuses_on(db, slot.id) == {"confirmed": web_sold + sum(octo_sold.values())}
    async with db.reading() as session:
        per_reseller = dict(
            (
                await session.execute(
                    select(Booking.reseller_id, func.count())
                    .where(Booking.slot_id == slot.id, Booking.reseller_id.is_not(None))
                    .group_by(Booking.reseller_id)
                )
            ).all()
        )
    assert per_reseller == {reseller: count for reseller, count in octo_sold.items() if count}
    stored = await fetch_slot(db, slot.id)
    assert (stored.booked, stored.held) == await live_people(db, slot.id, clock.now())
    assert (stored.booked, stored.held) == (CAPACITY, 0)

    # What both channels show afterwards: nothing left, the same nothing.
    shown = await web_places_left(http, slot)
    octo_shown = await octo_availability(http, resellers[0][1], slot)
    assert octo_shown["vacancies"] == shown["remaining"] == 0, (octo_shown, shown)
    assert octo_shown["status"] == "SOLD_OUT" and octo_shown["capacity"] == CAPACITY
    assert shown["bookable"] is False


# --- 2. a lapsed hold frees its places -------------------------------------------------------


def hold_for(slot_id: int, adults: int, minutes: int = 1) -> Reservation:
    return Reservation(
        uuid=str(uuid.uuid4()),
        slot_id=slot_id,
        units=tuple(UnitItem(ADULT) for _ in range(adults)),
        hold_minutes=minutes,
    )


def visitor(slot_id: int, number: int, adults: int = 1) -> BookingRequest:
    return BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=0,
        name=f"Visitor {number}",
        email=f"visitor{number}@example.org",
        locale="fr",
    )


async def test_a_lapsed_reseller_hold_frees_its_places_for_a_visitor(db):
    slot = await make_slot(db, capacity=6)
    reseller, _key = await add_reseller(db, "Holder")
    start = clock.now().replace(microsecond=0)
    hold = hold_for(slot.id, 6)
    held = await reseller_rules.reserve(db, reseller, hold, POLICY, now=start)
    assert held.booking.status == BookingStatus.ON_HOLD
    assert held.booking.hold_expires_at == start + timedelta(minutes=1)

    # While the hold runs the slot is full, for a visitor as for the reseller's own retry.
    with pytest.raises(NotEnoughPlaces):
        await booking.book(
            db, visitor(slot.id, 1), POLICY, actor="api", now=start + timedelta(seconds=59)
        )
    again = await reseller_rules.reserve(
        db, reseller, hold, POLICY, now=start + timedelta(seconds=30)
    )
    assert again.booking.id == held.booking.id
    stored = await fetch_slot(db, slot.id)
    assert (stored.booked, stored.held) == (0, 6)

    later = start + timedelta(minutes=1, seconds=1)
    came = await booking.book(db, visitor(slot.id, 2, adults=6), POLICY, actor="api", now=later)
    assert came.booking.status == BookingStatus.CONFIRMED and came.booking.people == 6

    found = await reseller_reads.one(db, reseller, hold.uuid)
    assert found is not None and found.status == BookingStatus.EXPIRED
    stored = await fetch_slot(db, slot.id)
    assert (stored.booked, stored.held) == (6, 0) == await live_people(db, slot.id, later)
    assert await audit_actions(db, slot.id) == {
        "booking.created": 2,
        "booking.expired": 1,
    }
    # The reseller cannot confirm the hold it let lapse: its places are sold.
    with pytest.raises(HoldEnded):
        await reseller_rules.confirm(db, reseller, hold.uuid, Guest(full_name="Late"), now=later)
    assert await statuses_on(db, slot.id) == {"expired": 1, "confirmed": 1}


async def test_after_a_lapsed_hold_a_crowd_of_takers_gets_exactly_the_capacity(db):
    capacity, takers = 10, 40
    slot = await make_slot(db, capacity=capacity)
    holder, _key = await add_reseller(db, "Holder")
    others = [(await add_reseller(db, f"Taker {n}"))[0] for n in range(2)]
    start = clock.now().replace(microsecond=0)
    hold = hold_for(slot.id, capacity)
    await reseller_rules.reserve(db, holder, hold, POLICY, now=start)
    later = start + timedelta(minutes=1, seconds=1)

    async def take(number: int) -> tuple[str, int, BookingReceipt | NotEnoughPlaces]:
        """Half the takers visitors, half resellers' holds; parties of 1 and 2 in turn (20
        parties of one: more than the capacity, so the last places cannot stay unsold)."""
        people = 1 + number % 2
        try:
            if number % 4 < 2:
                receipt = await booking.book(
                    db, visitor(slot.id, number, people), POLICY, actor="api", now=later
                )
                return "web", people, receipt
            reseller = others[number % 2]
            reservation = hold_for(slot.id, people, minutes=CROWD_HOLD_MINUTES)
            receipt = await reseller_rules.reserve(db, reseller, reservation, POLICY, now=later)
            return "reseller", people, receipt
        except NotEnoughPlaces as refused:
            return "refused", people, refused

    results = await asyncio.gather(*(take(n) for n in range(takers)))

    taken = {"web": 0, "reseller": 0}
    for channel, people, outcome in results:
        if channel == "refused":
            continue
        assert isinstance(outcome, BookingReceipt)
        assert outcome.booking.people == people
        expected = BookingStatus.CONFIRMED if channel == "web" else BookingStatus.ON_HOLD
        assert outcome.booking.status == expected
        taken[channel] += people
    assert taken["web"] + taken["reseller"] == capacity, taken
    assert any(channel == "refused" for channel, _people, _outcome in results)

    found = await reseller_reads.one(db, holder, hold.uuid)
    assert found is not None and found.status == BookingStatus.EXPIRED
    stored = await fetch_slot(db, slot.id)
    assert (stored.booked, stored.held) == (taken["web"], taken["reseller"])
    assert (stored.booked, stored.held) == await live_people(db, slot.id, later)
    assert (await audit_actions(db, slot.id))["booking.expired"] == 1


# --- 3. one reseller's key reaches no other reseller's booking -------------------------------


@asynccontextmanager
async def octo_client(
    db: Database, tmp_path: Path, **settings: Any
) -> AsyncIterator[AsyncTestClient]:
    options: dict[str, Any] = {"booking_rate_limit": 0, "reseller_rate_limit": 0, **settings}
    app = create_app(
        Settings(
            database_url=db.url,
            secret_key="test",
            octo_sandbox_dir=str(tmp_path / "octo-sandbox"),
            **options,
        ),
        database=db,
    )
    async with AsyncTestClient(app=app) as client:
        yield client


async def booking_row(db: Database, booking_id: int) -> dict[str, Any]:
    async with db.reading() as session:
        row = (
            await session.execute(
                select(
                    Booking.status,
                    Booking.adults,
                    Booking.children,
                    Booking.name,
                    Booking.email,
                    Booking.notes,
                    Booking.hold_expires_at,
                    Booking.cancelled_at,
                    Booking.reseller_id,
                    Booking.reseller_reference,
                    Booking.reseller_data,
                ).where(Booking.id == booking_id)
            )
        ).one()
    return dict(row._mapping)


async def test_a_reseller_reaches_no_other_resellers_booking(db, tmp_path):
    slot = await make_slot(db, capacity=10)
    _seller, seller_key = await add_reseller(db, "Seller")
    _other, other_key = await add_reseller(db, "Other")
    day = clock.local_date(slot.starts_at).isoformat()
    booking_uuid = str(uuid.uuid4())
    body = octo_reservation(slot, booking_uuid, 2, resellerReference="SELLER-1")

    async with octo_client(db, tmp_path) as client:
        held = await client.post("/octo/bookings", json=body, headers=auth(seller_key))
        assert held.status_code == 200, held.text
        hold = held.json()
        assert hold["status"] == "ON_HOLD"
        async with db.reading() as session:
            booking_id = await session.scalar(
                select(Booking.id).where(Booking.reference == hold["supplierReference"])
            )
        row_before = await booking_row(db, booking_id)
        slot_before = await fetch_slot(db, slot.id)
        audit_before = await audit_actions(db, slot.id)

        # Without a key, or with one that is nobody's: nothing at all.
        path = f"/octo/bookings/{booking_uuid}"
        assert_octo_error(await client.get(path), 401, "UNAUTHORIZED")
        assert_octo_error(await client.get(path, headers=auth("rsv_live_nobody")), 403, "FORBIDDEN")

        # The other reseller's key: as if there were no such booking, whatever it asks.
        other = auth(other_key)
        attempts = [
            client.get(path, headers=other),
            client.post(f"{path}/confirm", json={"contact": {"fullName": "M"}}, headers=other),
            client.post(f"{path}/extend", json={"expirationMinutes": 600}, headers=other),
            client.post(f"{path}/cancel", json={"reason": "mine now"}, headers=other),
            client.patch(
                path, json={"notes": "mine now", "contact": {"fullName": "M"}}, headers=other
            ),
        ]
        for attempt in attempts:
            refused = assert_octo_error(await attempt, 400, "INVALID_BOOKING_UUID")
            assert refused["uuid"] == booking_uuid, refused
        for query in (
            {"localDate": day},
            {"localDateStart": day, "localDateEnd": day},
            {"resellerReference": "SELLER-1"},
            {"supplierReference": hold["supplierReference"]},
        ):
            listed = await client.get("/octo/bookings", params=query, headers=other)
            assert listed.status_code == 200 and listed.json() == [], (query, listed.text)
            mine = await client.get("/octo/bookings", params=query, headers=auth(seller_key))
            assert [item["uuid"] for item in mine.json()] == [booking_uuid], (query, mine.text)

        # Nothing changed: not the booking, not its slot, not the audit trail.
        assert await booking_row(db, booking_id) == row_before
        slot_after = await fetch_slot(db, slot.id)
        assert (slot_after.booked, slot_after.held) == (slot_before.booked, slot_before.held)
        assert await audit_actions(db, slot.id) == audit_before
        still = await client.get(path, headers=auth(seller_key))
        assert still.json()["status"] == "ON_HOLD"
        assert still.json()["utcExpiresAt"] == hold["utcExpiresAt"]
        assert still.json()["notes"] == hold["notes"] and still.json()["contact"] == hold["contact"]

        # Its own reseller still confirms it; the other's key still cannot cancel it then.
        contact = {"contact": {"fullName": "Anna Seller"}}
        confirmed = await client.post(f"{path}/confirm", json=contact, headers=auth(seller_key))
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "CONFIRMED"
        refused = await client.post(f"{path}/cancel", json={}, headers=other)
        assert_octo_error(refused, 400, "INVALID_BOOKING_UUID")
        assert (await booking_row(db, booking_id))["status"] == BookingStatus.CONFIRMED

        # The same uuid from the other reseller is a booking of its own, not a replay of the
        # first reseller's answer.
        its_own = await client.post("/octo/bookings", json=body, headers=other)
        assert its_own.status_code == 200, its_own.text
        assert its_own.json()["supplierReference"] != hold["supplierReference"]
        assert its_own.json()["status"] == "ON_HOLD"
        reread = await client.get(path, headers=auth(seller_key))
        assert reread.json()["status"] == "CONFIRMED"
        assert reread.json()["contact"]["fullName"] == "Anna Seller"
    stored = await fetch_slot(db, slot.id)
    assert (stored.booked, stored.held) == (2, 2) == await live_people(db, slot.id, clock.now())


# --- 4. the rate limit is per key ------------------------------------------------------------


async def test_the_rate_limit_counts_each_key_on_its_own(db, tmp_path):
    limit = 5
    slot = await make_slot(db, capacity=10)
    _first, first_key = await add_reseller(db, "First")
    _second, second_key = await add_reseller(db, "Second")

    async with octo_client(db, tmp_path, reseller_rate_limit=limit) as client:
        within = [await client.get("/octo/products", headers=auth(first_key)) for _ in range(limit)]
        assert [answer.status_code for answer in within] == [200] * limit
        over = await client.get("/octo/products", headers=auth(first_key))
        assert_octo_error(over, 429, "TOO_MANY_REQUESTS")
        # Every OCTO endpoint is in the key's bucket.
        body = octo_reservation(slot, str(uuid.uuid4()), 1)
        held = await client.post("/octo/bookings", json=body, headers=auth(first_key))
        assert_octo_error(held, 429, "TOO_MANY_REQUESTS")

        # The second key, from the same address, has its own minute.
        others = [
            await client.get("/octo/products", headers=auth(second_key)) for _ in range(limit - 1)
        ]
        assert [answer.status_code for answer in others] == [200] * (limit - 1)
        held = await client.post("/octo/bookings", json=body, headers=auth(second_key))
        assert held.status_code == 200 and held.json()["status"] == "ON_HOLD", held.text
        assert_octo_error(
            await client.get("/octo/products", headers=auth(second_key)), 429, "TOO_MANY_REQUESTS"
        )
        # Web visitors are not resellers: their bookings are not in any key's bucket.
        visit = web_booking(slot.id, 1, 1, 0)
        assert (await client.post("/api/v1/bookings", json=visit)).status_code == 201

    stored = await fetch_slot(db, slot.id)
    assert (stored.booked, stored.held) == (1, 1)


async def test_a_key_however_spelt_is_one_bucket(db, tmp_path):
    """The key the guard accepts is the key counted: its header spelt another way (the scheme's
    case, spaces around the key) is not a fresh minute; a header that is no bearer key at all
    is counted by address, not one bucket per made-up header."""
    limit = 5
    _reseller, key = await add_reseller(db, "Spelling")
    spellings = [
        f"Bearer {key}",
        f"bearer {key}",
        f"BEARER {key}",
        f"Bearer  {key}",
        f"Bearer {key} ",
    ]
    assert len(spellings) == limit

    async with octo_client(db, tmp_path, reseller_rate_limit=limit) as client:
        within = [
            await client.get("/octo/products", headers={"Authorization": spelt})
            for spelt in spellings
        ]
        assert [answer.status_code for answer in within] == [200] * limit
        for spelt in spellings:
            over = await client.get("/octo/products", headers={"Authorization": spelt})
            assert_octo_error(over, 429, "TOO_MANY_REQUESTS")

    async with octo_client(db, tmp_path, reseller_rate_limit=limit) as client:
        made_up = [
            await client.get("/octo/products", headers={"Authorization": f"Basic guess{n}"})
            for n in range(limit + 1)
        ]
        assert [answer.status_code for answer in made_up] == [401] * limit + [429]


async def test_guessing_keys_is_limited_by_address(db, tmp_path):
    """Made-up bearer keys are no one's bucket: each guess counts for the address it comes
    from, so guessing stops at the limit while a real key from the same address still works."""
    limit = 4
    _reseller, key = await add_reseller(db, "Honest")
    async with octo_client(db, tmp_path, reseller_rate_limit=limit) as client:
        guesses = [
            await client.get("/octo/products", headers={"Authorization": f"Bearer rsv_live_{n}"})
            for n in range(limit + 2)
        ]
        assert [answer.status_code for answer in guesses] == [403] * limit + [429, 429]
        honest = await client.get("/octo/products", headers={"Authorization": f"Bearer {key}"})
        assert honest.status_code == 200
