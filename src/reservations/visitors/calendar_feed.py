"""``/calendar.ics``: the public programme as a calendar to subscribe to (optional ``?sector=``
and ``?kind=``, texts in the request's language, ``?lang=``). No login: it is what the
programme page shows, for a phone's or a partner's calendar.

The feed holds the slots from a week ago to a year ahead, whatever their state: a slot that
goes ahead, one not decided yet (TENTATIVE), one held, and one cancelled (STATUS:CANCELLED,
with its raised SEQUENCE, so that calendars strike out the event they hold instead of keeping
it). Each event's UID is the slot's (``ics.slot_uid``), the same in every feed.

Conditional GET as for the farmers' feed (``feed_responses``): an ``ETag`` from
one aggregate statement (``public_programme.programme_version``) that moves only when what the
feed shows moves (not with bookings: it shows no places), and a ``Last-Modified``; a poll
that finds nothing new gets ``304 Not Modified`` without the slots being read, and one without
the ETag gets the body this worker built last for it, when the ETag still holds. An unknown
sector gives an empty calendar and an unknown kind all kinds, never an error: the address is
pasted into calendar apps, which show no error page.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import ActivityKind, SlotStatus
from reservations.base.reads.public_programme import (
    ProgrammeEntry,
    ProgrammeSelection,
    programme_entries,
    programme_version,
)
from reservations.notices import ics, words
from reservations.notices.words import price_text
from reservations.settings import Settings
from reservations.web.feed_responses import built_feeds, calendar_response, etag
from reservations.web.links import visit_url

#: The feed holds the slots from this long ago (last week's, for the record) ...
PAST = timedelta(days=7)
#: ... to this far ahead (a season is published months in advance).
AHEAD = timedelta(days=365)
#: Public, and calendar apps need not ask more often than this.
CACHE_CONTROL = "public, max-age=900"
#: Raise when the feed's text changes for the same data, so that every ETag changes with it.
FORMAT = "2"


def selection(today: Any, sector: str | None, kind: str | None) -> ProgrammeSelection:
    """The feed's window on ``today``; filters passed on as given, an unreadable kind ignored."""
    return ProgrammeSelection(
        first_day=today - PAST,
        last_day=today + AHEAD,
        sector=(sector or "").strip() or None,
        kind=ActivityKind(kind) if kind in set(ActivityKind) else None,
    )


class CalendarFeedController(Controller):
    path = "/"

    @get("/calendar.ics", name="public_calendar")
    async def public_calendar(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        sector: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        chosen = selection(clock.today(), sector, kind)
        version = await programme_version(db, chosen)

        async def build() -> bytes:
            entries = await programme_entries(db, chosen, places=False)
            texts = Texts()
            events = [_event(entry, settings, texts) for entry in entries]
            return ics.calendar_feed(events, name=calendar_name(chosen.sector))

        # The data, its language, the addresses and phone in it.
        tag = etag(
            FORMAT,
            version.fingerprint,
            i18n.current(),
            settings.public_url,
            settings.office_phone,
        )
        return await calendar_response(
            request,
            tag=tag,
            last_modified=version.last_modified,
            cache_control=CACHE_CONTROL,
            build=build,
            cache=built_feeds(request),
        )


def calendar_name(sector: str | None) -> str:
    name = i18n.gettext("Farm visits and activities")
    return f"{name} — {sector}" if sector else name


class Texts:
    """Babel's prices and dates, written once per build: a programme repeats a few dozen
    prices and decision times over its events, each costing tens of microseconds."""

    def __init__(self) -> None:
        self.price = cache(price_text)
        self.moment = cache(i18n.moment)


def _event(entry: ProgrammeEntry, settings: Settings, texts: Texts) -> ics.CalendarEvent:
    title = entry.title_in(i18n.current())
    cancelled = entry.status == SlotStatus.CANCELLED
    url = visit_url(settings.public_url, entry.id)
    return ics.CalendarEvent(
        uid=ics.slot_uid(entry.id),
        title=i18n.gettext("Cancelled: {title}").format(title=title) if cancelled else title,
        description=_description(entry, url, settings.office_phone, texts),
        location=entry.meeting_point or f"{entry.provider}, {entry.village}",
        starts_at=entry.starts_at,
        ends_at=entry.ends_at,
        stamp=entry.revised_at,  # from what the ETag covers: one ETag, one body
        url=url,
        status=ics.STATUS_OF_SLOT[entry.status],
        sequence=entry.sequence,
        latitude=entry.latitude,
        longitude=entry.longitude,
    )


def _status_line(entry: ProgrammeEntry, texts: Texts) -> str:
    if entry.status == SlotStatus.SCHEDULED and entry.min_participants:
        return i18n.gettext("Goes ahead from %(minimum)s people; decided %(when)s.") % {
            "minimum": entry.min_participants,
            "when": texts.moment(entry.decision_at),
        }
    return words.status_words(entry.status)


def _description(entry: ProgrammeEntry, url: str, office_phone: str, texts: Texts) -> str:
    """What the visit is, by whom, its price and state, and where to book it."""
    about = [
        _status_line(entry, texts),
        i18n.localized(entry.description),
        i18n.gettext("Organised by {provider}, {village}.").format(
            provider=entry.provider, village=entry.village
        ),
        texts.price(entry.price_adult_cents, entry.price_child_cents),
    ]
    booking = [url, i18n.gettext("Tourist office: %(phone)s") % {"phone": office_phone}]
    return "\n".join([line for line in about if line] + ["", *booking])
