"""Bookings at the counter and on the phone (``/staff/bookings``) on each database: finding a
booking, choosing a slot, booking through the same engine as the site (a double click books
once, refusals keep the form), the confirmation in the visitor's language, and a booking's page
with its cancel and move forms: the move emails the new date with its calendar file, freed
places go to the waiting list, every change is audited with the staff member's name."""

from __future__ import annotations

import asyncio
import re
from datetime import time, timedelta

import httpx
from babel.dates import format_date
from icalendar import Calendar
from sqlalchemy import func, select

from reservations.base import clock
from reservations.base.models import (
    AuditEntry,
    Booking,
    BookingStatus,
    Channel,
    OutboxMessage,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules import waitlist
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.notices import ics
from reservations.staff.booking_forms import idempotency_key
from tests.factories import fetch_slot, make_activity, make_slot
from tests.live_server import live_server
from tests.staff_support import PASSWORD, csrf, make_staff
from tests.test_crowd import all_at_once
from tests.test_visitors import MAX_PARTY, text_of

POLICY = BookingPolicy(secret_key="test", max_party_size=MAX_PARTY)


def days_ahead(days: int, hour: int = 10):  # type: ignore[no-untyped-def]
    return clock.local_datetime(clock.today() + timedelta(days=days), time(hour, 0))


async def book(db, slot_id: int, adults: int = 2, children: int = 0, **fields: str):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name=fields.get("name", "Anne Martin"),
        email=fields.get("email"),
        phone=fields.get("phone", "06 00 00 00 00"),
        locale=fields.get("locale", "fr"),
        channel=Channel.WEB,
    )
    return (await booking_service.book(db, request, POLICY, actor="visitor")).booking


async def bookings_of(db, slot_id: int) -> list[Booking]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(Booking).where(Booking.slot_id == slot_id).order_by(Booking.id)
            )
        )


async def outbox(db) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, name
    return found.group(1)


FAMILY = {
    "channel": "phone",
    "adults": "2",
    "children": "2",
    "name": "Familie Schmidt",
    "phone": "+49 170 1234567",
    "email": "schmidt@example.de",
    "locale": "de",
    "notes": "Kinderwagen",
}


async def open_form(client, slot_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = await client.get(f"/staff/bookings/new?slot_id={slot_id}&lang=en")
    assert page.status_code == 200
    return {
        "_csrf_token": csrf(client),
        "slot_id": hidden(page.text, "slot_id"),
        "form_key": hidden(page.text, "form_key"),
    }


# --- finding bookings -----------------------------------------------------------------------


async def test_search_finds_by_reference_name_email_or_phone(staff, db):
    client, _ = staff
    slot = await make_slot(db, capacity=20, starts_at=days_ahead(4))
    anne = await book(db, slot.id, name="Anne Martin", email="anne@example.org")
    paul = await book(db, slot.id, name="Paul Durand", phone="06 12 34 56 78")
    percent = await book(db, slot.id, name="Cent%Pour", phone="04 66 11 22 33")
    abroad = await book(db, slot.id, name="Lea Roux", phone="+33 6 98 76 54 32")

    async def found(query: str) -> set[str]:
        page = await client.get("/staff/bookings", params={"q": query, "lang": "en"})
        assert page.status_code == 200
        return set(re.findall(r'id="booking-(\d+)"', page.text))

    assert await found(anne.reference.lower()) == {str(anne.id)}
    assert await found("martin") == {str(anne.id)}
    assert await found("ANNE@EXAMPLE") == {str(anne.id)}
    assert await found("0612345678") == {str(paul.id)}
    assert await found("06.12.34.56") == {str(paul.id)}
    assert await found("%") == {str(percent.id)}  # typed text, not a pattern
    assert await found(anne.reference.replace("-", "")) == {str(anne.id)}  # read out, no dash
    assert await found("0698765432") == {str(abroad.id)}  # national form of +33 6 98 76 54 32
    assert await found("nobody") == set()
    empty = await client.get("/staff/bookings", params={"q": "nobody", "lang": "en"})
    assert "No booking matches “nobody”." in text_of(empty)


# --- choosing a slot and booking ----------------------------------------------------------------


async def test_the_picker_lists_the_open_slots_of_a_day(staff, db):
    client, _ = staff
    farm = await make_activity(db, capacity=6)
    other = await make_activity(db, capacity=6)
    day = clock.today() + timedelta(days=6)
    morning = await make_slot(db, activity=farm, capacity=6, starts_at=days_ahead(6, 9))
    await make_slot(db, activity=other, capacity=6, starts_at=days_ahead(6, 14))
    await make_slot(db, activity=farm, capacity=6, starts_at=days_ahead(7, 9))  # another day

    page = await client.get(f"/staff/bookings/new?day={day.isoformat()}&lang=en")
    assert len(re.findall(r'id="slot-\d+"', page.text)) == 2
    assert f'href="/staff/bookings/new?slot_id={morning.id}"' in page.text
    one = await client.get(f"/staff/bookings/new?day={day.isoformat()}&activity_id={farm.id}")
    assert re.findall(r'id="slot-(\d+)"', one.text) == [str(morning.id)]
    wrong = await client.get("/staff/bookings/new?day=31/02&lang=en")
    assert wrong.status_code == 422
    assert "Please enter a date (day, month and year)." in text_of(wrong)


async def test_a_phone_booking_is_made_audited_and_confirmed_in_the_visitors_language(staff, db):
    client, account = staff
    slot = await make_slot(db, capacity=10, starts_at=days_ahead(5))
    form = await open_form(client, slot.id)

    answer = await client.post(
        "/staff/bookings/new", data={**form, **FAMILY}, follow_redirects=False
    )

    assert answer.status_code == 303, text_of(answer)[:2000]
    (booking,) = await bookings_of(db, slot.id)
    assert answer.headers["location"] == f"/staff/bookings/{booking.id}?done=booked_emailed"
    assert (booking.channel, booking.adults, booking.children) == (Channel.PHONE, 2, 2)
    assert (booking.name, booking.phone, booking.email) == (
        "Familie Schmidt",
        "+49 170 1234567",
        "schmidt@example.de",
    )
    assert (booking.locale, booking.notes) == ("de", "Kinderwagen")
    assert (await fetch_slot(db, slot.id)).booked == 4
    async with db.reading() as session:
        created = await session.scalar(
            select(AuditEntry).where(
                AuditEntry.booking_id == booking.id, AuditEntry.action == "booking.created"
            )
        )
    assert created is not None and created.actor == account.actor
    assert created.data["channel"] == "phone"
    (message,) = await outbox(db)
    assert message.to_address == "schmidt@example.de"
    assert message.subject.startswith("Buchung bestätigt")
    page = await client.get(answer.headers["location"])
    assert booking.reference in page.text and "Kinderwagen" in page.text


async def test_a_double_click_books_once(staff, db):
    client, _ = staff
    slot = await make_slot(db, capacity=10, starts_at=days_ahead(5))
    form = await open_form(client, slot.id)
    first = await client.post(
        "/staff/bookings/new", data={**form, **FAMILY}, follow_redirects=False
    )
    second = await client.post(
        "/staff/bookings/new", data={**form, **FAMILY}, follow_redirects=False
    )
    assert first.status_code == second.status_code == 303
    assert first.headers["location"].split("?")[0] == second.headers["location"].split("?")[0]
    assert len(await bookings_of(db, slot.id)) == 1
    assert (await fetch_slot(db, slot.id)).booked == 4
    assert len(await outbox(db)) == 1


async def test_the_same_form_sent_for_another_party_is_refused_with_a_new_key(staff, db):
    client, _ = staff
    slot = await make_slot(db, capacity=10, starts_at=days_ahead(5))
    form = await open_form(client, slot.id)
    await client.post("/staff/bookings/new", data={**form, **FAMILY})
    again = await client.post(
        "/staff/bookings/new", data={**form, **FAMILY, "name": "Familie Weber"}
    )
    assert again.status_code == 409
    assert "This form was already used for another booking." in text_of(again)
    assert hidden(again.text, "form_key") != form["form_key"]
    assert 'value="Familie Weber"' in again.text
    assert len(await bookings_of(db, slot.id)) == 1


async def test_concurrent_posts_of_one_form_make_one_booking(db):
    slot = await make_slot(db, capacity=10, starts_at=days_ahead(5))
    request = BookingRequest(
        slot.id, 2, 0, "Jean Roux", None, phone="06 99 88 77 66", channel=Channel.COUNTER
    )
    key = idempotency_key("one-form")
    receipts = await asyncio.gather(
        *(
            booking_service.book(db, request, POLICY, actor="staff:x", idempotency_key=key)
            for _ in range(6)
        )
    )
    assert len({r.booking.id for r in receipts}) == 1
    assert (await fetch_slot(db, slot.id)).booked == 2


async def test_a_counter_booking_with_a_phone_only_sends_no_email(staff, db):
    client, _ = staff
    slot = await make_slot(db, capacity=10, starts_at=days_ahead(5))
    form = await open_form(client, slot.id)
    fields = {**FAMILY, "channel": "counter", "email": ""}
    answer = await client.post(
        "/staff/bookings/new", data={**form, **fields}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=booked")
    (booking,) = await bookings_of(db, slot.id)
    assert booking.channel == Channel.COUNTER and booking.email is None
    assert await outbox(db) == []


async def test_a_refused_form_keeps_its_values_and_says_why_beside_each_field(staff, db):
    client, _ = staff
    slot = await make_slot(db, capacity=10, starts_at=days_ahead(5))
    form = await open_form(client, slot.id)
    wrong = {
        "channel": "fax",
        "adults": "0",
        "children": "x",
        "name": "",
        "phone": "",
        "email": "",
        "locale": "fr",
        "notes": "rappeler",
    }
    answer = await client.post("/staff/bookings/new", data={**form, **wrong})
    assert answer.status_code == 422
    text = text_of(answer)
    assert "Please choose how the booking came in" in text
    assert "Please enter a whole number, 0 or more." in text
    assert "Please give the name the booking is made for." in text
    assert "rappeler" in answer.text and hidden(answer.text, "form_key") == form["form_key"]

    no_contact = await client.post(
        "/staff/bookings/new", data={**form, **FAMILY, "phone": "", "email": ""}
    )
    assert no_contact.status_code == 422
    assert "Please give an email address or a phone number" in text_of(no_contact)
    assert 'value="Familie Schmidt"' in no_contact.text
    assert await bookings_of(db, slot.id) == []


async def test_a_full_slot_refuses_and_the_form_comes_back(staff, db):
    client, _ = staff
    slot = await make_slot(db, capacity=3, starts_at=days_ahead(5))
    form = await open_form(client, slot.id)
    await book(db, slot.id, 2)
    answer = await client.post("/staff/bookings/new", data={**form, **FAMILY})
    assert answer.status_code == 409
    assert "Only 1 place left for this visit; you asked for 4." in text_of(answer)
    assert 'value="Familie Schmidt"' in answer.text
    assert len(await bookings_of(db, slot.id)) == 1


# --- a booking's page: cancel and move ----------------------------------------------------------


async def test_cancel_needs_the_box_then_frees_the_places_for_the_waiting_list(staff, db):
    client, account = staff
    slot = await make_slot(db, capacity=4, starts_at=days_ahead(5))
    booking = await book(db, slot.id, 2, email="jonas@example.de", locale="de")
    await book(db, slot.id, 2)
    entry = (
        await waitlist.join(
            db, slot.id, adults=2, children=0, name="Els", email="els@example.be",
            locale="nl", policy=POLICY,
        )
    ).entry  # fmt: skip
    await client.get(f"/staff/bookings/{booking.id}?lang=en")

    unticked = await client.post(
        f"/staff/bookings/{booking.id}/cancel", data={"_csrf_token": csrf(client)}
    )
    assert unticked.status_code == 422
    assert "Please tick the box to confirm" in text_of(unticked)
    assert (await fetch_slot(db, slot.id)).booked == 4

    answer = await client.post(
        f"/staff/bookings/{booking.id}/cancel",
        data={"_csrf_token": csrf(client), "confirm": "yes"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/staff/bookings/{booking.id}?done=cancelled"
    assert (await fetch_slot(db, slot.id)).booked == 2
    async with db.reading() as session:
        cancelled = await session.get(Booking, booking.id)
        audit = await session.scalar(
            select(AuditEntry).where(
                AuditEntry.booking_id == booking.id, AuditEntry.action == "booking.cancelled"
            )
        )
        waiting = await session.get(WaitlistEntry, entry.id)
    assert cancelled is not None and cancelled.status == BookingStatus.CANCELLED
    assert audit is not None and audit.actor == account.actor
    assert audit.data["before"] == {"status": "confirmed"}
    assert waiting is not None and waiting.status == WaitlistStatus.OFFERED
    # The visitor is told, once and in German; the visit itself goes on.
    async with db.reading() as session:
        told = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.to_address == "jonas@example.de")
            )
        )
    assert [m.subject.split(":")[0] for m in told] == ["Buchung storniert"]
    assert "Das Tourismusbüro hat Ihre Buchung storniert" in told[0].text_body
    again = await client.post(
        f"/staff/bookings/{booking.id}/cancel",
        data={"_csrf_token": csrf(client), "confirm": "yes"},
    )
    assert again.status_code == 409

    twice = await client.post(
        f"/staff/bookings/{booking.id}/cancel",
        data={"_csrf_token": csrf(client), "confirm": "yes"},
    )
    assert twice.status_code == 409
    assert "This booking is already cancelled." in text_of(twice)
    assert f'action="/staff/bookings/{booking.id}/cancel"' not in twice.text
    assert (await fetch_slot(db, slot.id)).booked == 2


async def test_move_emails_the_new_date_with_its_calendar_and_frees_the_source(staff, db):
    client, account = staff
    activity = await make_activity(db, capacity=4)
    rainy = await make_slot(db, activity=activity, capacity=4, starts_at=days_ahead(3))
    sunny = await make_slot(db, activity=activity, capacity=4, starts_at=days_ahead(9, 14))
    family = await book(
        db, rainy.id, 2, 1, name="Jan de Vries", email="jan@example.nl", locale="nl"
    )
    await book(db, rainy.id, 1)
    entry = (
        await waitlist.join(
            db, rainy.id, adults=3, children=0, name="Els", email="els@example.be",
            locale="nl", policy=POLICY,
        )
    ).entry  # fmt: skip
    page = await client.get(f"/staff/bookings/{family.id}?lang=en")
    assert f'<option value="{sunny.id}"' in page.text

    answer = await client.post(
        f"/staff/bookings/{family.id}/move",
        data={"_csrf_token": csrf(client), "target": str(sunny.id)},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/staff/bookings/{family.id}?done=moved_emailed"
    assert [(await fetch_slot(db, s.id)).booked for s in (rainy, sunny)] == [1, 3]
    async with db.reading() as session:
        moved = await session.get(Booking, family.id)
        waiting = await session.get(WaitlistEntry, entry.id)
        entries = list(
            await session.scalars(
                select(AuditEntry.actor).where(AuditEntry.action.like("booking.moved%"))
            )
        )
    assert moved is not None and moved.slot_id == sunny.id
    assert entries == [account.actor, account.actor]
    assert waiting is not None and waiting.status == WaitlistStatus.OFFERED

    (email,) = [m for m in await outbox(db) if m.to_address == "jan@example.nl"]
    assert email.subject.startswith("Nieuwe datum voor uw bezoek")
    local_new = sunny.starts_at.astimezone(clock.OFFICE_TZ)
    local_old = rainy.starts_at.astimezone(clock.OFFICE_TZ)
    for day in (local_new, local_old):
        assert format_date(day.date(), "full", locale="nl") in email.text_body
    assert "14:00" in email.text_body
    assert family.reference in email.text_body
    (attachment,) = email.attachments
    (event,) = Calendar.from_ical(attachment["content"]).walk("VEVENT")
    assert str(event["UID"]) == ics.booking_uid(family.reference)
    assert event.decoded("DTSTART") == local_new
    assert int(event["SEQUENCE"]) >= 1

    shown = await client.get(answer.headers["location"])
    assert "The visitor is told the new date by email." in text_of(shown)


async def test_a_refused_move_says_why_beside_the_target_and_changes_nothing(staff, db):
    client, _ = staff
    activity = await make_activity(db, capacity=4)
    source = await make_slot(db, activity=activity, capacity=4, starts_at=days_ahead(3))
    full = await make_slot(db, activity=activity, capacity=4, starts_at=days_ahead(9))
    booking = await book(db, source.id, 3)
    await book(db, full.id, 2)
    page = await client.get(f"/staff/bookings/{booking.id}?lang=en")
    assert f'<option value="{full.id}"' not in page.text  # no room for the party

    typed = await client.post(
        f"/staff/bookings/{booking.id}/move",
        data={"_csrf_token": csrf(client), "target_number": str(full.id)},
    )
    assert typed.status_code == 409
    assert "Only 2 places left for this visit; you asked for 3." in text_of(typed)
    assert 'id="target-error"' in typed.text
    nothing = await client.post(
        f"/staff/bookings/{booking.id}/move", data={"_csrf_token": csrf(client)}
    )
    assert nothing.status_code == 422
    assert "Please choose the visit to move the booking to." in text_of(nothing)
    unknown = await client.post(
        f"/staff/bookings/{booking.id}/move",
        data={"_csrf_token": csrf(client), "target_number": "987654"},
    )
    assert unknown.status_code == 404
    assert [(await fetch_slot(db, s.id)).booked for s in (source, full)] == [3, 2]
    async with db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert (await session.get(Booking, booking.id)).slot_id == source.id  # type: ignore[union-attr]


async def test_the_booking_page_shows_its_history_across_slots(staff, db):
    client, account = staff
    activity = await make_activity(db, capacity=6)
    first = await make_slot(db, activity=activity, capacity=6, starts_at=days_ahead(3))
    second = await make_slot(db, activity=activity, capacity=6, starts_at=days_ahead(5))
    booking = await book(db, first.id, 2, email="anne@example.org")
    await client.get(f"/staff/bookings/{booking.id}?lang=en")
    await client.post(
        f"/staff/bookings/{booking.id}/move",
        data={"_csrf_token": csrf(client), "target": str(second.id)},
    )
    page = await client.get(f"/staff/bookings/{booking.id}?lang=en")
    actions = re.findall(r'id="audit-\d+">.*?<td>([^<]+)<', page.text, re.DOTALL)
    assert [a.strip() for a in actions] == [
        "Booking moved here",
        "Booking moved to another visit",
        "Booking made",
    ]
    assert account.email in page.text


async def test_unknown_bookings_are_not_found(staff, db):
    client, _ = staff
    assert (await client.get("/staff/bookings/424242")).status_code == 404
    await client.get("/staff/bookings")
    cancel = await client.post(
        "/staff/bookings/424242/cancel", data={"_csrf_token": csrf(client), "confirm": "yes"}
    )
    assert cancel.status_code == 404


async def test_a_form_sent_several_times_at_once_to_a_real_server_books_once(database_url, db):
    """Through ``reservations serve``, where requests really overlap: five posts of one form
    (an impatient double, triple... click) answer with the same booking."""
    account = await make_staff(db)
    slot = await make_slot(db, capacity=10, starts_at=days_ahead(5))
    with live_server(database_url) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            await http.get("/staff/login")
            logged_in = await http.post(
                "/staff/login",
                data={
                    "email": account.email,
                    "password": PASSWORD,
                    "_csrf_token": http.cookies["csrftoken"],
                },
            )
            assert logged_in.status_code == 303
            page = await http.get(f"/staff/bookings/new?slot_id={slot.id}")
            form = {
                "_csrf_token": http.cookies["csrftoken"],
                "slot_id": hidden(page.text, "slot_id"),
                "form_key": hidden(page.text, "form_key"),
                **FAMILY,
            }
            answers = await all_at_once(
                [lambda: http.post("/staff/bookings/new", data=form) for _ in range(5)]
            )
        output = server.output()
    assert "Traceback" not in output, output
    assert {a.status_code for a in answers} == {303}, [a.text[:300] for a in answers]
    assert len({a.headers["location"].split("?")[0] for a in answers}) == 1
    assert len(await bookings_of(db, slot.id)) == 1
    assert (await fetch_slot(db, slot.id)).booked == 4
