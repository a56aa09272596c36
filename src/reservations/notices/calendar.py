"""A booking as a calendar event (.ics), its texts in the current language."""

from __future__ import annotations

from reservations import i18n
from reservations.base.models import BookingStatus
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules.booking import BookingView
from reservations.notices import ics


def party_text(adults: int, children: int) -> str:
    """ "2 adults, 1 child", in the current language."""
    parts = []
    if adults:
        parts.append(i18n.ngettext("%(num)d adult", "%(num)d adults", adults) % {"num": adults})
    if children:
        parts.append(
            i18n.ngettext("%(num)d child", "%(num)d children", children) % {"num": children}
        )
    return ", ".join(parts)


def location_text(slot: SlotDetail) -> str:
    return slot.meeting_point or f"{slot.provider}, {slot.village}"


def booking_calendar(booking: BookingView, slot: SlotDetail, manage_url: str) -> bytes:
    """The booking's event with its manage link; a cancelled booking's withdraws it."""
    cancelled = booking.status == BookingStatus.CANCELLED
    return booking_event(
        booking,
        slot,
        url=manage_url,
        manage_url=manage_url,
        status="CANCELLED" if cancelled else "CONFIRMED",
        # A cancelled booking must replace the event its holder already has.
        sequence=slot.sequence + (1 if cancelled else 0),
    )


def booking_event(
    booking: BookingView,
    slot: SlotDetail,
    *,
    url: str,
    sequence: int,
    status: str = "CONFIRMED",
    manage_url: str | None = None,
) -> bytes:
    """The booking's event at ``slot``, under the booking's UID: a calendar replaces the event
    it holds with one of a higher ``sequence``. The description ends with the manage link when
    there is one."""
    lines = [
        i18n.gettext("Booking {reference}: {party}.").format(
            reference=booking.reference, party=party_text(booking.adults, booking.children)
        ),
        i18n.gettext("Organised by {provider}, {village}.").format(
            provider=slot.provider, village=slot.village
        ),
    ]
    if manage_url is not None:
        lines.append(i18n.gettext("To change or cancel your booking: {url}").format(url=manage_url))
    return ics.calendar_for_visit(
        uid=ics.booking_uid(booking.reference),
        title=i18n.localized(slot.title, slot.activity_name),
        description="\n".join(lines),
        location=location_text(slot),
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        url=url,
        status=status,
        sequence=sequence,
        latitude=slot.latitude,
        longitude=slot.longitude,
    )


def calendar_filename(booking: BookingView) -> str:
    return f"{booking.reference}.ics"
