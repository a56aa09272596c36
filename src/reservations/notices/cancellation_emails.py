"""The emails telling visitors their visit is off, each in its reader's language, with the
next open dates of the same activity, queued in the outbox with a dedup key so that nobody is
told twice: the slot is cancelled (``slot-cancelled:{slot}:{booking}``), or the office
cancelled one booking while the visit goes on (``booking-cancelled:{slot}:{booking}``).

Each telling opens its own transaction, after the cancellation committed. The visitors of a
cancelled slot not told yet are found again from the outbox (``untold_cancellations``), so
``reservations tick`` tells them even after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment
from sqlalchemy import String, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    Booking,
    BookingStatus,
    CancelledBy,
    OutboxMessage,
    Slot,
)
from reservations.base.rules import room
from reservations.i18n import N_
from reservations.notices import emails, words
from reservations.notices.calendar import party_text
from reservations.notices.visit_facts import office_links, visit_with_titles
from reservations.settings import Settings
from reservations.web.links import visit_url

#: How many other dates a cancellation email suggests.
OTHER_DATES = 5


@dataclass(frozen=True)
class OtherDate:
    slot_id: int
    starts_at: datetime
    ends_at: datetime
    remaining: int
    url: str


async def _other_dates(
    session: AsyncSession, slot: Slot, settings: Settings, now: datetime
) -> list[OtherDate]:
    """The next bookable dates of the same activity (one SELECT)."""
    rows = await session.scalars(
        select(Slot)
        .where(
            Slot.activity_id == slot.activity_id,
            Slot.id != slot.id,
            room.open_for_booking(now),
            room.has_places(1),
        )
        .order_by(Slot.starts_at, Slot.id)
        .limit(OTHER_DATES)
    )
    return [
        OtherDate(
            s.id,
            s.starts_at,
            s.ends_at,
            s.remaining,
            visit_url(settings.public_url, s.id),
        )
        for s in rows
    ]


async def untold_cancellations(
    db: Database, *, now: datetime | None = None
) -> dict[int, list[int]]:
    """Bookings ended with their slot whose visitor has not been told yet, by slot: upcoming
    visits only, people with an email, no ``slot-cancelled`` message queued for them. Whoever
    cancelled the slot (go/no-go, farmer, staff), ``tick`` tells them, even after a crash."""
    now = now or clock.now()
    key = (
        literal("slot-cancelled:") + cast(Booking.slot_id, String) + ":" + cast(Booking.id, String)
    )
    told = select(OutboxMessage.id).where(OutboxMessage.dedup_key == key).exists()
    async with db.reading() as session:
        rows = await session.execute(
            select(Booking.slot_id, Booking.id)
            .join(Slot, Slot.id == Booking.slot_id)
            .where(
                Booking.status == BookingStatus.CANCELLED,
                Booking.cancelled_by == CancelledBy.SLOT,
                Booking.email.is_not(None),
                Slot.starts_at > now,
                ~told,
            )
            .order_by(Booking.slot_id, Booking.id)
        )
        untold: dict[int, list[int]] = {}
        for slot_id, booking_id in rows:
            untold.setdefault(slot_id, []).append(booking_id)
    return untold


async def notify_slot_cancelled(
    db: Database,
    slot_id: int,
    booking_ids: Sequence[int],
    settings: Settings,
    *,
    environment: Environment | None = None,
    now: datetime | None = None,
) -> int:
    """Tell every booking among ``booking_ids`` of this cancelled slot, in its language, why
    the visit is off and which other dates are open; returns how many emails were queued now
    (0 for people already told: dedup ``slot-cancelled:{slot}:{booking}``)."""
    return await _tell_cancelled(
        db, slot_id, booking_ids, settings, _SLOT_OFF, environment=environment, now=now
    )


async def notify_booking_cancelled(
    db: Database,
    slot_id: int,
    booking_id: int,
    settings: Settings,
    *,
    by_office: bool,
    environment: Environment | None = None,
    now: datetime | None = None,
) -> int:
    """Tell a visitor that their booking (on ``slot_id``) is cancelled, the visit itself going
    on, with the other dates open: the office cancelled it (``by_office``), or they did and
    this confirms it. 1 when queued, 0 without an email or when already told."""
    kind = _BOOKING_OFF if by_office else _VISITOR_CANCELLED
    return await _tell_cancelled(
        db, slot_id, [booking_id], settings, kind, environment=environment, now=now
    )


@dataclass(frozen=True)
class _Cancellation:
    """What kind of cancellation an email tells: its dedup key, subject, headline and reason."""

    key: str
    subject: str
    headline: str
    reason: str | None  # None: the slot's own reason


_SLOT_OFF = _Cancellation(
    "slot-cancelled",
    N_("Cancelled: {title}, {day}"),
    N_("We are sorry: this visit is cancelled, and your booking with it."),
    None,
)
_BOOKING_OFF = _Cancellation(
    "booking-cancelled",
    N_("Booking cancelled: {title}, {day}"),
    N_("We are sorry: the tourist office has cancelled your booking."),
    N_("Your booking was cancelled by the tourist office. Please call us with any question."),
)
_VISITOR_CANCELLED = _Cancellation(
    "booking-cancelled-by-visitor",
    N_("Cancellation confirmed: {title}, {day}"),
    N_("Your booking is cancelled, as you asked."),
    N_(
        "You cancelled it yourself. If you paid online, what is refunded goes back to the "
        "card you paid with."
    ),
)


async def _tell_cancelled(
    db: Database,
    slot_id: int,
    booking_ids: Sequence[int],
    settings: Settings,
    kind: _Cancellation,
    *,
    environment: Environment | None,
    now: datetime | None,
) -> int:
    environment = environment or emails.default_environment()
    now = now or clock.now()
    async with db.writing() as session:
        titles, name, row = await visit_with_titles(session, slot_id)
        slot: Slot = row.Slot
        bookings = list(
            await session.scalars(
                select(Booking)
                .where(
                    Booking.slot_id == slot_id,
                    Booking.id.in_(list(booking_ids)),
                    Booking.email.is_not(None),
                )
                .order_by(Booking.id)
            )
        )
        others = await _other_dates(session, slot, settings, now) if bookings else []
        queued = 0
        for booking in bookings:
            with i18n.use_locale(booking.locale):
                email = _cancelled_email(
                    environment,
                    settings,
                    slot,
                    row.provider,
                    i18n.localized(titles, name),
                    booking,
                    others,
                    kind,
                )
            key = f"{kind.key}:{slot_id}:{booking.id}"
            queued += await emails.enqueue(session, key, booking.email or "", email)
    return queued


def _cancelled_email(
    environment: Environment,
    settings: Settings,
    slot: Slot,
    provider: str,
    title: str,
    booking: Booking,
    others: list[OtherDate],
    kind: _Cancellation,
) -> emails.Email:
    reason = i18n.gettext(kind.reason) if kind.reason else words.reason_words(slot.cancel_reason)
    return emails.compose(
        environment,
        "slot_cancelled",
        i18n.gettext(kind.subject).format(title=title, day=i18n.day(slot.starts_at)),
        booking=booking,
        title=title,
        provider=provider,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        headline=i18n.gettext(kind.headline),
        reason=reason,
        note=slot.cancel_message if kind.reason is None else None,
        party=party_text(booking.adults, booking.children),
        others=others,
        programme_url=settings.public_url.rstrip("/") + "/",
        **office_links(settings),
    )
