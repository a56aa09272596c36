"""The provider's private calendar feed (``/farm/{secret}/calendar.ics``): its slots from 60 days
ago to a year ahead, each with its head count in the summary and its bookings in the
description, for a phone or a desktop calendar to subscribe to.

Conditional GET (``feed_responses``): the ``ETag`` hashes ``provider_feed.feed_version``, one
aggregate statement; a poll that finds nothing new gets ``304 Not Modified`` without the
calendar being read or built. The version is read before the slots, so a change between the two reads makes the
body newer than its ETag, never older: the next poll fetches it again.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import SlotStatus
from reservations.base.reads.day_sheet import SheetBooking, SheetSlot
from reservations.base.reads.provider_feed import (
    ActivityPlace,
    FeedWindow,
    feed_contents,
    feed_version,
)
from reservations.base.rules.provider_links import ProviderRef
from reservations.notices import ics, words
from reservations.notices.calendar import party_text
from reservations.settings import Settings
from reservations.web.feed_responses import calendar_response, etag
from reservations.web.links import day_sheet_url

#: Private (a farm's visitors), and calendar apps need not ask more often than this.
CACHE_CONTROL = "private, max-age=300"
#: Raise when the feed's text changes for the same data, so that every ETag changes with it.
FORMAT = "1"


class FeedController(Controller):
    path = "/"

    @get("/calendar.ics", name="farmer_feed")
    async def farmer_feed(
        self,
        request: Request[Any, Any, Any],
        farm: NamedDependency[ProviderRef],
        secret: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        lang: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        locale = i18n.provider_locale(farm.languages, lang)
        window = FeedWindow(clock.today())
        version = await feed_version(db, farm.id, window)

        async def build() -> bytes:
            contents = await feed_contents(db, farm.id, window)
            with i18n.use_locale(locale):
                events = [
                    _event(slot, farm, contents.places.get(slot.activity_id), settings, secret)
                    for slot in contents.slots
                ]
                return ics.calendar_feed(
                    events, name=i18n.gettext("Visits: {farm}").format(farm=farm.name)
                )

        # The tag covers everything the body depends on: the data, its language, the
        # calendar's name and the addresses in it.
        tag = etag(
            FORMAT, version.fingerprint, locale, farm.name, farm.village, settings.public_url
        )
        return await calendar_response(
            request,
            tag=tag,
            last_modified=version.last_modified,
            cache_control=CACHE_CONTROL,
            build=build,
        )


def _event(
    slot: SheetSlot,
    farm: ProviderRef,
    place: ActivityPlace | None,
    settings: Settings,
    secret: str,
) -> ics.CalendarEvent:
    sheet_url = day_sheet_url(settings.public_url, secret, slot.starts_on)
    return ics.CalendarEvent(
        uid=ics.slot_uid(slot.id),
        title=summary(slot),
        description=description(slot, sheet_url),
        location=(place and place.meeting_point) or f"{farm.name}, {farm.village}",
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        stamp=slot.updated_at,  # the same at every fetch until the slot changes
        url=sheet_url,
        status=ics.STATUS_OF_SLOT[slot.status],
        sequence=slot.sequence,
        latitude=place.latitude if place else None,
        longitude=place.longitude if place else None,
    )


def summary(slot: SheetSlot) -> str:
    """ "Visite de la ferme — 7 pers. (5 ad., 2 enf.)", in the current language."""
    title = slot.title_in(i18n.current())
    if slot.status == SlotStatus.CANCELLED:
        return i18n.gettext("Cancelled: {title}").format(title=title)
    if not slot.live_bookings:
        return i18n.gettext("{title} — no booking yet").format(title=title)
    return i18n.ngettext(
        "{title} — {people} person ({adults} ad., {children} ch.)",
        "{title} — {people} people ({adults} ad., {children} ch.)",
        slot.people,
    ).format(title=title, people=slot.people, adults=slot.adults, children=slot.children)


def description(slot: SheetSlot, sheet_url: str) -> str:
    """The status and places (or why it was called off), who booked (name, party, phone,
    language, notes), and the link to the day sheet, for the apps that hide the URL."""
    cancelled = slot.status == SlotStatus.CANCELLED
    if cancelled:
        lines = [f"{words.status_words(slot.status)} · {words.reason_words(slot.cancel_reason)}"]
        if slot.cancel_message:
            lines.append(slot.cancel_message)
    else:
        places = i18n.ngettext(
            "%(num)d of %(capacity)d places booked, minimum %(minimum)d.",
            "%(num)d of %(capacity)d places booked, minimum %(minimum)d.",
            slot.people,
        ) % {"num": slot.people, "capacity": slot.capacity, "minimum": slot.min_participants}
        lines = [f"{words.status_words(slot.status)} · {places}"]
    # A cancelled slot's sheet lists who had booked; a hold still running is not a booking.
    bookings = (
        [b for b in slot.bookings if not (b.awaiting_payment or b.cancelled_alone)]
        if cancelled
        else slot.live_bookings
    )
    if bookings:
        heading = i18n.gettext("Had booked:") if cancelled else i18n.gettext("Booked:")
        lines += ["", heading, *(_booking_lines(b, cancelled) for b in bookings)]
    lines += ["", i18n.gettext("Day sheet: {url}").format(url=sheet_url)]
    return "\n".join(lines)


def _booking_lines(booking: SheetBooking, cancelled: bool) -> str:
    facts = [party_text(booking.adults, booking.children)]
    if booking.phone:
        facts.append(booking.phone)
    facts.append(i18n.language_name(booking.locale))
    line = "- " + i18n.gettext("{name}: {details}").format(
        name=booking.name, details=" · ".join(facts)
    )
    if cancelled:  # told by email; the others are to call
        line += " · " + (
            i18n.gettext("told by email") if booking.email else i18n.gettext("no email: to call")
        )
    if booking.notes:
        line += "\n  " + i18n.gettext("Note: {notes}").format(notes=booking.notes)
    return line
