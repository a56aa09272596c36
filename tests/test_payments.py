"""Paid visits end to end below the pages, on each database, against the fake Stripe server on
loopback (the real ``stripe`` library talks to it) and the app's real webhook endpoint with
real signatures: a paid booking is a hold with a checkout; the signed event confirms it once,
whatever the replays, duplicates and order; late payments are confirmed while the places
remain, else refunded; refunds follow the policy and survive Stripe being down.

Prices are 5 € an adult and 3 € a child: the amounts expected are worked out here from them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.errors import (
    InvalidAmount,
    NothingToPay,
    PaymentMethodRefused,
    PaymentUnavailable,
    RefundTooLarge,
)
from reservations.base.infra.outbox import PARKED_UNTIL
from reservations.base.infra.stripe_gateway import StripeGateway
from reservations.base.models import (
    Activity,
    AuditEntry,
    Booking,
    BookingStatus,
    CancelReason,
    Channel,
    OutboxMessage,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    Slot,
    StripeEvent,
)
from reservations.base.reads.booking_money import ReturnState, checkout_return, money_of
from reservations.base.rules import booking as booking_service
from reservations.base.rules import payments, refunds, slots
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.payments import PaymentSettings
from reservations.settings import Settings
from tests.factories import fetch_slot, make_activity, make_slot
from tests.fake_stripe import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, sign

POLICY = BookingPolicy(secret_key="test", max_party_size=15)
ONLINE = PaymentSettings(online=True, hold_minutes=15, public_url="https://visites.example")
ADULT, CHILD = 500, 300


@pytest.fixture
def gateway(fake_stripe) -> StripeGateway:  # type: ignore[no-untyped-def]
    return StripeGateway(TEST_SECRET_KEY, fake_stripe.base_url)


@pytest.fixture
async def app(db, fake_stripe) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=db.url,
        secret_key="test",
        booking_rate_limit=0,
        stripe_secret_key=TEST_SECRET_KEY,
        stripe_webhook_secret=TEST_WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
    )
    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        yield client


async def paid_slot(db, capacity: int = 10, **options: Any) -> Slot:  # type: ignore[no-untyped-def]
    activity = await make_activity(db, capacity=capacity, **options)
    async with db.writing() as session:
        await session.execute(
            update(Activity)
            .where(Activity.id == activity.id)
            .values(price_adult_cents=ADULT, price_child_cents=CHILD)
        )
    return await make_slot(db, activity=activity, capacity=capacity)


def visitor(slot_id: int, adults: int = 2, children: int = 1, **fields: Any) -> BookingRequest:
    return BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name="Anna Becker",
        email="anna@example.de",
        locale="de",
        **fields,
    )


async def book_paid(db, gateway, slot_id: int, *, adults: int = 2, children: int = 1, **kw):  # type: ignore[no-untyped-def]
    return await payments.book_online(
        db, visitor(slot_id, adults, children), POLICY, ONLINE, gateway, actor="visitor", **kw
    )


async def deliver(client: AsyncTestClient, event: dict[str, Any], **sign_options: Any) -> Any:
    payload = json.dumps(event).encode()
    return await client.post(
        "/payments/stripe/webhook",
        content=payload,
        headers={
            "Stripe-Signature": sign(payload, TEST_WEBHOOK_SECRET, **sign_options),
            "Content-Type": "application/json",
        },
    )


async def row(db, model, *conditions):  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.scalar(select(model).where(*conditions))


async def count(db, model, *conditions) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*conditions))


async def status_of(db, booking_id: int) -> BookingStatus:  # type: ignore[no-untyped-def]
    return (await row(db, Booking, Booking.id == booking_id)).status


# --- booking a paid visit -------------------------------------------------------------------


async def test_a_paid_booking_is_a_hold_with_a_checkout_of_its_price(db, gateway, fake_stripe):
    slot = await paid_slot(db)
    online = await book_paid(db, gateway, slot.id)
    booking = online.receipt.booking
    assert booking.status == BookingStatus.PENDING_PAYMENT
    session = fake_stripe.session_by_reference(booking.reference)
    assert online.checkout_url == session["url"]
    assert session["amount_total"] == 2 * 500 + 1 * 300
    assert session["currency"] == "eur" and session["locale"] == "de"
    assert session["metadata"]["booking_reference"] == booking.reference
    quantities = sorted(
        (int(line["quantity"]), int(line["price_data"]["unit_amount"]))
        for line in session["line_items"]
    )
    assert quantities == [(1, 300), (2, 500)]
    assert session["success_url"].startswith(
        f"https://visites.example/payments/return/{booking.reference}?session_id="
    )
    keys = [key for method, path, key, _ in fake_stripe.requests if path == "/v1/checkout/sessions"]
    assert keys == [f"checkout-{booking.reference}"]
    held = await fetch_slot(db, slot.id)
    assert (held.booked, held.held) == (0, 3)
    money = await money_of(db, booking.id)
    assert money.awaiting_payment and money.due_cents == 1300 and money.paid_cents == 0
    assert money.checkout_url == session["url"]
    # Its confirmation waits, parked, for the payment.
    assert await payments.resume_checkout(db, booking.id) == session["url"]


async def test_a_retry_with_the_same_key_opens_one_checkout(db, gateway, fake_stripe):
    slot = await paid_slot(db)
    first = await book_paid(db, gateway, slot.id, idempotency_key="tap-tap")
    again = await book_paid(db, gateway, slot.id, idempotency_key="tap-tap")
    assert again.receipt.replayed and again.checkout_url == first.checkout_url
    assert len(fake_stripe.sessions) == 1
    assert (await fetch_slot(db, slot.id)).held == 3


async def test_free_visits_and_no_stripe_book_as_before(db, gateway, fake_stripe):
    free = await make_slot(db)
    online = await book_paid(db, gateway, free.id)
    assert online.checkout_url is None
    assert online.receipt.booking.status == BookingStatus.CONFIRMED
    priced = await paid_slot(db)
    on_site = await payments.book_online(
        db, visitor(priced.id), POLICY, PaymentSettings(online=False), None, actor="visitor"
    )
    assert on_site.checkout_url is None
    assert on_site.receipt.booking.status == BookingStatus.CONFIRMED
    assert fake_stripe.sessions == {}


async def test_stripe_down_at_checkout_books_nothing(db, gateway, fake_stripe):
    slot = await paid_slot(db, capacity=3)
    fake_stripe.fail_next("/v1/checkout/sessions", times=1, status=503)
    with pytest.raises(PaymentUnavailable):
        await book_paid(db, gateway, slot.id)
    freed = await fetch_slot(db, slot.id)
    assert (freed.booked, freed.held) == (0, 0)
    assert await count(db, Booking, Booking.status == BookingStatus.CANCELLED) == 1
    # The three places are bookable again, at once.
    assert (await book_paid(db, gateway, slot.id)).checkout_url


# --- the webhook ----------------------------------------------------------------------------


async def test_a_paid_checkout_confirms_the_booking_once(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    booking = (await book_paid(db, gateway, slot.id)).receipt.booking
    async with db.writing() as session:  # the confirmation the web layer parks for a hold
        session.add(
            OutboxMessage(
                dedup_key=f"booking-confirmed:{booking.id}",
                to_address="anna@example.de",
                subject="Bestätigt",
                text_body="…",
                send_after=PARKED_UNTIL,
            )
        )
    session_id = fake_stripe.session_by_reference(booking.reference)["id"]
    completed = fake_stripe.pay(session_id, deliver=False)
    answer = await deliver(app, completed)
    assert answer.status_code == 200 and answer.json()["message"] == "confirmed"
    assert await status_of(db, booking.id) == BookingStatus.CONFIRMED
    after = await fetch_slot(db, slot.id)
    assert (after.booked, after.held) == (3, 0)
    message = await row(db, OutboxMessage, OutboxMessage.dedup_key.like("booking-confirmed:%"))
    assert message.send_after <= clock.now()  # released: the mailer sends it now
    money = await money_of(db, booking.id)
    assert (money.paid_cents, money.method, money.awaiting_payment) == (1300, "stripe", False)
    back = await checkout_return(db, booking.reference, session_id)
    assert back is not None and back.state == ReturnState.CONFIRMED
    assert await checkout_return(db, booking.reference, "cs_someone_else") is None

    # The same event again, then the same news under another id: nothing changes.
    assert (await deliver(app, completed)).json()["message"] == "replayed"
    again = fake_stripe.event(
        "checkout.session.async_payment_succeeded", completed["data"]["object"]
    )
    assert (await deliver(app, again)).json()["message"] == "paid"
    # An expiry arriving late, out of order, leaves a paid booking alone.
    expired = fake_stripe.event(
        "checkout.session.expired", {**completed["data"]["object"], "status": "expired"}
    )
    assert (await deliver(app, expired)).status_code == 200
    assert await status_of(db, booking.id) == BookingStatus.CONFIRMED
    assert (await fetch_slot(db, slot.id)).booked == 3
    payment = await row(db, Payment, Payment.booking_id == booking.id)
    assert payment.status == PaymentStatus.PAID
    assert await count(db, StripeEvent) == 3
    confirmed = AuditEntry.action == "booking.confirmed"
    assert await count(db, AuditEntry, confirmed, AuditEntry.booking_id == booking.id) == 1


async def test_the_same_event_delivered_at_once_is_applied_once(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    booking = (await book_paid(db, gateway, slot.id)).receipt.booking
    completed = fake_stripe.pay(
        fake_stripe.session_by_reference(booking.reference)["id"], deliver=False
    )
    answers = await asyncio.gather(*(deliver(app, completed) for _ in range(6)))
    assert sorted(a.json()["message"] for a in answers) == ["confirmed"] + ["replayed"] * 5
    assert (await fetch_slot(db, slot.id)).booked == 3
    assert await count(db, AuditEntry, AuditEntry.action == "payment.paid") == 1


async def test_bad_missing_and_stale_signatures_change_nothing(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    booking = (await book_paid(db, gateway, slot.id)).receipt.booking
    completed = fake_stripe.pay(
        fake_stripe.session_by_reference(booking.reference)["id"], deliver=False
    )
    payload = json.dumps(completed).encode()
    forged = sign(payload, "whsec_not_ours")
    stale = sign(payload, TEST_WEBHOOK_SECRET, timestamp=int(time.time()) - 600)
    for headers in ({"Stripe-Signature": forged}, {}, {"Stripe-Signature": stale}):
        answer = await app.post("/payments/stripe/webhook", content=payload, headers=headers)
        assert answer.status_code == 400, headers
        assert "signature" in answer.json()["message"]
    tampered = payload.replace(b'"paid"', b'"unpaid"')
    answer = await app.post(
        "/payments/stripe/webhook",
        content=tampered,
        headers={"Stripe-Signature": sign(payload, TEST_WEBHOOK_SECRET)},
    )
    assert answer.status_code == 400
    assert await status_of(db, booking.id) == BookingStatus.PENDING_PAYMENT
    assert await count(db, StripeEvent) == 0


async def test_an_amount_that_is_not_the_price_is_refused(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    booking = (await book_paid(db, gateway, slot.id)).receipt.booking
    completed = fake_stripe.pay(
        fake_stripe.session_by_reference(booking.reference)["id"], deliver=False
    )
    completed["data"]["object"]["amount_total"] = 100
    assert (await deliver(app, completed)).json()["message"] == "mismatch"
    assert await status_of(db, booking.id) == BookingStatus.PENDING_PAYMENT
    assert await count(db, AuditEntry, AuditEntry.action == "payment.mismatch") == 1
    # A session naming another booking's reference is not ours either.
    other = fake_stripe.event(
        "checkout.session.completed",
        {
            **completed["data"]["object"],
            "amount_total": 1300,
            "metadata": {"booking_reference": "X"},
        },
    )
    assert (await deliver(app, other)).json()["message"] == "ignored"
    assert await status_of(db, booking.id) == BookingStatus.PENDING_PAYMENT


async def test_an_expired_checkout_frees_a_running_hold(db, gateway, fake_stripe, app):
    slot = await paid_slot(db, capacity=3)
    booking = (await book_paid(db, gateway, slot.id)).receipt.booking
    session = fake_stripe.session_by_reference(booking.reference)
    expired = fake_stripe.event("checkout.session.expired", {**session, "status": "expired"})
    assert (await deliver(app, expired)).json()["message"] == "ended"
    assert await status_of(db, booking.id) == BookingStatus.EXPIRED
    freed = await fetch_slot(db, slot.id)
    assert (freed.booked, freed.held, freed.holds_expire_at) == (0, 0, None)
    assert (await money_of(db, booking.id)).checkout_url is None
    back = await checkout_return(db, booking.reference, None)
    assert back is not None and back.state == ReturnState.ENDED
    # Paid after all (the expiry came first here): the places are still free, so it stands.
    session["status"] = "open"
    completed = fake_stripe.pay(session["id"], deliver=False)
    assert (await deliver(app, completed)).json()["message"] == "confirmed"
    assert (await fetch_slot(db, slot.id)).booked == 3


# --- late payments --------------------------------------------------------------------------


async def lapsed_hold(db, gateway, slot_id: int, people: int = 3):  # type: ignore[no-untyped-def]
    """A hold made 20 minutes ago: its 15 minutes are over."""
    made = clock.now() - timedelta(minutes=20)
    return (await book_paid(db, gateway, slot_id, adults=people, children=0, now=made)).receipt


async def test_a_late_payment_with_places_left_is_confirmed(db, gateway, fake_stripe, app):
    slot = await paid_slot(db, capacity=5)
    late = await lapsed_hold(db, gateway, slot.id)
    completed = fake_stripe.pay(
        fake_stripe.session_by_reference(late.booking.reference)["id"], deliver=False
    )
    assert (await deliver(app, completed)).json()["message"] == "confirmed"
    after = await fetch_slot(db, slot.id)
    assert (after.booked, after.held) == (3, 0)
    assert await count(db, Refund) == 0


async def test_a_late_payment_without_places_is_refunded_and_told(db, gateway, fake_stripe, app):
    slot = await paid_slot(db, capacity=4)
    late = await lapsed_hold(db, gateway, slot.id)
    # Meanwhile, someone booked the four places the lapsed hold no longer held.
    await booking_service.book(db, visitor(slot.id, 4, 0), POLICY, actor="visitor")
    completed = fake_stripe.pay(
        fake_stripe.session_by_reference(late.booking.reference)["id"], deliver=False
    )
    assert (await deliver(app, completed)).json()["message"] == "refund_due"
    assert await status_of(db, late.booking.id) == BookingStatus.EXPIRED
    assert (await fetch_slot(db, slot.id)).booked == 4  # never more than the places
    refund = await row(db, Refund, Refund.booking_id == late.booking.id)
    assert (refund.reason, refund.status, refund.amount_cents) == (
        RefundReason.NO_PLACES,
        RefundStatus.SUCCEEDED,
        3 * 500,
    )
    assert [r["amount"] for r in fake_stripe.refunds.values()] == [1500]
    told = await row(db, OutboxMessage, OutboxMessage.dedup_key.like("late-payment-refunded:%"))
    assert told.to_address == "anna@example.de"
    assert "15,00" in told.text_body  # in German, the visitor's language
    back = await checkout_return(db, late.booking.reference, completed["data"]["object"]["id"])
    assert back is not None and back.state == ReturnState.REFUNDED


# --- refunds --------------------------------------------------------------------------------


async def paid_booking(db, gateway, fake_stripe, app, slot_id: int):  # type: ignore[no-untyped-def]
    online = await book_paid(db, gateway, slot_id)
    completed = fake_stripe.pay(
        fake_stripe.session_by_reference(online.receipt.booking.reference)["id"], deliver=False
    )
    assert (await deliver(app, completed)).json()["message"] == "confirmed"
    return online.receipt


async def test_a_visitor_cancelling_before_the_cutoff_gets_everything_back(
    db, gateway, fake_stripe, app
):
    slot = await paid_slot(db)
    receipt = await paid_booking(db, gateway, fake_stripe, app, slot.id)
    await booking_service.cancel_by_visitor(db, receipt.manage_token)
    refund = await row(db, Refund, Refund.booking_id == receipt.booking.id)
    assert (refund.reason, refund.status, refund.amount_cents) == (
        RefundReason.VISITOR_CANCELLED,
        RefundStatus.PENDING,
        1300,
    )
    assert await refunds.settle(db, gateway) == 1
    assert [r["amount"] for r in fake_stripe.refunds.values()] == [1300]
    money = await money_of(db, receipt.booking.id)
    assert (money.refunded_cents, money.pending_refund_cents) == (1300, 0)
    assert await refunds.settle(db, gateway) == 0  # nothing twice


async def test_after_the_cutoff_the_activity_share_is_refunded(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    async with db.writing() as session:
        await session.execute(
            update(Activity).where(Activity.id == slot.activity_id).values(late_refund_percent=40)
        )
    receipt = await paid_booking(db, gateway, fake_stripe, app, slot.id)
    after_cutoff = slot.booking_cutoff_at + timedelta(minutes=1)
    await booking_service.cancel_booking(db, receipt.booking.id, actor="staff:x", now=after_cutoff)
    refund = await row(db, Refund, Refund.booking_id == receipt.booking.id)
    assert refund.amount_cents == 1300 * 40 // 100


async def test_a_cancelled_slot_refunds_everything(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    async with db.writing() as session:
        await session.execute(
            update(Activity).where(Activity.id == slot.activity_id).values(late_refund_percent=0)
        )
    first = await paid_booking(db, gateway, fake_stripe, app, slot.id)
    second = await paid_booking(db, gateway, fake_stripe, app, slot.id)
    unpaid = (await book_paid(db, gateway, slot.id)).receipt.booking
    await slots.cancel_slot(db, slot.id, CancelReason.WEATHER, actor="staff:x")
    async with db.reading() as session:
        given = dict((await session.execute(select(Refund.booking_id, Refund.amount_cents))).all())
    assert given == {first.booking.id: 1300, second.booking.id: 1300}  # not the unpaid hold
    assert await status_of(db, unpaid.id) == BookingStatus.CANCELLED
    assert await refunds.settle(db, gateway) == 2


async def test_stripe_down_during_a_refund_is_retried_exactly_once(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    receipt = await paid_booking(db, gateway, fake_stripe, app, slot.id)
    await booking_service.cancel_by_visitor(db, receipt.manage_token)
    fake_stripe.down = True
    assert await refunds.settle(db, gateway) == 0
    waiting = await row(db, Refund, Refund.booking_id == receipt.booking.id)
    assert waiting.status == RefundStatus.PENDING and waiting.attempts == 1
    assert waiting.last_error and waiting.next_attempt_at > clock.now()
    fake_stripe.down = False
    assert await refunds.settle(db, gateway) == 0  # not due yet
    # Stripe answered the next attempt but the answer was lost: the key makes it one refund.
    later = waiting.next_attempt_at + timedelta(seconds=1)
    fake_stripe.fail_next("/v1/refunds", times=1, status=500)
    assert await refunds.settle(db, gateway, now=later) == 0
    assert await refunds.settle(db, gateway, now=later + timedelta(minutes=5)) == 1
    assert await refunds.settle(db, gateway, now=later + timedelta(hours=2)) == 0
    assert [r["amount"] for r in fake_stripe.refunds.values()] == [1300]
    sent_keys = {key for _m, path, key, _p in fake_stripe.requests if path == "/v1/refunds"}
    assert sent_keys == {waiting.idempotency_key}


async def test_staff_refund_part_within_what_was_paid(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    receipt = await paid_booking(db, gateway, fake_stripe, app, slot.id)
    with pytest.raises(InvalidAmount):
        await refunds.refund_partial(db, receipt.booking.id, 0, actor="staff:x")
    with pytest.raises(RefundTooLarge):
        await refunds.refund_partial(db, receipt.booking.id, 1301, actor="staff:x")
    await refunds.refund_partial(db, receipt.booking.id, 800, actor="staff:x")
    with pytest.raises(RefundTooLarge):
        await refunds.refund_partial(db, receipt.booking.id, 501, actor="staff:x")
    assert await refunds.settle(db, gateway) == 1
    assert (await money_of(db, receipt.booking.id)).refundable_cents == 500
    audited = AuditEntry.action == "refund.requested"
    assert await count(db, AuditEntry, audited, AuditEntry.actor == "staff:x") == 1


async def test_two_clerks_refunding_at_once_give_back_the_payment_once(
    db, gateway, fake_stripe, app
):
    slot = await paid_slot(db)
    receipt = await paid_booking(db, gateway, fake_stripe, app, slot.id)
    tries = await asyncio.gather(
        *(refunds.refund_partial(db, receipt.booking.id, 1000, actor="staff:x") for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(t, int) for t in tries) == 1
    assert all(isinstance(t, RefundTooLarge) for t in tries if not isinstance(t, int))


async def test_charge_refunded_records_what_stripe_says(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    receipt = await paid_booking(db, gateway, fake_stripe, app, slot.id)
    await refunds.refund_partial(db, receipt.booking.id, 300, actor="staff:x")
    ours = await row(db, Refund, Refund.booking_id == receipt.booking.id)
    intent = (
        await row(db, Payment, Payment.booking_id == receipt.booking.id)
    ).stripe_payment_intent
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": intent,
        "amount_refunded": 500,
        "refunds": {
            "data": [
                {
                    "id": "re_ours",
                    "amount": 300,
                    "status": "succeeded",
                    "metadata": {"refund_id": str(ours.id)},
                },
                {"id": "re_dashboard", "amount": 200, "status": "succeeded", "metadata": {}},
            ]
        },
    }
    assert (await deliver(app, fake_stripe.event("charge.refunded", charge))).status_code == 200
    money = await money_of(db, receipt.booking.id)
    assert (money.refunded_cents, money.pending_refund_cents) == (500, 0)


# --- tick -----------------------------------------------------------------------------------


async def test_tick_ends_the_checkouts_of_lapsed_holds(db, gateway, fake_stripe):
    slot = await paid_slot(db)
    late = await lapsed_hold(db, gateway, slot.id)
    running = (await book_paid(db, gateway, slot.id)).receipt.booking
    assert await payments.expire_checkouts(db, gateway) == 1
    assert fake_stripe.session_by_reference(late.booking.reference)["status"] == "expired"
    assert fake_stripe.session_by_reference(running.reference)["status"] == "open"
    payment = await row(db, Payment, Payment.booking_id == late.booking.id)
    assert payment.status == PaymentStatus.EXPIRED
    assert await payments.resume_checkout(db, late.booking.id) is None
    assert await payments.expire_checkouts(db, gateway) == 0


# --- the counter ----------------------------------------------------------------------------


async def test_counter_payments_and_payment_links(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    counter = visitor(slot.id, channel=Channel.COUNTER)
    cash = await booking_service.book(db, counter, POLICY, actor="staff:x")
    await payments.record_counter_payment(
        db, cash.booking.id, PaymentMethod.CASH, 1300, actor="staff:x"
    )
    assert (await money_of(db, cash.booking.id)).paid_cents == 1300
    with pytest.raises(PaymentMethodRefused):
        await payments.record_counter_payment(
            db, cash.booking.id, PaymentMethod.STRIPE, 1300, actor="staff:x"
        )
    with pytest.raises(InvalidAmount):
        await payments.record_counter_payment(
            db, cash.booking.id, PaymentMethod.CHEQUE, -1, actor="staff:x"
        )
    with pytest.raises(NothingToPay):  # paid already
        await payments.send_payment_link(db, gateway, cash.booking.id, ONLINE, actor="staff:x")

    phone = await booking_service.book(
        db, visitor(slot.id, channel=Channel.PHONE), POLICY, actor="staff:x"
    )
    link = await payments.send_payment_link(db, gateway, phone.booking.id, ONLINE, actor="staff:x")
    assert link == await payments.send_payment_link(
        db, gateway, phone.booking.id, ONLINE, actor="staff:x"
    )  # the open link again, not a second checkout
    assert len(fake_stripe.sessions) == 1
    session = next(iter(fake_stripe.sessions.values()))
    completed = fake_stripe.pay(session["id"], deliver=False)
    assert (await deliver(app, completed)).json()["message"] == "paid"
    money = await money_of(db, phone.booking.id)
    assert (money.paid_cents, money.method) == (1300, "stripe")
    assert (await fetch_slot(db, slot.id)).booked == 6  # the booking was confirmed throughout


async def test_the_api_books_a_paid_visit_as_a_hold_with_its_checkout(db, fake_stripe, app):
    slot = await paid_slot(db)
    answer = await app.post(
        "/api/v1/bookings",
        json={
            "slot_id": slot.id,
            "adults": 1,
            "children": 2,
            "name": "Joost de Vries",
            "email": "joost@example.nl",
            "locale": "nl",
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    session = fake_stripe.session_by_reference(body["reference"])
    assert body["status"] == "pending_payment" and body["checkout_url"] == session["url"]
    assert session["amount_total"] == 500 + 2 * 300 and session["locale"] == "nl"
    assert body["hold_expires_at"].endswith("+01:00") or body["hold_expires_at"].endswith("+02:00")
    fake_stripe.fail_next("/v1/checkout/sessions", times=1, status=503)
    refused = await app.post(
        "/api/v1/bookings",
        json={"slot_id": slot.id, "adults": 1, "children": 0, "name": "B", "email": "b@example.nl"},
    )
    assert refused.status_code == 503 and refused.json()["code"] == "payment_unavailable"


async def test_runs_settling_at_once_send_each_refund_once(db, gateway, fake_stripe, app):
    slot = await paid_slot(db)
    receipts = [await paid_booking(db, gateway, fake_stripe, app, slot.id) for _ in range(3)]
    for receipt in receipts:
        await booking_service.cancel_by_visitor(db, receipt.manage_token)
    sent = await asyncio.gather(*(refunds.settle(db, gateway) for _ in range(4)))
    assert sum(sent) == 3
    assert sorted(r["amount"] for r in fake_stripe.refunds.values()) == [1300] * 3
    refund_calls = [key for _m, path, key, _p in fake_stripe.requests if path == "/v1/refunds"]
    assert len(refund_calls) == 3
