"""The shapes the API reads and writes (msgspec Structs); times are shown in Europe/Paris."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

import msgspec

from reservations.base.clock import OFFICE_TZ
from reservations.base.reads.availability import SlotView
from reservations.base.rules.booking import BookingView

_S = TypeVar("_S", bound=msgspec.Struct)


def _local(instant: datetime | None) -> datetime | None:
    return instant.astimezone(OFFICE_TZ) if instant else None


def _in_office_time(out: _S) -> _S:
    """``out`` with each of its times shown in the office's zone."""
    times = {
        name: _local(value)
        for name, value in msgspec.structs.asdict(out).items()
        if isinstance(value, datetime)
    }
    return msgspec.structs.replace(out, **times)


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
        return _in_office_time(msgspec.convert(view, cls, from_attributes=True))


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
        slot = BookedSlot(
            id=booking.slot_id,
            activity=booking.activity_in(booking.locale),
            provider=booking.provider,
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            status=booking.slot_status,
        )
        fields = {**vars(booking), "slot": _in_office_time(slot), "manage_token": manage_token}
        return _in_office_time(msgspec.convert(fields, cls))
