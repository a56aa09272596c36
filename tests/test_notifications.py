"""Emails about the waiting list and cancelled visits, on each database: the offer email in the
entry's language with its claim link and expiry, and ``reservations tick`` telling every booked
visitor of a slot cancelled under its minimum, once, with other dates of the same activity."""

from __future__ import annotations

from datetime import time, timedelta

from babel.dates import format_date, format_time
from sqlalchemy import select, update

from reservations.base import clock
from reservations.base.models import (
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    OutboxMessage,
    Slot,
    SlotStatus,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules import slots as slot_service
from reservations.base.rules import waitlist
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.due_work import tick_before_mail
from reservations.notices import cancellation_emails, waitlist_emails
from tests.factories import fetch_slot, make_activity, make_slot
from tests.outbox_support import as_sent
from tests.test_visitors import MAX_PARTY, PUBLIC_URL, site_settings, upcoming

POLICY = BookingPolicy(secret_key="test", max_party_size=MAX_PARTY)


async def book(  # type: ignore[no-untyped-def]
    db, slot_id: int, email: str, locale: str, people: int = 1
):
    request = BookingRequest(
        slot_id=slot_id, adults=people, children=0, name=email, email=email, locale=locale
    )
    return await booking_service.book(db, request, POLICY, actor="test")


async def outbox(db, prefix: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        found = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dedup_key.startswith(prefix))
            .order_by(OutboxMessage.dedup_key)
        )
        return list(found)


def local_day(instant, locale: str) -> str:  # type: ignore[no-untyped-def]
    return format_date(instant.astimezone(clock.OFFICE_TZ).date(), "full", locale=locale)


async def test_the_offer_email_is_in_the_entrys_language_with_link_and_expiry(db):
    settings = site_settings(db)
    slot = await make_slot(db, capacity=2, starts_at=upcoming(days=4))
    taken = await book(db, slot.id, "a@example.org", "fr", people=2)
    joined = await waitlist.join(
        db,
        slot.id,
        adults=2,
        children=0,
        name="Jonas",
        email="jonas@example.de",
        locale="de",
        policy=POLICY,
    )
    await booking_service.cancel_booking(
        db, taken.booking.id, actor="test", cancelled_by=CancelledBy.VISITOR
    )
    now = clock.now().replace(microsecond=0)
    [offer] = await waitlist.offer_freed_places(
        db, slot.id, notify=waitlist_emails.offer_notifier(settings), now=now, offer_minutes=90
    )
    [email] = await outbox(db, "waitlist-offer:")
    assert email.dedup_key == offer.dedup_key and email.to_address == "jonas@example.de"
    assert offer.entry.id == joined.entry.id
    assert offer.claim_token not in email.text_body + (email.html_body or "")  # sealed at rest
    sent = as_sent(email)
    text = sent.text.replace("\u202f", " ").replace("\xa0", " ")
    assert f"{PUBLIC_URL}/waitlist/{offer.claim_token}" in text
    expires = now + timedelta(minutes=90)
    assert local_day(expires, "de") in text
    expected_time = format_time(expires, "short", tzinfo=clock.OFFICE_TZ, locale="de")
    assert expected_time.replace("\u202f", " ") in text
    assert local_day(slot.starts_at, "de") in text
    assert f"{PUBLIC_URL}/waitlist/{offer.claim_token}" in sent.html


async def test_tick_tells_each_booked_visitor_of_a_cancelled_slot_once_with_other_dates(db):
    settings = site_settings(db)
    activity = await make_activity(db, capacity=10, min_participants=5)
    doomed = await make_slot(
        db, activity=activity, starts_at=upcoming(days=2), capacity=10, min_participants=5
    )
    others = [
        await make_slot(db, activity=activity, starts_at=upcoming(days=3 + n), capacity=10)
        for n in range(6)
    ]
    afternoon = time(15)
    full = await make_slot(
        db, activity=activity, starts_at=upcoming(days=3, at=afternoon), capacity=1
    )
    called_off = await make_slot(
        db, activity=activity, starts_at=upcoming(days=4, at=afternoon), capacity=10
    )
    await book(db, full.id, "full@example.org", "fr")
    german = await book(db, doomed.id, "anna@example.de", "de", people=2)
    dutch = await book(db, doomed.id, "piet@example.nl", "nl")
    gone = await book(db, doomed.id, "gone@example.org", "fr")
    await booking_service.cancel_booking(
        db, gone.booking.id, actor="test", cancelled_by=CancelledBy.VISITOR
    )
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == called_off.id).values(status=SlotStatus.CANCELLED)
        )
        await session.execute(  # the go/no-go of the doomed slot is due
            update(Slot)
            .where(Slot.id == doomed.id)
            .values(decision_at=clock.now() - timedelta(minutes=1))
        )

    decisions, _, _ = await tick_before_mail(db, settings)

    assert doomed.id in decisions.cancelled
    assert (await fetch_slot(db, doomed.id)).status == SlotStatus.CANCELLED
    messages = await outbox(db, f"slot-cancelled:{doomed.id}:")
    expected = sorted(
        (f"slot-cancelled:{doomed.id}:{b.booking.id}", b.booking.email) for b in (german, dutch)
    )
    assert sorted((m.dedup_key, m.to_address) for m in messages) == expected
    by_address = {m.to_address: m for m in messages}
    assert local_day(doomed.starts_at, "de") in by_address["anna@example.de"].text_body
    assert local_day(doomed.starts_at, "nl") in by_address["piet@example.nl"].text_body
    for message in messages:
        for other in others[:5]:
            assert f"{PUBLIC_URL}/visits/{other.id}" in message.text_body
            assert f"{PUBLIC_URL}/visits/{other.id}" in (message.html_body or "")
        for excluded in (others[5], full, called_off, doomed):
            assert f"{PUBLIC_URL}/visits/{excluded.id}\n" not in message.text_body
            assert f'{PUBLIC_URL}/visits/{excluded.id}"' not in (message.html_body or "")
    async with db.reading() as session:
        statuses = set(
            await session.scalars(select(Booking.status).where(Booking.slot_id == doomed.id))
        )
    assert statuses == {BookingStatus.CANCELLED}

    queued = len(await outbox(db, ""))
    await tick_before_mail(db, settings)
    again = await cancellation_emails.notify_slot_cancelled(
        db, doomed.id, [german.booking.id, dutch.booking.id], settings
    )
    assert again == 0 and len(await outbox(db, "")) == queued


async def test_visitors_of_a_slot_cancelled_outside_tick_are_told_by_the_next_tick(db):
    """A crash between a cancellation and its emails, or a cancellation by the farmer: the next
    tick finds who was not told and tells them, once; a visit already past is left alone."""
    settings = site_settings(db)
    sooner = await make_slot(db, starts_at=upcoming(days=1), capacity=10)
    later = await make_slot(db, starts_at=upcoming(days=2), capacity=10)
    early_bird = await book(db, sooner.id, "late@example.org", "en")
    first = await book(db, later.id, "ines@example.fr", "fr")
    second = await book(db, later.id, "tom@example.org", "en", people=2)
    for slot in (sooner, later):
        await slot_service.cancel_slot(db, slot.id, CancelReason.WEATHER, actor="provider:1")
    assert await outbox(db, "slot-cancelled:") == []

    between = sooner.starts_at + timedelta(hours=1)
    assert await cancellation_emails.untold_cancellations(db, now=between) == {
        later.id: sorted([first.booking.id, second.booking.id])
    }

    await tick_before_mail(db, settings)
    await tick_before_mail(db, settings)

    told = [(m.dedup_key, m.to_address) for m in await outbox(db, "slot-cancelled:")]
    assert sorted(told) == sorted(
        [
            (f"slot-cancelled:{sooner.id}:{early_bird.booking.id}", "late@example.org"),
            (f"slot-cancelled:{later.id}:{first.booking.id}", "ines@example.fr"),
            (f"slot-cancelled:{later.id}:{second.booking.id}", "tom@example.org"),
        ]
    )
    assert await cancellation_emails.untold_cancellations(db) == {}


async def test_tick_offers_places_freed_where_nobody_offered_them(db):
    settings = site_settings(db)
    slot = await make_slot(db, capacity=3, starts_at=upcoming(days=5))
    taken = await book(db, slot.id, "a@example.org", "fr", people=3)
    joined = await waitlist.join(
        db,
        slot.id,
        adults=1,
        children=1,
        name="Piet",
        email="piet@example.nl",
        locale="nl",
        policy=POLICY,
    )
    await booking_service.cancel_booking(  # e.g. by staff, without offering the places
        db, taken.booking.id, actor="test", cancelled_by=CancelledBy.VISITOR
    )
    assert await outbox(db, "waitlist-offer:") == []
    _, result, _ = await tick_before_mail(db, settings)
    [offer] = result.offers
    assert offer.entry.id == joined.entry.id
    [email] = await outbox(db, "waitlist-offer:")
    assert email.to_address == "piet@example.nl"
    assert local_day(slot.starts_at, "nl") in email.text_body
    await tick_before_mail(db, settings)
    assert len(await outbox(db, "waitlist-offer:")) == 1
