"""The at-risk board (``/staff/``) on each database: which slots are at risk (decision within 72
hours, undecided, under their minimum), how many people they miss, in decision order; today's
and tomorrow's visits with their head counts; one SELECT each whatever the number of slots; and
the page as staff read it."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from sqlalchemy import update

from reservations.base import clock
from reservations.base.models import Channel, Provider, Slot, SlotStatus
from reservations.base.reads import board
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from tests.factories import make_activity, make_slot
from tests.test_reports import statements_counter
from tests.test_visitors import text_of

POLICY = BookingPolicy(secret_key="test", max_party_size=15)


async def book(db, slot_id: int, adults: int, children: int = 0):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id, adults, children, "Paul Martin", None, phone="06 12 34 56 78",
        channel=Channel.COUNTER,
    )  # fmt: skip
    return (await booking_service.book(db, request, POLICY, actor="test")).booking


async def slot_deciding_at(  # type: ignore[no-untyped-def]
    db,
    decision_at: datetime,
    *,
    minimum: int,
    booked: int = 0,
    status: SlotStatus = SlotStatus.SCHEDULED,
    phone: str | None = None,
):
    """A slot starting the day after its decision, with ``booked`` people on real bookings."""
    activity = await make_activity(db, capacity=12, min_participants=minimum)
    if phone:
        async with db.writing() as session:
            await session.execute(
                update(Provider).where(Provider.id == activity.provider_id).values(phone=phone)
            )
    slot = await make_slot(
        db,
        activity=activity,
        capacity=12,
        min_participants=minimum,
        starts_at=decision_at + timedelta(hours=16),
    )
    if booked:
        await book(db, slot.id, booked)
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == slot.id).values(decision_at=decision_at, status=status)
        )
    return slot


async def test_the_board_lists_undecided_slots_short_of_their_minimum_by_decision_time(db):
    now = clock.now().replace(microsecond=0)
    later = await slot_deciding_at(db, now + timedelta(hours=50), minimum=4)
    soon = await slot_deciding_at(
        db, now + timedelta(hours=10), minimum=6, booked=2, phone="04 66 00 00 01"
    )
    edge = await slot_deciding_at(db, now + timedelta(hours=72), minimum=1)
    await slot_deciding_at(db, now + timedelta(hours=73), minimum=5)  # beyond the horizon
    await slot_deciding_at(db, now + timedelta(hours=20), minimum=3, booked=3)  # minimum reached
    await slot_deciding_at(db, now - timedelta(hours=1), minimum=5)  # decision time passed
    await slot_deciding_at(
        db, now + timedelta(hours=10), minimum=5, booked=1, status=SlotStatus.CONFIRMED
    )  # decided already
    await slot_deciding_at(db, now + timedelta(hours=10), minimum=5, status=SlotStatus.CANCELLED)

    found = await board.at_risk(db, now=now)

    assert [s.slot_id for s in found] == [soon.id, later.id, edge.id]
    assert [(s.booked, s.min_participants, s.missing) for s in found] == [
        (2, 6, 4),
        (0, 4, 4),
        (0, 1, 1),
    ]
    assert found[0].provider_phone == "04 66 00 00 01" and found[1].provider_phone is None
    assert found[0].decision_at == now + timedelta(hours=10)


async def test_today_and_tomorrow_count_adults_and_children_of_live_bookings(db):
    today = clock.today()
    activity = await make_activity(db, capacity=20)

    def at(days: int, hour: int) -> datetime:
        return clock.local_datetime(today + timedelta(days=days), time(hour, 0))

    morning = await make_slot(db, activity=activity, capacity=20, starts_at=at(1, 9))
    afternoon = await make_slot(db, activity=activity, capacity=20, starts_at=at(1, 15))
    after = await make_slot(db, activity=activity, capacity=20, starts_at=at(2, 10))
    await book(db, morning.id, 2, 3)
    await book(db, morning.id, 1, 0)
    gone = await book(db, morning.id, 4, 4)
    await booking_service.cancel_booking(db, gone.id, actor="staff:x")
    await book(db, after.id, 5)

    visits = await board.visits_between(db, today + timedelta(days=1), today + timedelta(days=1))

    assert [v.slot_id for v in visits] == [morning.id, afternoon.id]
    assert [(v.adults, v.children, v.people, v.bookings) for v in visits] == [
        (3, 3, 6, 2),
        (0, 0, 0, 0),
    ]


async def test_each_list_is_one_select_whatever_the_number_of_slots(db):
    now = clock.now()
    for hours in (5, 6, 7):
        slot = await slot_deciding_at(db, now + timedelta(hours=hours), minimum=4, booked=1)
        await book(db, slot.id, 1, 1)
    seen = statements_counter(db)
    risky = await board.at_risk(db, now=now)
    visits = await board.visits_between(db, clock.today(), clock.today() + timedelta(days=2))
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(risky) == 3 and len(visits) == 3
    assert len(selects) == 2


async def test_the_board_page_shows_what_is_missing_and_whom_to_call(staff, db):
    client, _ = staff
    now = clock.now()
    soon = await slot_deciding_at(
        db, now + timedelta(hours=10), minimum=6, booked=2, phone="04 66 00 00 01"
    )
    later = await slot_deciding_at(db, now + timedelta(hours=30), minimum=3)
    tomorrow = clock.today() + timedelta(days=1)
    visit = await make_slot(db, capacity=9, starts_at=clock.local_datetime(tomorrow, time(14, 0)))
    await book(db, visit.id, 2, 1)

    page = await client.get("/staff/")

    assert page.status_code == 200
    html = page.text
    assert html.index(f'id="at-risk-{soon.id}"') < html.index(f'id="at-risk-{later.id}"')
    row = re.search(rf'id="at-risk-{soon.id}".*?</tr>', html, re.DOTALL)
    assert row is not None
    assert 'href="tel:0466000001"' in row.group(0)
    assert f'href="/staff/slots/{soon.id}"' in row.group(0)
    assert "4 personnes" in text_of(page)  # missing, in French (the default)
    day_row = re.search(rf'id="visit-{visit.id}".*?</tr>', html, re.DOTALL)
    assert day_row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", day_row.group(0), re.DOTALL)
    assert cells[4:6] == ["2", "1"]
    english = await client.get("/staff/?lang=en")
    assert "Today" in english.text and "Tomorrow" in english.text


async def test_an_empty_board_says_so(staff):
    client, _ = staff
    page = await client.get("/staff/?lang=en")
    assert page.status_code == 200
    assert "No visit is at risk in the next 72 hours." in text_of(page)
