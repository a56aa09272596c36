"""The shapes the API reads and writes (msgspec Structs); times are shown in Europe/Paris."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from reservations.base.clock import OFFICE_TZ
from reservations.base.reads.availability import SlotView
from reservations.base.rules.booking import BookingView
from reservations.base.rules.contacts import MAX_EMAIL_LENGTH
from reservations.web.inputs import FILLED_TEXT_PATTERN, MAX_INTEGER

#: What the API takes as an email address, documented and enforced on the request body: a
#: plain ``name@domain.tld``, a subset of what ``contacts.is_email`` accepts (a test checks
#: that), so a request that matches the schema is never refused for its email.
EMAIL_PATTERN = (
    "^[A-Za-z0-9_%+-]+(?:\\.[A-Za-z0-9_%+-]+)*"
    "@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}$"
)
#: A phone number as ``contacts.is_phone`` reads it (ASCII digits, at least 6, with spaces,
#: dots, dashes, slashes or brackets, an optional leading +), or nothing.
PHONE_PATTERN = "^(?:\\+?[ .()/-]*(?:[0-9][ .()/-]*){6,})?$"
#: The languages of ``settings.SUPPORTED_LOCALES`` (a test checks they agree).
Locale = Literal["fr", "en", "de", "nl"]

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


def _count(description: str) -> Any:
    return msgspec.Meta(ge=0, le=MAX_INTEGER, description=description)


class BookingIn(msgspec.Struct, forbid_unknown_fields=True):
    """A booking request. ``adults + children`` must be from 1 to the office's largest party
    (the schema states it; ``party_too_large`` says it too)."""

    slot_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_INTEGER, description="The visit's id")]
    adults: Annotated[int, _count("Adults (with children: at least 1 person in all)")]
    name: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=200,
            pattern=FILLED_TEXT_PATTERN,
            description="The name the booking is made for (not blank, no control characters)",
        ),
    ]
    email: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_EMAIL_LENGTH,
            pattern=EMAIL_PATTERN,
            description="Where the confirmation and the manage link are sent: name@domain.tld",
        ),
    ]
    children: Annotated[int, _count("Children")] = 0
    phone: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=40,
                pattern=PHONE_PATTERN,
                description="A phone number: at least 6 digits, spaces . - / ( ) and a leading +",
            ),
        ]
        | None
    ) = None
    locale: Annotated[Locale, msgspec.Meta(description="The language of the emails")] = "fr"


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
        """Built straight from the read model, its times in the office's zone (one copy)."""
        return cls(
            id=view.id,
            activity=view.activity,
            activity_id=view.activity_id,
            provider=view.provider,
            provider_id=view.provider_id,
            kind=view.kind,
            sector=view.sector,
            village=view.village,
            starts_at=view.starts_at.astimezone(OFFICE_TZ),
            ends_at=view.ends_at.astimezone(OFFICE_TZ),
            capacity=view.capacity,
            remaining=view.remaining,
            min_participants=view.min_participants,
            status=view.status,
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
    #: A booking ``pending_payment`` holds its places until then.
    hold_expires_at: datetime | None = None
    #: Where the visitor pays a ``pending_payment`` booking (only in the booking's answer).
    checkout_url: str | None = None

    @classmethod
    def of(
        cls,
        booking: BookingView,
        manage_token: str | None = None,
        *,
        checkout_url: str | None = None,
    ) -> BookingOut:
        slot = BookedSlot(
            id=booking.slot_id,
            activity=booking.activity_in(booking.locale),
            provider=booking.provider,
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            status=booking.slot_status,
        )
        fields = {
            **vars(booking),
            "slot": _in_office_time(slot),
            "manage_token": manage_token,
            "checkout_url": checkout_url,
        }
        return _in_office_time(msgspec.convert(fields, cls))
