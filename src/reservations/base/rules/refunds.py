"""Refunds: what a cancellation gives back (the activity's policy), staff's partial refunds,
and sending them to Stripe exactly once, retried by ``tick`` while Stripe is unreachable.

A refund is a row first (``pending``, with its idempotency key), written in the transaction
that cancels; ``settle`` sends the pending ones to Stripe. The same key on every attempt means
a retry after a timeout never refunds twice.

Policy (``share_due``): a slot cancelled (go/no-go, the farmer, staff, weather) refunds
everything paid online; a booking cancelled before the visit's cut-off too; after it (staff
cancelling for a visitor), the activity's ``late_refund_percent``. Money paid at the counter is
given back at the counter: staff record it, nothing is sent.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import BookingNotFound, InvalidAmount, RefundTooLarge
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import (
    PaymentRefused,
    PaymentServiceUnavailable,
    StripeGateway,
)
from reservations.base.models import (
    Activity,
    Booking,
    CancelledBy,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    Slot,
)
from reservations.base.rules import audit

logger = logging.getLogger(__name__)

#: Waits between attempts while Stripe is unreachable: 1, 2, 4 ... minutes, at most an hour.
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)
#: A refund being sent is not sent again by another run for this long (beyond the call's
#: timeout).
CLAIM = timedelta(minutes=2)
#: Refunds that count against what a payment can still give back.
_COUNTED = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)


def share_due(
    paid_cents: int, cancelled_by: CancelledBy, before_cutoff: bool, late_percent: int
) -> int:
    """What a cancellation gives back of ``paid_cents`` paid online."""
    if cancelled_by == CancelledBy.SLOT or before_cutoff:
        return paid_cents
    return paid_cents * late_percent // 100


def retry_delay(attempts: int) -> timedelta:
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)


async def _refundable(session: AsyncSession, booking_id: int) -> list[tuple[int, int]]:
    """(payment id, cents it can still give back) of the booking's paid online payments."""
    given = (
        select(func.coalesce(func.sum(Refund.amount_cents), 0))
        .where(Refund.payment_id == Payment.id, Refund.status.in_(_COUNTED))
        .correlate(Payment)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Payment.id, Payment.amount_cents - given)
        .where(
            Payment.booking_id == booking_id,
            Payment.method == PaymentMethod.STRIPE,
            Payment.status == PaymentStatus.PAID,
        )
        .order_by(Payment.id)
    )
    return [(payment_id, left) for payment_id, left in rows if left > 0]


async def request(
    session: AsyncSession,
    booking_id: int,
    payment_id: int,
    amount_cents: int,
    reason: RefundReason,
    *,
    actor: str,
    now: datetime,
) -> int:
    """A pending refund of one payment, in the caller's transaction, with its audit entry."""
    refund_id = (
        await session.execute(
            insert(Refund)
            .values(
                booking_id=booking_id,
                payment_id=payment_id,
                amount_cents=amount_cents,
                status=RefundStatus.PENDING,
                reason=reason,
                idempotency_key=f"refund-{uuid.uuid4().hex}",
                requested_by=actor,
                created_at=now,
            )
            .returning(Refund.id)
        )
    ).scalar_one()
    audit.record(
        session,
        actor,
        "refund.requested",
        booking_id=booking_id,
        after={"amount_cents": amount_cents, "reason": reason.value},
    )
    return refund_id


async def _spread(
    session: AsyncSession,
    booking_id: int,
    amount_cents: int,
    reason: RefundReason,
    *,
    actor: str,
    now: datetime,
) -> list[int]:
    """Refund ``amount_cents`` across the booking's online payments, oldest first."""
    refund_ids = []
    for payment_id, left in await _refundable(session, booking_id):
        if amount_cents <= 0:
            break
        part = min(left, amount_cents)
        refund_ids.append(
            await request(session, booking_id, payment_id, part, reason, actor=actor, now=now)
        )
        amount_cents -= part
    return refund_ids


async def on_cancellation(
    session: AsyncSession,
    booking_ids: list[int],
    cancelled_by: CancelledBy,
    *,
    before_cutoff: bool,
    actor: str,
    now: datetime,
) -> list[int]:
    """The refunds the policy gives for bookings just cancelled, in the cancelling
    transaction (nothing for a booking that paid nothing online)."""
    if not booking_ids:
        return []
    paid = (
        await session.execute(
            select(Payment.booking_id, func.sum(Payment.amount_cents), Activity.late_refund_percent)
            .join(Booking, Booking.id == Payment.booking_id)
            .join(Slot, Slot.id == Booking.slot_id)
            .join(Activity, Activity.id == Slot.activity_id)
            .where(
                Payment.booking_id.in_(booking_ids),
                Payment.method == PaymentMethod.STRIPE,
                Payment.status == PaymentStatus.PAID,
            )
            .group_by(Payment.booking_id, Activity.late_refund_percent)
        )
    ).all()
    reason = (
        RefundReason.SLOT_CANCELLED
        if cancelled_by == CancelledBy.SLOT
        else RefundReason.VISITOR_CANCELLED
    )
    refund_ids = []
    for booking_id, cents, late_percent in paid:
        due = share_due(cents, cancelled_by, before_cutoff, late_percent)
        refund_ids += await _spread(session, booking_id, due, reason, actor=actor, now=now)
    return refund_ids


async def refund_partial(
    db: Database, booking_id: int, amount_cents: int, *, actor: str, now: clock.At = None
) -> int:
    """Staff refund part (or all) of what a booking paid online, with an audit entry; the
    refund's id (``pending`` until ``settle`` sends it). ``InvalidAmount`` when the amount is
    not positive; ``RefundTooLarge`` beyond what was paid online and not yet refunded."""
    if amount_cents <= 0:
        raise InvalidAmount(field="amount")
    at = clock.reader(now)()
    async with db.writing() as session:
        # The booking's row, locked: two clerks refunding at once cannot give back twice.
        found = await session.scalar(
            select(Booking.id).where(Booking.id == booking_id).with_for_update()
        )
        if found is None:
            raise BookingNotFound()
        left = sum(cents for _payment, cents in await _refundable(session, booking_id))
        if amount_cents > left:
            raise RefundTooLarge(
                field="amount", maximum=f"{left // 100},{left % 100:02d} €", maximum_cents=left
            )
        refund_ids = await _spread(
            session, booking_id, amount_cents, RefundReason.STAFF, actor=actor, now=at
        )
    return refund_ids[0]


async def settle(db: Database, gateway: StripeGateway, *, now: clock.At = None) -> int:
    """Send every due pending refund to Stripe; the number that succeeded. Stripe down: the
    refund stays pending with its error and a later attempt time (``tick`` retries). Each
    refund is claimed before it is sent (its next attempt pushed past the call's timeout),
    so that two runs at once (``tick`` and a cancellation) never send it together."""
    read_clock = clock.reader(now)
    async with db.reading() as session:
        due = list(
            await session.scalars(
                select(Refund.id)
                .where(Refund.status == RefundStatus.PENDING, _due(read_clock()))
                .order_by(Refund.id)
            )
        )
    succeeded = 0
    for refund_id in due:
        claimed = await _claim(db, refund_id, read_clock())
        if claimed is not None:
            succeeded += await _send(db, gateway, claimed, read_clock)
    return succeeded


def _due(at: datetime) -> ColumnElement[bool]:
    return Refund.next_attempt_at.is_(None) | (Refund.next_attempt_at <= at)


async def _claim(db: Database, refund_id: int, at: datetime) -> Any:
    async with db.writing() as session:
        return (
            await session.execute(
                update(Refund)
                .where(Refund.id == refund_id, Refund.status == RefundStatus.PENDING, _due(at))
                .values(attempts=Refund.attempts + 1, next_attempt_at=at + CLAIM)
                .returning(
                    Refund.id,
                    Refund.amount_cents,
                    Refund.idempotency_key,
                    Refund.attempts,
                    Refund.booking_id,
                    Refund.payment_id,
                )
            )
        ).first()


async def _send(db: Database, gateway: StripeGateway, refund: Any, read_clock: clock.Clock) -> int:
    """One attempt at Stripe with the refund's own key; 1 if it succeeded."""
    async with db.reading() as session:
        intent = await session.scalar(
            select(Payment.stripe_payment_intent).where(Payment.id == refund.payment_id)
        )
    values: dict[str, object]
    try:
        if intent is None:
            raise PaymentRefused("the payment has no payment intent to refund")
        sent = await gateway.refund(
            payment_intent=intent,
            amount_cents=refund.amount_cents,
            idempotency_key=refund.idempotency_key,
            metadata={"refund_id": str(refund.id), "booking_id": str(refund.booking_id)},
        )
    except PaymentServiceUnavailable as error:
        later = read_clock() + retry_delay(refund.attempts)
        values = {"last_error": str(error), "next_attempt_at": later}
    except PaymentRefused as error:
        logger.warning("Stripe refused refund %s: %s", refund.id, error)
        values = {"status": RefundStatus.FAILED, "last_error": str(error)}
    else:
        ok = sent.status in ("succeeded", "pending")
        values = {
            "status": RefundStatus.SUCCEEDED if ok else RefundStatus.FAILED,
            "stripe_refund_id": sent.id,
            "completed_at": read_clock() if ok else None,
            "last_error": None if ok else f"Stripe says {sent.status}",
        }
    async with db.writing() as session:
        await session.execute(
            update(Refund)
            .where(Refund.id == refund.id, Refund.status == RefundStatus.PENDING)
            .values(**values)
        )
    return int(values.get("status") == RefundStatus.SUCCEEDED)


async def recent_late_payment_refunds(db: Database, *, now: clock.At = None) -> list[int]:
    """The bookings refunded in the last two days because their payment came too late: whom
    ``tick`` makes sure were told (the email's key makes telling twice harmless)."""
    since = clock.reader(now)() - timedelta(days=2)
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(Refund.booking_id)
                .where(Refund.reason == RefundReason.NO_PLACES, Refund.created_at >= since)
                .distinct()
            )
        )
