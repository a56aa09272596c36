"""The shapes the API reads and writes (msgspec Structs); times are shown in Europe/Paris."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from reservations.base.clock import OFFICE_TZ
from reservations.base.reads.availability import SlotView
from reservations.base.rules.booking import BookingView


def _local(instant: datetime | None) -> datetime | None:
    return instant.astimezone(OFFICE_TZ) if instant else None


class BookingIn(msgspec.Struct, forbid_unknown_fields=True):
    slot_id: int
    adults: int
    name: Annotated[str, msgspec.Meta(max_length=200)]
    email: Annotated[str, msgspec.Meta(max_length=320)]
    children: int = 0
    phone: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    locale: str = "fr"


class SlotOut(msgspec.Struct):
    id: int
    activity: str
    activity_id: int
    provider: str
    provider_id: int
    kind: str
    sector: str
    village: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    remaining: int
    min_participants: int
    status: str
    bookable: bool
    booking_cutoff_at: datetime
    decision_at: datetime
    price_adult_cents: int
    price_child_cents: int
    currency: str = "EUR"

    @classmethod
    def of(cls, view: SlotView) -> SlotOut:
        return cls(
            id=view.id,
            activity=view.activity,
            activity_id=view.activity_id,
            provider=view.provider,
            provider_id=view.provider_id,
            kind=view.kind.value,
            sector=view.sector,
            village=view.village,
            starts_at=view.starts_at.astimezone(OFFICE_TZ),
            ends_at=view.ends_at.astimezone(OFFICE_TZ),
            capacity=view.capacity,
            remaining=view.remaining,
            min_participants=view.min_participants,
            status=view.status.value,
            bookable=view.bookable,
            booking_cutoff_at=view.booking_cutoff_at.astimezone(OFFICE_TZ),
            decision_at=view.decision_at.astimezone(OFFICE_TZ),
            price_adult_cents=view.price_adult_cents,
            price_child_cents=view.price_child_cents,
        )


class BookedSlot(msgspec.Struct):
    id: int
    activity: str
    provider: str
    starts_at: datetime
    ends_at: datetime
    status: str


class BookingOut(msgspec.Struct, omit_defaults=True):
    reference: str
    status: str
    adults: int
    children: int
    name: str
    email: str | None
    phone: str | None
    locale: str
    channel: str
    created_at: datetime
    slot: BookedSlot
    cancelled_at: datetime | None = None
    #: Only in the answer to the booking request (and its idempotent retries): keep it secret.
    manage_token: str | None = None

    @classmethod
    def of(cls, booking: BookingView, manage_token: str | None = None) -> BookingOut:
        return cls(
            reference=booking.reference,
            status=booking.status.value,
            adults=booking.adults,
            children=booking.children,
            name=booking.name,
            email=booking.email,
            phone=booking.phone,
            locale=booking.locale,
            channel=booking.channel.value,
            created_at=booking.created_at.astimezone(OFFICE_TZ),
            cancelled_at=_local(booking.cancelled_at),
            slot=BookedSlot(
                id=booking.slot_id,
                activity=booking.activity_in(booking.locale),
                provider=booking.provider,
                starts_at=booking.starts_at.astimezone(OFFICE_TZ),
                ends_at=booking.ends_at.astimezone(OFFICE_TZ),
                status=booking.slot_status.value,
            ),
            manage_token=manage_token,
        )
