"""Payments of paid visits (STUB: the interface the web layers code against; the payments
helper implements it). Online: an online booking of a paid visit is a hold
(``pending_payment``) with a Stripe Checkout Session; Stripe's signed events confirm it.
Without Stripe configured, paid visits are paid on site, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest


@dataclass(frozen=True)
class PaymentSettings:
    """What the office configures about payments (from ``Settings``)."""

    online: bool  # Stripe configured
    hold_minutes: int = 15
    webhook_secret: str = ""
    public_url: str = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class OnlineBooking:
    receipt: BookingReceipt
    #: Where the visitor pays (Stripe's hosted page): None for a free visit, or without Stripe.
    checkout_url: str | None


async def book_online(
    db: Database,
    request: BookingRequest,
    policy: BookingPolicy,
    payment: PaymentSettings,
    gateway: object | None,
    *,
    actor: str,
    idempotency_key: str | None = None,
    now: clock.At = None,
) -> OnlineBooking:
    """A visitor's booking: a hold with a checkout when the visit is paid and Stripe is
    configured, else a confirmed booking (paid on site when priced)."""
    raise NotImplementedError


async def resume_checkout(db: Database, gateway: object, booking_id: int) -> str | None:
    """The open checkout's address for a booking still on hold (the visitor's "pay now")."""
    raise NotImplementedError


@dataclass(frozen=True)
class BookingMoney:
    """What a booking's pages say about its money."""

    due_cents: int  # the price of the party at the activity's prices
    paid_cents: int
    refunded_cents: int
    pending_refund_cents: int
    #: "stripe", "cash", "cheque", "card_terminal", "on_site" or None (nothing recorded)
    method: str | None
    #: True while a hold waits for its payment
    awaiting_payment: bool
    hold_expires_at: datetime | None
