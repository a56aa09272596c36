"""Payments of paid visits. Online, a visitor's booking of a paid visit is a hold
(``pending_payment``) with a Stripe Checkout Session; Stripe's signed events confirm it
(``stripe_events``). Without Stripe configured, paid visits are paid on site, as before. At the
counter, staff record how a booking was paid, or send the visitor a payment link.

The Stripe call is made after the places are held, outside every lock: a hold costs the slot's
row no more than a confirmed booking does.
"""

from __future__ import annotations

from dataclasses import dataclass

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import StripeGateway
from reservations.base.models import PaymentMethod
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest


@dataclass(frozen=True)
class PaymentSettings:
    """What the office configures about payments (from ``Settings``)."""

    online: bool  # Stripe configured
    hold_minutes: int = 15
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
    gateway: StripeGateway | None,
    *,
    actor: str,
    idempotency_key: str | None = None,
    now: clock.At = None,
) -> OnlineBooking:
    """A visitor's booking: a hold with a checkout when the visit is paid and Stripe is
    configured, else a confirmed booking (paid on site when priced). A retry with the same
    key answers the same booking and checkout. If Stripe cannot open a checkout, the hold is
    cancelled at once (its places free again) and ``PaymentUnavailable`` is raised."""
    raise NotImplementedError


async def resume_checkout(db: Database, booking_id: int) -> str | None:
    """The open checkout's address for a booking still on hold (the visitor's "pay now"), or
    None when there is nothing to pay (paid, ended, free, or the hold ran out)."""
    raise NotImplementedError


async def record_counter_payment(
    db: Database,
    booking_id: int,
    method: PaymentMethod,
    amount_cents: int,
    *,
    actor: str,
    now: clock.At = None,
) -> int:
    """Staff record how a booking was paid (cash, cheque, card terminal: paid now; on site:
    due to the farmer on the day) and the amount, with an audit entry; the payment's id.
    ``InvalidAmount`` for a negative amount; ``PaymentMethodRefused`` for ``stripe``."""
    raise NotImplementedError


async def send_payment_link(
    db: Database,
    gateway: StripeGateway,
    booking_id: int,
    payment: PaymentSettings,
    *,
    actor: str,
    now: clock.At = None,
) -> str:
    """A Stripe checkout for a confirmed (counter or phone) booking of a paid visit, valid
    24 hours or until the visit's cut-off: its address, for staff to send the visitor
    (``notices.payment_emails.queue_payment_link``). An open link is reused.
    ``NothingToPay`` when the booking owes nothing; ``PaymentUnavailable`` when Stripe
    cannot be reached."""
    raise NotImplementedError


async def expire_checkouts(db: Database, gateway: StripeGateway, *, now: clock.At = None) -> int:
    """``tick``: end at Stripe the open checkouts whose hold is over (a checkout lives at
    least 30 minutes at Stripe, a hold 15), so that nobody pays for places no longer held."""
    raise NotImplementedError
