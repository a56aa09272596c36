"""Calendar files (.ics, RFC 5545): one visit, for the confirmation mail and the manage page,
and a feed of many, for a provider's calendar subscription.

Pure functions: no database, no translation. Callers pass texts already in the reader's
language. A feed's events are serialised by icalendar one by one and kept (``_event_ical``): a
feed rebuilt after one change serialises only the events that changed, since icalendar's
folding of every line, character by character, is most of a build's time. Times are written in the office's zone (``DTSTART;TZID=Europe/Paris:...``) with the
VTIMEZONE that defines it, so a calendar shows the visit at the farm's wall-clock time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vDuration,
    vRecur,
)

from reservations.base import clock
from reservations.base.models import SlotStatus

PRODID = "-//Reservations//Farm visits and animations//EN"
STATUSES = ("TENTATIVE", "CONFIRMED", "CANCELLED")
#: A slot's event status: not decided yet is TENTATIVE; cancelled stays in feeds as CANCELLED.
STATUS_OF_SLOT = {
    SlotStatus.SCHEDULED: "TENTATIVE",
    SlotStatus.CONFIRMED: "CONFIRMED",
    SlotStatus.HELD: "CONFIRMED",
    SlotStatus.CANCELLED: "CANCELLED",
}
ICS_CONTENT_TYPE = "text/calendar; method=PUBLISH; charset=utf-8"
#: Serialised events kept per process: a season's programme in every language and the farms'
#: feeds (about 1.3 KB each with its key: some 10 MB at most).
EVENTS_KEPT = 8_192
#: The end of every calendar: the events go just before it.
_END = b"END:VCALENDAR\r\n"

# The EU rule (since 1996): summer time from the last Sunday of March, 02:00 CET, to the last
# Sunday of October, 03:00 CEST. Written by hand as recurrence rules, the form the IANA-derived
# VTIMEZONEs (tzurl.org, Apple, Google) publish: icalendar's generated VTIMEZONE dates the March
# onset at 03:00, the wall clock after the change, where RFC 5545 wants the time before it.
_TZID = "Europe/Paris"
_CET, _CEST = timedelta(hours=1), timedelta(hours=2)
assert getattr(clock.OFFICE_TZ, "key", None) == _TZID, "the VTIMEZONE below is Europe/Paris"


def booking_uid(reference: str) -> str:
    """The UID of a booking's event: the same for every .ics of that booking, so a calendar
    updates the event it already holds instead of adding another."""
    return f"booking-{reference}@reservations"


def slot_uid(slot_id: int) -> str:
    """The UID of a slot's event (staff and provider calendars)."""
    return f"slot-{slot_id}@reservations"


@dataclass(frozen=True)
class CalendarEvent:
    """One VEVENT. Raise ``sequence`` at every change (the slot's ``sequence``); ``status`` is
    one of ``STATUSES`` (``CANCELLED`` withdraws the event from calendars); ``stamp`` is when
    this version of the event was written (DTSTAMP)."""

    uid: str
    title: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    stamp: datetime
    url: str | None = None
    status: str = "CONFIRMED"
    sequence: int = 0
    latitude: float | None = None
    longitude: float | None = None


def calendar_for_visit(
    *,
    uid: str,
    title: str,
    description: str,
    location: str,
    starts_at: datetime,
    ends_at: datetime,
    url: str | None = None,
    status: str = "CONFIRMED",
    sequence: int = 0,
    latitude: float | None = None,
    longitude: float | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """One VEVENT in a METHOD:PUBLISH calendar. Raise ``sequence`` at every change (the slot's
    ``sequence``) and pass ``status="CANCELLED"`` to withdraw the event from calendars."""
    event = CalendarEvent(
        uid=uid,
        title=title,
        description=description,
        location=location,
        starts_at=starts_at,
        ends_at=ends_at,
        stamp=stamp or clock.now(),
        url=url,
        status=status,
        sequence=sequence,
        latitude=latitude,
        longitude=longitude,
    )
    calendar = _calendar()
    calendar.add_component(_event(event))
    return calendar.to_ical()


def calendar_feed(
    events: Iterable[CalendarEvent], *, name: str, refresh: timedelta = timedelta(hours=1)
) -> bytes:
    """A subscribed calendar of many events (a provider's feed): named ``name`` in the
    subscriber's list (NAME, and X-WR-CALNAME that Google and Apple read), polled about every
    ``refresh`` (REFRESH-INTERVAL, RFC 7986, and Outlook's X-PUBLISHED-TTL)."""
    # The bytes icalendar writes for the calendar with all its events, its VEVENTs serialised
    # one by one: every event checked before anything is written.
    built = b"".join([_event_ical(event) for event in events])
    frame = _feed_frame(name, refresh)
    return frame[: -len(_END)] + built + _END


@lru_cache(maxsize=64)
def _feed_frame(name: str, refresh: timedelta) -> bytes:
    """A feed's calendar without its events."""
    calendar = _calendar()
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", _TZID)
    calendar.add("refresh-interval", vDuration(refresh), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(refresh))
    frame: bytes = calendar.to_ical()
    assert frame.endswith(_END)
    return frame


@lru_cache(maxsize=EVENTS_KEPT)
def _event_ical(fields: CalendarEvent) -> bytes:
    """One VEVENT as icalendar writes it inside a calendar (its lines, each ending in CRLF)."""
    ical: bytes = _event(fields).to_ical()
    return ical


def _calendar() -> Calendar:
    """A METHOD:PUBLISH calendar holding the office's VTIMEZONE, without events yet."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add_component(_office_timezone())
    return calendar


def _event(fields: CalendarEvent) -> Event:
    _check_aware(fields.starts_at, fields.ends_at, fields.stamp)
    if fields.status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {fields.status!r}")
    if fields.ends_at <= fields.starts_at:
        raise ValueError("a visit ends after it starts")
    event = Event()
    event.add("uid", fields.uid)
    event.add("dtstamp", fields.stamp.astimezone(UTC))
    event.add("dtstart", fields.starts_at.astimezone(clock.OFFICE_TZ))
    event.add("dtend", fields.ends_at.astimezone(clock.OFFICE_TZ))
    event.add("summary", fields.title)
    event.add("description", fields.description)
    event.add("location", fields.location)
    if fields.latitude is not None and fields.longitude is not None:
        event.add("geo", (fields.latitude, fields.longitude))
    if fields.url:
        event.add("url", fields.url)
    event.add("status", fields.status)
    event.add("sequence", fields.sequence)
    return event


def as_attachment(calendar: bytes, filename: str = "visit.ics") -> dict[str, str]:
    """The calendar as an outbox attachment (see ``outbox.enqueue``)."""
    return {
        "filename": filename,
        "content_type": ICS_CONTENT_TYPE,
        "content": calendar.decode("utf-8"),
    }


def _office_timezone() -> Timezone:
    timezone = Timezone()
    timezone.add("tzid", _TZID)
    timezone.add_component(
        _observance(TimezoneDaylight(), "CEST", _CET, _CEST, datetime(1970, 3, 29, 2), month=3)
    )
    timezone.add_component(
        _observance(TimezoneStandard(), "CET", _CEST, _CET, datetime(1970, 10, 25, 3), month=10)
    )
    return timezone


def _observance(
    component: TimezoneDaylight | TimezoneStandard,
    name: str,
    offset_from: timedelta,
    offset_to: timedelta,
    onset: datetime,
    *,
    month: int,
) -> TimezoneDaylight | TimezoneStandard:
    component.add("tzname", name)
    component.add("tzoffsetfrom", offset_from)
    component.add("tzoffsetto", offset_to)
    component.add("dtstart", onset)  # local time, before the change (RFC 5545, 3.6.5)
    component.add("rrule", vRecur(freq="YEARLY", bymonth=month, byday="-1SU"))
    return component


def _check_aware(*instants: datetime) -> None:
    for instant in instants:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"naive datetime {instant!r}: a visit's times carry a time zone")
