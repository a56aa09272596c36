"""The email telling a visitor their booking was moved to another date, in their language, with
the visit's new calendar file (same UID as the booking's event, a higher SEQUENCE: calendars
replace the event they hold). Queued in the outbox after the move commits, like a confirmation:
a failure to queue is logged and does not undo the move."""

from __future__ import annotations

import logging

from jinja2 import Environment

from reservations import i18n
from reservations.base.infra.db import Database
from reservations.base.reads import booking_lookup, catalogue
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules.booking import BookingView
from reservations.base.rules.moves import Move
from reservations.notices import calendar, emails, ics
from reservations.notices.emails import Email
from reservations.settings import Settings
from reservations.web import contact
from reservations.web.links import visit_url

logger = logging.getLogger(__name__)


def moved_calendar(booking: BookingView, slot: SlotDetail, move: Move, url: str) -> bytes:
    """The booking's event at its new date. The manage link is not in it: only its holder has
    it (tokens are stored hashed), so the event links to the visit's page."""
    description = "\n".join(
        [
            i18n.gettext("Booking {reference}: {party}.").format(
                reference=booking.reference,
                party=calendar.party_text(booking.adults, booking.children),
            ),
            i18n.gettext("Organised by {provider}, {village}.").format(
                provider=slot.provider, village=slot.village
            ),
        ]
    )
    return ics.calendar_for_visit(
        uid=ics.booking_uid(booking.reference),
        title=i18n.localized(slot.title, slot.activity_name),
        description=description,
        location=calendar.location_text(slot),
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        url=url,
        status="CONFIRMED",
        sequence=move.calendar_sequence,
        latitude=slot.latitude,
        longitude=slot.longitude,
    )


def booking_moved(
    environment: Environment,
    booking: BookingView,
    slot: SlotDetail,
    move: Move,
    settings: Settings,
) -> Email:
    with i18n.use_locale(booking.locale):
        title = i18n.localized(slot.title, slot.activity_name)
        context = {
            "booking": booking,
            "slot": slot,
            "title": title,
            "old_starts_at": move.source_starts_at,
            "party": calendar.party_text(booking.adults, booking.children),
            "location": calendar.location_text(slot),
            "office_phone": contact.office_phone(settings),
        }
        subject = i18n.gettext("New date for your visit: {title}, {day}").format(
            title=title, day=i18n.day(slot.starts_at)
        )
        attachment = ics.as_attachment(
            moved_calendar(booking, slot, move, visit_url(settings.public_url, slot.id)),
            calendar.calendar_filename(booking),
        )
        return emails.compose(environment, "booking_moved", subject, (attachment,), **context)


def dedup_key(move: Move) -> str:
    """One message per move (a booking moved back and forth is told each time)."""
    return f"booking-moved:{move.booking_id}:{move.moved_at.isoformat()}"


async def queue_booking_moved(
    db: Database, environment: Environment, move: Move, settings: Settings
) -> bool:
    """Queue the email; False when the booking has no address or it could not be queued."""
    if not move.email:
        return False
    try:
        booking = await booking_lookup.booking_view(db, move.booking_id)
        slot = await catalogue.slot_detail(db, move.target_slot_id, published_only=False)
        email = booking_moved(environment, booking, slot, move, settings)
        async with db.writing() as session:
            return await emails.enqueue(session, dedup_key(move), move.email, email)
    except Exception:
        logger.exception("could not queue the email of the move of booking %s", move.reference)
        return False
