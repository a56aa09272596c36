"""Calendar files (.ics, RFC 5545) of a visit, for the confirmation mail and the manage page.

Pure functions: no database, no translation. Callers pass texts already in the visitor's
language. Times are written in the office's zone (``DTSTART;TZID=Europe/Paris:...``) with the
VTIMEZONE that defines it, so a calendar shows the visit at the farm's wall-clock time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vRecur

from reservations.base import clock

PRODID = "-//Reservations//Farm visits and animations//EN"
STATUSES = ("TENTATIVE", "CONFIRMED", "CANCELLED")
ICS_CONTENT_TYPE = "text/calendar; method=PUBLISH; charset=utf-8"

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
    _check_aware(starts_at, ends_at, *([stamp] if stamp else []))
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    if ends_at <= starts_at:
        raise ValueError("a visit ends after it starts")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", (stamp or clock.now()).astimezone(UTC))
    event.add("dtstart", starts_at.astimezone(clock.OFFICE_TZ))
    event.add("dtend", ends_at.astimezone(clock.OFFICE_TZ))
    event.add("summary", title)
    event.add("description", description)
    event.add("location", location)
    if latitude is not None and longitude is not None:
        event.add("geo", (latitude, longitude))
    if url:
        event.add("url", url)
    event.add("status", status)
    event.add("sequence", sequence)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add_component(_office_timezone())
    calendar.add_component(event)
    return calendar.to_ical()


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
