"""What a booking's pages say about its money: due, paid, refunded, how, and whether a hold
still waits for its payment. One query for one booking or for a list (no N+1)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from reservations.base import clock
from reservations.base.errors import BookingNotFound
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    Activity,
    Booking,
    BookingStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    Slot,
)
from reservations.base.rules.prices import price_of


@dataclass(frozen=True)
class BookingMoney:
    due_cents: int  # the price of the party at the activity's prices
    paid_cents: int  # paid, whatever the method (on-site payments count once recorded paid)
    paid_online_cents: int  # of which by Stripe
    refunded_cents: int  # refunds that succeeded
    pending_refund_cents: int  # refunds on their way (Stripe unreachable, or just asked)
    #: "stripe", "cash", "cheque", "card_terminal", "on_site" or None (nothing recorded):
    #: the method of the latest payment recorded
    method: str | None
    #: True while a hold waits for its payment (and has not run out)
    awaiting_payment: bool
    hold_expires_at: datetime | None
    #: The open checkout's address (Stripe's hosted page), while there is one
    checkout_url: str | None

    @property
    def refundable_cents(self) -> int:
        """What staff may still refund online (paid by Stripe, not refunded or on its way)."""
        return max(self.paid_online_cents - self.refunded_cents - self.pending_refund_cents, 0)

    @property
    def owed_cents(self) -> int:
        """What is still to be paid (nothing for a free visit)."""
        return max(self.due_cents - self.paid_cents, 0)


def _sum_of_payments(*conditions: ColumnElement[bool]) -> Any:
    return (
        select(func.coalesce(func.sum(Payment.amount_cents), 0))
        .where(Payment.booking_id == Booking.id, *conditions)
        .correlate(Booking)
        .scalar_subquery()
    )


def _sum_of_refunds(status: RefundStatus) -> Any:
    return (
        select(func.coalesce(func.sum(Refund.amount_cents), 0))
        .where(Refund.booking_id == Booking.id, Refund.status == status)
        .correlate(Booking)
        .scalar_subquery()
    )


def _latest(column: Any, *conditions: ColumnElement[bool]) -> Any:
    return (
        select(column)
        .where(Payment.booking_id == Booking.id, *conditions)
        .order_by(Payment.id.desc())
        .limit(1)
        .correlate(Booking)
        .scalar_subquery()
    )


async def money_of_many(
    db: Database, booking_ids: Sequence[int], *, now: clock.At = None
) -> dict[int, BookingMoney]:
    at = clock.reader(now)()
    paid = Payment.status == PaymentStatus.PAID
    query = (
        select(
            Booking.id,
            Booking.adults,
            Booking.children,
            Booking.status,
            Booking.hold_expires_at,
            Booking.reseller_id,
            Activity.price_adult_cents,
            Activity.price_child_cents,
            _sum_of_payments(paid).label("paid"),
            _sum_of_payments(paid, Payment.method == PaymentMethod.STRIPE).label("online"),
            _sum_of_refunds(RefundStatus.SUCCEEDED).label("refunded"),
            _sum_of_refunds(RefundStatus.PENDING).label("pending"),
            _latest(Payment.method).label("method"),
            _latest(
                Payment.checkout_url,
                Payment.status == PaymentStatus.OPEN,
                Payment.checkout_url.is_not(None),
                Payment.expires_at > at,
            ).label("checkout_url"),
        )
        .join(Slot, Slot.id == Booking.slot_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .where(Booking.id.in_(list(booking_ids)))
    )
    async with db.reading() as session:
        rows = (await session.execute(query)).all()
    money = {}
    for row in rows:
        running = row.status in HOLD_STATUSES and row.hold_expires_at > at
        live = running or row.status == BookingStatus.CONFIRMED
        price = price_of(
            row.adults,
            row.children,
            adult_cents=row.price_adult_cents,
            child_cents=row.price_child_cents,
        ).total_cents
        money[row.id] = BookingMoney(
            # A reseller's guest pays the reseller: nothing is due to the office here.
            due_cents=0 if row.reseller_id is not None else price,
            paid_cents=row.paid,
            paid_online_cents=row.online,
            refunded_cents=row.refunded,
            pending_refund_cents=row.pending,
            method=row.method.value if isinstance(row.method, enum.Enum) else row.method,
            awaiting_payment=running and row.status == BookingStatus.PENDING_PAYMENT,
            hold_expires_at=row.hold_expires_at,
            checkout_url=row.checkout_url if live else None,
        )
    return money


async def money_of(db: Database, booking_id: int, *, now: clock.At = None) -> BookingMoney:
    found = await money_of_many(db, [booking_id], now=now)
    if booking_id not in found:
        raise BookingNotFound()
    return found[booking_id]


class ReturnState(enum.StrEnum):
    CONFIRMED = "confirmed"  # paid, and the places are the visitor's
    WAITING = "waiting"  # Stripe has not told us yet: refresh (or pay, if they left)
    ENDED = "ended"  # the hold ran out (or was cancelled) unpaid
    REFUNDED = "refunded"  # paid too late for the places: refunded


@dataclass(frozen=True)
class CheckoutReturn:
    state: ReturnState
    reference: str
    booking_id: int
    slot_id: int
    locale: str
    hold_expires_at: datetime | None


async def checkout_return(
    db: Database, reference: str, session_id: str | None, *, now: clock.At = None
) -> CheckoutReturn | None:
    """The state of the booking a visitor comes back from Stripe for: None unless the
    booking ``reference`` and the checkout ``session_id`` belong together (without a session
    id, as from Stripe's "back" link: the booking's latest checkout)."""
    at = clock.reader(now)()
    conditions = [Booking.reference == reference, Payment.method == PaymentMethod.STRIPE]
    if session_id is not None:
        conditions.append(Payment.stripe_session_id == session_id)
    no_places_refund = (
        select(func.count(Refund.id))
        .where(Refund.booking_id == Booking.id, Refund.reason == RefundReason.NO_PLACES)
        .correlate(Booking)
        .scalar_subquery()
    )
    async with db.reading() as session:
        row = (
            await session.execute(
                select(
                    Booking.id,
                    Booking.slot_id,
                    Booking.status,
                    Booking.locale,
                    Booking.hold_expires_at,
                    Payment.status.label("payment_status"),
                    no_places_refund.label("refunded"),
                )
                .join(Payment, Payment.booking_id == Booking.id)
                .where(*conditions)
                .order_by(Payment.id.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    status = BookingStatus(row.status)
    if row.refunded:
        state = ReturnState.REFUNDED
    elif status == BookingStatus.CONFIRMED and row.payment_status == PaymentStatus.PAID:
        state = ReturnState.CONFIRMED
    elif status == BookingStatus.CONFIRMED or (
        status in HOLD_STATUSES and row.hold_expires_at > at
    ):
        state = ReturnState.WAITING  # a hold, or a payment link, not paid yet
    else:
        state = ReturnState.ENDED
    return CheckoutReturn(state, reference, row.id, row.slot_id, row.locale, row.hold_expires_at)
