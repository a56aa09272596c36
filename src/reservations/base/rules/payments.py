"""Payments of paid visits. Online, a visitor's booking of a paid visit is a hold
(``pending_payment``) with a Stripe Checkout Session; Stripe's signed events confirm it
(``stripe_events``). Without Stripe configured, paid visits are paid on site, as before. At the
counter, staff record how a booking was paid, or send the visitor a payment link.

The Stripe call is made after the places are held, outside every lock: a hold costs the slot's
row no more than a confirmed booking does. The checkout's idempotency key is the booking's
reference, so a retry (a double tap, a timeout) opens one session at Stripe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import (
    BookingNotFound,
    InvalidAmount,
    NothingToPay,
    PaymentMethodRefused,
    PaymentUnavailable,
)
from reservations.base.infra import outbox
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import (
    PaymentRefused,
    PaymentServiceUnavailable,
    StripeGateway,
)
from reservations.base.models import (
    HOLD_STATUSES,
    Activity,
    Booking,
    BookingStatus,
    CancelledBy,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Slot,
)
from reservations.base.rules import audit, booking
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest
from reservations.base.rules.prices import Price, price_of

CURRENCY = "eur"
#: A payment link sent from the counter stays valid this long (Stripe's longest session).
PAYMENT_LINK_LIFETIME = timedelta(hours=24)
#: The words of the checkout's lines when the caller gives none (it gives the visitor's).
DEFAULT_CATEGORY_NAMES = {"adult": "Adult", "child": "Child"}


@dataclass(frozen=True)
class PaymentSettings:
    """What the office configures about payments (from ``Settings``)."""

    online: bool  # Stripe configured
    hold_minutes: int = 15
    public_url: str = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class BookingDesk:
    """Everything a visitor's online booking needs that the office configures once: handed
    around as one value, so that the hottest request of all takes one dependency."""

    db: Database
    policy: BookingPolicy
    payment: PaymentSettings
    gateway: StripeGateway | None

    async def book(
        self, request: BookingRequest, *, actor: str, idempotency_key: str | None = None
    ) -> OnlineBooking:
        return await book_online(
            self.db,
            request,
            self.policy,
            self.payment,
            self.gateway,
            actor=actor,
            idempotency_key=idempotency_key,
        )


@dataclass(frozen=True)
class OnlineBooking:
    receipt: BookingReceipt
    #: Where the visitor pays (Stripe's hosted page): None for a free visit, or without Stripe.
    checkout_url: str | None


@dataclass(frozen=True)
class CheckoutLine:
    """One line of a checkout, as the gateway sends it."""

    name: str
    quantity: int
    unit_cents: int


@dataclass(frozen=True)
class _Priced:
    """A booking with what its checkout needs."""

    id: int
    reference: str
    status: BookingStatus
    email: str | None
    locale: str
    title: str
    price: Price
    hold_expires_at: datetime | None
    booking_cutoff_at: datetime


def return_url(public_url: str, reference: str) -> str:
    """The page a visitor comes back to from Stripe (``visitors.payments``)."""
    return f"{public_url.rstrip('/')}/payments/return/{reference}"


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
    category_names: Mapping[str, str] = DEFAULT_CATEGORY_NAMES,
) -> OnlineBooking:
    """A visitor's booking: a hold with a checkout when the visit is paid and Stripe is
    configured, else a confirmed booking (paid on site when priced). A retry with the same
    key answers the same booking and checkout. If Stripe cannot open a checkout, the hold is
    cancelled at once (its places free again) and ``PaymentUnavailable`` is raised."""
    paid_online = payment.online and gateway is not None
    if paid_online:
        paid_online = not (await _price_of_request(db, request)).is_free
    hold_minutes = payment.hold_minutes if paid_online else None
    receipt = await booking.book(
        db,
        request,
        policy,
        actor=actor,
        idempotency_key=idempotency_key,
        now=now,
        hold_minutes=hold_minutes,
    )
    if not paid_online or receipt.booking.status not in HOLD_STATUSES:
        return OnlineBooking(receipt, None)
    assert gateway is not None
    if receipt.replayed and (url := await resume_checkout(db, receipt.booking.id, now=now)):
        return OnlineBooking(receipt, url)
    try:
        url = await _open_checkout(
            db,
            gateway,
            receipt.booking.id,
            payment,
            category_names,
            actor=actor,
            key=f"checkout-{receipt.booking.reference}",
            read_clock=clock.reader(now),
        )
    except PaymentUnavailable:
        await booking.cancel_booking(
            db, receipt.booking.id, actor="system", cancelled_by=CancelledBy.VISITOR, now=now
        )
        raise
    return OnlineBooking(receipt, url)


async def _price_of_request(db: Database, request: BookingRequest) -> Price:
    async with db.reading() as session:
        prices = (
            await session.execute(
                select(Activity.price_adult_cents, Activity.price_child_cents)
                .join(Slot, Slot.activity_id == Activity.id)
                .where(Slot.id == request.slot_id)
            )
        ).first()
    if prices is None:  # no such slot: ``book`` says so
        return Price(())
    return price_of(request.adults, request.children, adult_cents=prices[0], child_cents=prices[1])


async def _priced(session: AsyncSession, booking_id: int) -> _Priced:
    row = (
        await session.execute(
            select(
                Booking.id,
                Booking.reference,
                Booking.status,
                Booking.email,
                Booking.locale,
                Booking.adults,
                Booking.children,
                Booking.hold_expires_at,
                Slot.booking_cutoff_at,
                Activity.title,
                Activity.name,
                Activity.price_adult_cents,
                Activity.price_child_cents,
            )
            .join(Slot, Slot.id == Booking.slot_id)
            .join(Activity, Activity.id == Slot.activity_id)
            .where(Booking.id == booking_id)
        )
    ).first()
    if row is None:
        raise BookingNotFound()
    return _Priced(
        id=row.id,
        reference=row.reference,
        status=BookingStatus(row.status),
        email=row.email,
        locale=row.locale,
        title=row.title.get(row.locale) or row.title.get("fr") or row.name,
        price=price_of(
            row.adults,
            row.children,
            adult_cents=row.price_adult_cents,
            child_cents=row.price_child_cents,
        ),
        hold_expires_at=row.hold_expires_at,
        booking_cutoff_at=row.booking_cutoff_at,
    )


async def _open_checkout(
    db: Database,
    gateway: StripeGateway,
    booking_id: int,
    payment: PaymentSettings,
    category_names: Mapping[str, str],
    *,
    actor: str,
    key: str,
    read_clock: clock.Clock,
    until: datetime | None = None,
) -> str:
    """Record an open Stripe payment for the booking's price, open its checkout at Stripe
    (outside any transaction), and keep the session's address. The session ends with the
    hold (or at ``until``, for a payment link)."""
    async with db.writing() as session:
        priced = await _priced(session, booking_id)
        ends = until or priced.hold_expires_at
        payment_id = (
            await session.execute(
                insert(Payment)
                .values(
                    booking_id=booking_id,
                    method=PaymentMethod.STRIPE,
                    status=PaymentStatus.OPEN,
                    amount_cents=priced.price.total_cents,
                    currency=CURRENCY,
                    expires_at=ends,
                    created_at=read_clock(),
                    recorded_by=actor,
                )
                .returning(Payment.id)
            )
        ).scalar_one()
    lines = [
        CheckoutLine(
            f"{priced.title} · {category_names.get(line.category, line.category)}",
            line.quantity,
            line.unit_cents,
        )
        for line in priced.price.lines
        if line.unit_cents > 0
    ]
    back = return_url(payment.public_url, priced.reference)
    try:
        checkout = await gateway.create_checkout(
            lines=lines,
            currency=CURRENCY,
            customer_email=priced.email,
            locale=priced.locale,
            reference=priced.reference,
            metadata={"booking_reference": priced.reference, "payment_id": str(payment_id)},
            success_url=back + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=back,
            expires_at=ends,
            idempotency_key=key,
        )
    except (PaymentServiceUnavailable, PaymentRefused) as error:
        async with db.writing() as session:
            await session.execute(
                update(Payment).where(Payment.id == payment_id).values(status=PaymentStatus.FAILED)
            )
        raise PaymentUnavailable() from error
    async with db.writing() as session:
        await session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(stripe_session_id=checkout.id, checkout_url=checkout.url)
        )
    assert checkout.url is not None  # an open session has its page
    return checkout.url


def _open_checkout_of(booking_id: int, now: datetime):  # type: ignore[no-untyped-def]
    """The booking's open checkout that can still be paid, latest first."""
    return (
        select(Payment.checkout_url)
        .where(
            Payment.booking_id == booking_id,
            Payment.method == PaymentMethod.STRIPE,
            Payment.status == PaymentStatus.OPEN,
            Payment.checkout_url.is_not(None),
            Payment.expires_at > now,
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


async def resume_checkout(db: Database, booking_id: int, *, now: clock.At = None) -> str | None:
    """The open checkout's address for a booking still on hold (the visitor's "pay now"), or
    for a payment link; None when there is nothing to pay (paid, ended, free, or the hold ran
    out)."""
    at = clock.reader(now)()
    async with db.reading() as session:
        status, hold_ends = (
            await session.execute(
                select(Booking.status, Booking.hold_expires_at).where(Booking.id == booking_id)
            )
        ).one()
        if status in HOLD_STATUSES and hold_ends <= at:
            return None
        if status not in HOLD_STATUSES and status != BookingStatus.CONFIRMED:
            return None
        return await session.scalar(_open_checkout_of(booking_id, at))


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
    if method == PaymentMethod.STRIPE:
        raise PaymentMethodRefused(field="method")
    if amount_cents < 0:
        raise InvalidAmount(field="amount")
    at = clock.reader(now)()
    paid = method != PaymentMethod.ON_SITE
    async with db.writing() as session:
        slot_id = await session.scalar(select(Booking.slot_id).where(Booking.id == booking_id))
        if slot_id is None:
            raise BookingNotFound()
        payment_id = (
            await session.execute(
                insert(Payment)
                .values(
                    booking_id=booking_id,
                    method=method,
                    status=PaymentStatus.PAID if paid else PaymentStatus.OPEN,
                    amount_cents=amount_cents,
                    currency=CURRENCY,
                    created_at=at,
                    paid_at=at if paid else None,
                    recorded_by=actor,
                )
                .returning(Payment.id)
            )
        ).scalar_one()
        audit.record(
            session,
            actor,
            "payment.recorded",
            slot_id=slot_id,
            booking_id=booking_id,
            after={"method": method.value, "amount_cents": amount_cents, "paid": paid},
        )
    return payment_id


async def send_payment_link(
    db: Database,
    gateway: StripeGateway,
    booking_id: int,
    payment: PaymentSettings,
    *,
    actor: str,
    now: clock.At = None,
    category_names: Mapping[str, str] = DEFAULT_CATEGORY_NAMES,
) -> str:
    """A Stripe checkout for a confirmed (counter or phone) booking of a paid visit, valid
    24 hours or until the visit's cut-off: its address, for staff to send the visitor
    (``notices.payment_emails.queue_payment_link``). An open link is reused.
    ``NothingToPay`` when the booking owes nothing (free, paid, or not confirmed);
    ``PaymentUnavailable`` when Stripe cannot be reached."""
    read_clock = clock.reader(now)
    at = read_clock()
    async with db.reading() as session:
        priced = await _priced(session, booking_id)
        paid = await session.scalar(
            select(Payment.id).where(
                Payment.booking_id == booking_id, Payment.status == PaymentStatus.PAID
            )
        )
        open_url = await session.scalar(_open_checkout_of(booking_id, at))
    if priced.status != BookingStatus.CONFIRMED or priced.price.is_free or paid is not None:
        raise NothingToPay()
    if open_url:
        return open_url
    until = min(at + PAYMENT_LINK_LIFETIME, priced.booking_cutoff_at)
    if until <= at:
        raise NothingToPay()
    url = await _open_checkout(
        db,
        gateway,
        booking_id,
        payment,
        category_names,
        actor=actor,
        key=f"payment-link-{priced.reference}-{int(at.timestamp())}",
        read_clock=read_clock,
        until=until,
    )
    async with db.writing() as session:
        audit.record(session, actor, "payment.link_sent", booking_id=booking_id)
    return url


async def expire_checkouts(db: Database, gateway: StripeGateway, *, now: clock.At = None) -> int:
    """``tick``: end at Stripe the open checkouts whose hold is over (a checkout lives at
    least 30 minutes at Stripe, a hold 15) or whose booking ended, so that nobody pays for
    places no longer held; the number ended. A session that turns out to be paid is left to
    its event (``stripe_events``), which confirms it if the places are still there, or
    refunds it."""
    at = clock.reader(now)()
    async with db.reading() as session:
        due = (
            await session.execute(
                select(Payment.id, Payment.stripe_session_id, Payment.booking_id)
                .join(Booking, Booking.id == Payment.booking_id)
                .where(
                    Payment.method == PaymentMethod.STRIPE,
                    Payment.status == PaymentStatus.OPEN,
                    Payment.stripe_session_id.is_not(None),
                    (Payment.expires_at <= at)
                    | Booking.status.in_([BookingStatus.CANCELLED, BookingStatus.EXPIRED]),
                )
                .order_by(Payment.id)
            )
        ).all()
    ended = 0
    for payment_id, session_id, booking_id in due:
        try:
            checkout = await gateway.expire_checkout(session_id)
        except PaymentRefused:  # completed meanwhile, or already expired: ask what it is
            try:
                checkout = await gateway.retrieve_checkout(session_id)
            except (PaymentRefused, PaymentServiceUnavailable):
                continue
        except PaymentServiceUnavailable:
            break  # Stripe is down: the next tick tries again
        if checkout.status == "expired":
            async with db.writing() as session:
                await session.execute(
                    update(Payment)
                    .where(Payment.id == payment_id, Payment.status == PaymentStatus.OPEN)
                    .values(status=PaymentStatus.EXPIRED, checkout_url=None)
                )
                # Nobody can pay it any more: a parked confirmation will never be true.
                await outbox.discard(session, f"booking-confirmed:{booking_id}")
            ended += 1
    return ended
