"""What a provider's calendar feed reads: its window of days, a cheap fingerprint of everything in
it (the validator behind ``ETag`` and ``Last-Modified``), and the slots with their bookings.

Calendar apps poll a feed every few minutes to every few hours, most of the time for nothing
new. ``feed_version`` answers that poll with one aggregate statement (two one-row aggregates,
over the window's slots and over their bookings), so a ``304 Not Modified`` never reads a
booking row nor builds a calendar. Every write that shows in the feed moves one of its figures:
a slot's update bumps ``updated_at`` (and cancelling it ``sequence``), a booking made or
cancelled moves the counts and ``created_at`` / ``cancelled_at``, a changed party the sums,
an edited activity (title, meeting point) the latest ``updated_at`` of the window's activities.
The farm's own name and village are in the ETag itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, case, func, select, true

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import Activity, Booking, BookingStatus, Slot
from reservations.base.reads.day_sheet import SheetSlot, slots_with_bookings

#: The feed holds the provider's slots from this long ago (what happened, for the records) ...
PAST = timedelta(days=60)
#: ... to this far ahead (a season planned a year in advance).
AHEAD = timedelta(days=365)


@dataclass(frozen=True)
class FeedWindow:
    """The local days whose slots are in the feed on ``today``: it moves every midnight."""

    today: date

    @property
    def first_day(self) -> date:
        return self.today - PAST

    @property
    def last_day(self) -> date:
        return self.today + AHEAD

    @property
    def opened_at(self) -> datetime:
        """When the window last moved: today's local midnight."""
        return clock.local_datetime(self.today, time(0))


@dataclass(frozen=True)
class FeedVersion:
    #: Changes whenever anything the feed shows may have changed (hex SHA-256).
    fingerprint: str
    #: The latest change in the window, never before the window last moved.
    last_modified: datetime


@dataclass(frozen=True)
class ActivityPlace:
    """Where an activity's visitors meet, for the events' LOCATION and GEO."""

    meeting_point: str | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class FeedContents:
    slots: list[SheetSlot]
    places: dict[int, ActivityPlace]


def _in_window(provider_id: int, window: FeedWindow) -> list[ColumnElement[bool]]:
    """The provider's slots in the window (with ``Slot`` joined to ``Activity``)."""
    return [
        Activity.provider_id == provider_id,
        Slot.starts_on >= window.first_day,
        Slot.starts_on <= window.last_day,
    ]


async def feed_version(db: Database, provider_id: int, window: FeedWindow) -> FeedVersion:
    """The validator of the provider's feed over ``window``: one statement, one row."""
    in_window = _in_window(provider_id, window)
    slots = (
        select(
            func.count(Slot.id).label("slots"),
            func.coalesce(func.sum(Slot.id), 0).label("slot_ids"),
            func.coalesce(func.sum(Slot.sequence), 0).label("sequences"),
            func.coalesce(func.sum(Slot.booked), 0).label("booked"),
            func.max(Slot.updated_at).label("slot_updated"),
            func.max(Activity.updated_at).label("activity_updated"),
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .where(*in_window)
        .subquery()
    )
    confirmed = case((Booking.status == BookingStatus.CONFIRMED, 1), else_=0)
    bookings = (
        select(
            func.count(Booking.id).label("bookings"),
            func.coalesce(func.sum(confirmed), 0).label("confirmed"),
            func.coalesce(func.sum(Booking.adults), 0).label("adults"),
            func.coalesce(func.sum(Booking.children), 0).label("children"),
            func.coalesce(func.sum(Booking.id), 0).label("booking_ids"),
            func.max(Booking.created_at).label("booking_created"),
            func.max(Booking.cancelled_at).label("booking_cancelled"),
        )
        .where(
            Booking.slot_id.in_(
                select(Slot.id).join(Activity, Slot.activity_id == Activity.id).where(*in_window)
            )
        )
        .subquery()
    )
    async with db.reading_connection() as connection:
        row = (
            await connection.execute(
                select(slots, bookings).select_from(slots.join(bookings, true()))
            )
        ).one()
    figures = row._mapping
    changes = [
        figures[name]
        for name in ("slot_updated", "activity_updated", "booking_created", "booking_cancelled")
        if figures[name] is not None
    ]
    text = "|".join(
        [str(provider_id), window.first_day.isoformat(), window.last_day.isoformat()]
        + [
            value.isoformat() if isinstance(value, datetime) else str(int(value or 0))
            for value in figures.values()
        ]
    )
    return FeedVersion(
        fingerprint=hashlib.sha256(text.encode()).hexdigest(),
        last_modified=max([window.opened_at, *changes]),
    )


async def feed_contents(db: Database, provider_id: int, window: FeedWindow) -> FeedContents:
    """The provider's slots in ``window`` with their bookings, and where its activities meet."""
    slots = await slots_with_bookings(db, provider_id, window.first_day, window.last_day)
    query = select(
        Activity.id, Activity.meeting_point, Activity.latitude, Activity.longitude
    ).where(Activity.provider_id == provider_id)
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    places = {row.id: ActivityPlace(row.meeting_point, row.latitude, row.longitude) for row in rows}
    return FeedContents(slots=slots, places=places)
