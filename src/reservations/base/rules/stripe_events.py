"""Stripe's signed events, each processed exactly once: what a payment, an expiry, a declined
payment or a refund does to our bookings.

The event's id is inserted first, in the transaction that applies it: a replay (or the same
event delivered twice at once: the second waits on the first's row, then finds it) changes
nothing. Events may come in any order or twice under different ids: each handler looks at
the state the booking and its payment are in, never at the order they came in, so the end
state is the same. A session is ours only when its metadata names the booking and the
payment we recorded for it, and its amount and currency are the ones we asked for.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.infra import outbox
from reservations.base.infra.db import Database
from reservations.base.models import (
    HOLD_STATUSES,
    Booking,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    StripeEvent,
)
from reservations.base.rules import audit, holds, places, refunds
from reservations.base.rules.places import Confirmation

logger = logging.getLogger(__name__)

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
ACTOR = "stripe"
PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
ENDED_EVENTS = {
    "checkout.session.expired": PaymentStatus.EXPIRED,
    "checkout.session.async_payment_failed": PaymentStatus.FAILED,
}


class Outcome(enum.StrEnum):
    REPLAYED = "replayed"  # this event id was processed before: nothing done
    IGNORED = "ignored"  # not ours, or a type we do not act on
    MISMATCH = "mismatch"  # names our booking but not what we asked for: refused, audited
    CONFIRMED = "confirmed"  # paid: the booking is confirmed, its confirmation released
    PAID = "paid"  # paid, the booking was confirmed already (a payment link; a duplicate)
    WAITING = "waiting"  # completed, the money not there yet (a delayed method)
    REFUND_DUE = "refund_due"  # paid too late for the places: a full refund is on its way
    ENDED = "ended"  # the checkout ended unpaid; a hold still running ends with it
    REFUNDS_UPDATED = "refunds_updated"


@dataclass(frozen=True)
class Handled:
    outcome: Outcome
    booking_id: int | None = None


async def handle_event(db: Database, event: dict[str, Any], *, now: clock.At = None) -> Handled:
    """Apply one verified event (``StripeGateway.verify_event``'s result)."""
    read_clock = clock.reader(now)
    kind, obj = event.get("type", ""), event.get("data", {}).get("object", {})
    async with db.writing() as session:
        insert_event = _INSERTS[session.get_bind().dialect.name](StripeEvent)
        fresh = (
            await session.execute(
                insert_event.values(event_id=event["id"], type=kind, received_at=read_clock())
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(StripeEvent.event_id)
            )
        ).first()
        if fresh is None:
            return Handled(Outcome.REPLAYED)
        if kind in PAID_EVENTS:
            handled = await _paid(session, obj, read_clock)
        elif kind in ENDED_EVENTS:
            handled = await _ended(session, obj, ENDED_EVENTS[kind], read_clock)
        elif kind == "charge.refunded":
            handled = await _refunded(session, obj, read_clock)
        else:
            handled = Handled(Outcome.IGNORED)
        if handled.booking_id is not None:
            await session.execute(
                update(StripeEvent)
                .where(StripeEvent.event_id == event["id"])
                .values(booking_id=handled.booking_id)
            )
    return handled


async def _our_payment(session: AsyncSession, checkout: dict[str, Any]) -> Any:
    """Our payment and booking for a Checkout Session, or None if the session is not ours."""
    return (
        await session.execute(
            select(
                Payment.id,
                Payment.status,
                Payment.amount_cents,
                Payment.currency,
                Booking.id.label("booking_id"),
                Booking.slot_id,
                Booking.reference,
                Booking.status.label("booking_status"),
            )
            .join(Booking, Booking.id == Payment.booking_id)
            .where(
                Payment.stripe_session_id == checkout.get("id"),
                Payment.method == PaymentMethod.STRIPE,
            )
        )
    ).first()


async def _paid(
    session: AsyncSession, checkout: dict[str, Any], read_clock: clock.Clock
) -> Handled:
    ours = await _our_payment(session, checkout)
    metadata = checkout.get("metadata") or {}
    if ours is None or metadata.get("booking_reference") != ours.reference:
        logger.warning("Stripe session %s names no booking of ours", checkout.get("id"))
        return Handled(Outcome.IGNORED)
    if (checkout.get("amount_total"), checkout.get("currency")) != (
        ours.amount_cents,
        ours.currency,
    ):
        audit.record(
            session,
            ACTOR,
            "payment.mismatch",
            slot_id=ours.slot_id,
            booking_id=ours.booking_id,
            expected={"amount_cents": ours.amount_cents, "currency": ours.currency},
            got={
                "amount_cents": checkout.get("amount_total"),
                "currency": checkout.get("currency"),
            },
        )
        return Handled(Outcome.MISMATCH, ours.booking_id)
    if checkout.get("payment_status") != "paid":
        return Handled(Outcome.WAITING, ours.booking_id)
    if ours.status == PaymentStatus.PAID:
        return Handled(Outcome.PAID, ours.booking_id)  # told twice: done the first time
    now = read_clock()
    confirmation = await places.confirm_hold(session, ours.booking_id, now, actor=ACTOR)
    intent = checkout.get("payment_intent")
    await session.execute(
        update(Payment)
        .where(Payment.id == ours.id)
        .values(
            status=PaymentStatus.PAID,
            paid_at=now,
            checkout_url=None,
            stripe_payment_intent=intent if isinstance(intent, str) else (intent or {}).get("id"),
        )
    )
    audit.record(
        session,
        ACTOR,
        "payment.paid",
        slot_id=ours.slot_id,
        booking_id=ours.booking_id,
        after={"amount_cents": ours.amount_cents},
    )
    confirmed_key = f"booking-confirmed:{ours.booking_id}"
    if confirmation == Confirmation.CONFIRMED:
        await outbox.release(session, confirmed_key, now)
        return Handled(Outcome.CONFIRMED, ours.booking_id)
    if confirmation == Confirmation.ALREADY_CONFIRMED:
        return Handled(Outcome.PAID, ours.booking_id)
    # Paid for places it no longer holds (the hold ran out and they are gone, or it was
    # cancelled): everything goes back, and the visitor is told (``payment_emails``).
    await outbox.discard(session, confirmed_key)
    await refunds.request(
        session,
        ours.booking_id,
        ours.id,
        ours.amount_cents,
        RefundReason.NO_PLACES,
        actor=ACTOR,
        now=now,
    )
    return Handled(Outcome.REFUND_DUE, ours.booking_id)


async def _ended(
    session: AsyncSession,
    checkout: dict[str, Any],
    status: PaymentStatus,
    read_clock: clock.Clock,
) -> Handled:
    """The checkout ended unpaid (expired, or its delayed payment was declined): the payment
    says so, and a hold still running ends now rather than at its time."""
    ours = await _our_payment(session, checkout)
    if ours is None:
        return Handled(Outcome.IGNORED)
    # The slot's row before the payment's, as a payment does: two events never deadlock.
    await holds.lock_slot_row(session, ours.slot_id)
    if ours.status == PaymentStatus.OPEN:
        await session.execute(
            update(Payment)
            .where(Payment.id == ours.id, Payment.status == PaymentStatus.OPEN)
            .values(status=status, checkout_url=None)
        )
    if ours.booking_status in HOLD_STATUSES:
        await holds.expire_now(session, ours.slot_id, ours.booking_id, read_clock(), actor=ACTOR)
        await outbox.discard(session, f"booking-confirmed:{ours.booking_id}")
    return Handled(Outcome.ENDED, ours.booking_id)


async def _refunded(
    session: AsyncSession, charge: dict[str, Any], read_clock: clock.Clock
) -> Handled:
    """A charge was refunded: our refunds it lists succeeded; one made elsewhere (Stripe's
    dashboard) is recorded, so that the reports add up."""
    intent = charge.get("payment_intent")
    payment = (
        await session.execute(
            select(Payment.id, Payment.booking_id).where(
                Payment.stripe_payment_intent == intent, Payment.method == PaymentMethod.STRIPE
            )
        )
    ).first()
    if payment is None:
        return Handled(Outcome.IGNORED)
    now = read_clock()
    for listed in (charge.get("refunds") or {}).get("data") or []:
        if listed.get("status") not in ("succeeded", "pending"):
            continue
        ours = (listed.get("metadata") or {}).get("refund_id", "")
        known = await session.execute(
            update(Refund)
            .where(
                (Refund.stripe_refund_id == listed["id"])
                | (Refund.id == (int(ours) if ours.isdigit() else None))
            )
            .values(status=RefundStatus.SUCCEEDED, stripe_refund_id=listed["id"], completed_at=now)
            .returning(Refund.id)
        )
        if known.first() is None:
            await session.execute(
                insert(Refund).values(
                    booking_id=payment.booking_id,
                    payment_id=payment.id,
                    amount_cents=listed["amount"],
                    status=RefundStatus.SUCCEEDED,
                    reason=RefundReason.STAFF,
                    idempotency_key=f"stripe-{listed['id']}",
                    stripe_refund_id=listed["id"],
                    requested_by=ACTOR,
                    created_at=now,
                    completed_at=now,
                )
            )
    return Handled(Outcome.REFUNDS_UPDATED, payment.booking_id)
