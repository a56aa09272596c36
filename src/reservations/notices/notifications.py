"""Emails about the waiting list and cancelled visits, each in its reader's language, queued in
the outbox (``outbox.enqueue``) with a dedup key so that nobody is told the same thing twice.

The waiting list's ``notify`` callables run inside the domain's transaction (an offer and its
email are written together); ``notify_slot_cancelled`` opens its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment
from sqlalchemy import String, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    Booking,
    BookingStatus,
    CancelledBy,
    OutboxMessage,
    Provider,
    Slot,
)
from reservations.base.rules import room, waitlist
from reservations.base.rules.waitlist import JoinNotify, JoinReceipt, Offer, OfferNotify
from reservations.i18n import N_
from reservations.notices import emails, words
from reservations.notices.calendar import party_text
from reservations.settings import Settings
from reservations.web.links import visit_url, waitlist_url

logger = logging.getLogger(__name__)

#: How many other dates a cancellation email suggests.
OTHER_DATES = 5

def _links(settings: Settings) -> dict[str, str]:
    return {"public_url": settings.public_url.rstrip("/"), "office_phone": settings.office_phone}


# --- the waiting list -----------------------------------------------------------------------


@dataclass(frozen=True)
class _SlotFacts:
    """What a waiting-list email says of its visit."""

    title: str
    provider: str
    starts_at: datetime
    ends_at: datetime


async def _slot_facts(session: AsyncSession, slot_id: int) -> tuple[dict[str, str], str, Any]:
    row = (
        await session.execute(
            select(Activity.title, Activity.name, Provider.name.label("provider"), Slot)
            .join(Activity, Slot.activity_id == Activity.id)
            .join(Provider, Activity.provider_id == Provider.id)
            .where(Slot.id == slot_id)
        )
    ).one()
    return dict(row.title or {}), row.name, row


def join_notifier(settings: Settings, environment: Environment | None = None) -> JoinNotify:
    """``notify`` for ``waitlist.join``: "you are on the waiting list", with the entry's link."""
    environment = environment or emails.default_environment()

    async def notify(session: AsyncSession, receipt: JoinReceipt) -> None:
        entry = receipt.entry
        titles, name, row = await _slot_facts(session, entry.slot_id)
        with i18n.use_locale(entry.locale):
            facts = _SlotFacts(
                i18n.localized(titles, name), row.provider, row.Slot.starts_at, row.Slot.ends_at
            )
            email = emails.compose(
                environment,
                "waitlist_joined",
                i18n.gettext("On the waiting list: {title}, {day}").format(
                    title=facts.title, day=i18n.day(facts.starts_at)
                ),
                entry=entry,
                slot=facts,
                party=party_text(entry.adults, entry.children),
                entry_url=waitlist_url(settings.public_url, receipt.token),
                **_links(settings),
            )
        await emails.enqueue(session, f"waitlist-joined:{entry.id}", entry.email, email)

    return notify


def offer_notifier(settings: Settings, environment: Environment | None = None) -> OfferNotify:
    """``notify`` for ``offer_freed_places`` and ``waitlist.tick``: places are free, claim them
    with this link before the offer runs out."""
    environment = environment or emails.default_environment()

    async def notify(session: AsyncSession, offer: Offer) -> None:
        entry = offer.entry
        with i18n.use_locale(entry.locale):
            facts = _SlotFacts(
                offer.activity_in(i18n.current()), offer.provider, offer.starts_at, offer.ends_at
            )
            email = emails.compose(
                environment,
                "waitlist_offer",
                i18n.gettext("Places are free for you: {title}, {day}").format(
                    title=facts.title, day=i18n.day(facts.starts_at)
                ),
                entry=entry,
                slot=facts,
                party=party_text(entry.adults, entry.children),
                claim_url=waitlist_url(settings.public_url, offer.claim_token),
                expires_at=offer.expires_at,
                **_links(settings),
            )
        await emails.enqueue(session, offer.dedup_key, entry.email, email)

    return notify


async def offer_freed_places(
    db: Database, slot_id: int, settings: Settings, environment: Environment | None = None
) -> list[Offer]:
    """After places were given back: offer them to the waiting list. Never fails its caller
    (the cancellation is done; ``reservations tick`` catches up on anything missed)."""
    try:
        return await waitlist.offer_freed_places(
            db,
            slot_id,
            notify=offer_notifier(settings, environment),
            offer_minutes=settings.waitlist_offer_minutes,
        )
    except Exception:
        logger.exception("could not offer the freed places of slot %s", slot_id)
        return []


# --- a cancelled visit ----------------------------------------------------------------------


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
        OtherDate(s.id, s.starts_at, s.ends_at, s.capacity - s.booked, visit_url(settings.public_url, s.id))
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


async def notify_booking_cancelled_by_office(
    db: Database,
    booking_id: int,
    settings: Settings,
    *,
    environment: Environment | None = None,
    now: datetime | None = None,
) -> int:
    """Tell a visitor whose booking the office cancelled (the visit itself goes on), with the
    other dates open; 1 when queued, 0 without an email or when already told."""
    async with db.reading() as session:
        slot_id = await session.scalar(select(Booking.slot_id).where(Booking.id == booking_id))
    if slot_id is None:
        return 0
    return await _tell_cancelled(
        db, slot_id, [booking_id], settings, _BOOKING_OFF, environment=environment, now=now
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
        titles, name, row = await _slot_facts(session, slot_id)
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
        **_links(settings),
    )
