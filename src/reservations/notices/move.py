"""The email telling a visitor their booking was moved to another date, in their language, with
the visit's new calendar file (same UID as the booking's event, a higher SEQUENCE: calendars
replace the event they hold). Queued in the outbox after the move commits, like a confirmation:
a failure to queue is logged and does not undo the move."""

from __future__ import annotations

import logging

from jinja2 import Environment

from reservations.base.infra.db import Database
from reservations.base.reads import booking_lookup, catalogue
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules.booking import BookingView
from reservations.base.rules.moves import Move
from reservations.i18n import N_
from reservations.notices import calendar, emails
from reservations.notices.emails import Email
from reservations.settings import Settings
from reservations.web.links import visit_url

logger = logging.getLogger(__name__)


def moved_calendar(booking: BookingView, slot: SlotDetail, move: Move, url: str) -> bytes:
    """The booking's event at its new date. The manage link is not in it: only its holder has
    it (tokens are stored hashed), so the event links to the visit's page."""
    return calendar.booking_event(booking, slot, url=url, sequence=move.calendar_sequence)


def booking_moved(
    environment: Environment,
    booking: BookingView,
    slot: SlotDetail,
    move: Move,
    settings: Settings,
) -> Email:
    return emails.booking_email(
        environment,
        "booking_moved",
        N_("New date for your visit: {title}, {day}"),
        booking,
        slot,
        settings.office_phone,
        lambda: moved_calendar(booking, slot, move, visit_url(settings.public_url, slot.id)),
        old_starts_at=move.source_starts_at,
    )


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
