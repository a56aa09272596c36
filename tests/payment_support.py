"""What the tests of paid visits share: a site configured with the fake Stripe
(``tests/fake_stripe.py``), a priced visit, the webhook delivered to the application as Stripe
signs it, and a hold whose time to pay is already over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import StripeGateway
from reservations.base.models import Activity, Booking, Slot
from reservations.base.rules import payments
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest
from reservations.base.rules.payments import PaymentSettings
from reservations.settings import Settings
from tests.factories import make_slot
from tests.fake_stripe import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, FakeStripe
from tests.test_visitors import MAX_PARTY, PUBLIC_URL, site_settings, upcoming

ADULT_CENTS, CHILD_CENTS = 500, 300
HOLD_MINUTES = 15
WEBHOOK = "/payments/stripe/webhook"
RETURN_COOKIE = "payment_return"
POLICY = BookingPolicy(secret_key="test", max_party_size=MAX_PARTY)


def stripe_settings(db: Database, fake: FakeStripe, **changes: object) -> Settings:
    """The test site's settings with Stripe configured: the fake's address and secrets."""
    return site_settings(
        db,
        stripe_secret_key=TEST_SECRET_KEY,
        stripe_webhook_secret=TEST_WEBHOOK_SECRET,
        stripe_api_base=fake.base_url,
        payment_hold_minutes=HOLD_MINUTES,
        **changes,
    )


async def priced_slot(db: Database, capacity: int = 10) -> Slot:
    """A visit in three days at 5 € an adult and 3 € a child."""
    slot = await make_slot(db, capacity=capacity, starts_at=upcoming())
    async with db.writing() as session:
        await session.execute(
            update(Activity)
            .where(Activity.id == slot.activity_id)
            .values(price_adult_cents=ADULT_CENTS, price_child_cents=CHILD_CENTS)
        )
    return slot


def return_path(reference: str, session_id: str) -> str:
    return f"/payments/return/{reference}?session_id={session_id}"


async def deliver_webhook(client: AsyncTestClient, fake: FakeStripe, event: dict) -> None:
    """Stripe's delivery of ``event`` to the site, signed with the endpoint's secret."""
    payload, signature = fake.signed(event)
    answer = await client.post(
        WEBHOOK,
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text[:500]


async def pay(client: AsyncTestClient, fake: FakeStripe, session_id: str) -> None:
    """The visitor pays on the checkout page; Stripe tells the site."""
    await deliver_webhook(client, fake, fake.pay(session_id, deliver=False))


async def booking_named(db: Database, slot_id: int, name: str) -> Booking:
    async with db.reading() as session:
        booking = await session.scalar(
            select(Booking).where(Booking.slot_id == slot_id, Booking.name == name)
        )
    assert booking is not None, name
    return booking


async def lapsed_hold(
    db: Database, fake: FakeStripe, slot_id: int, *, locale: str = "en", name: str = "Anne"
) -> BookingReceipt:
    """An online booking of a paid visit (2 adults, 1 child) made a hold's length and a minute
    ago: its time to pay is over (nothing moved the clock: it was made in the past)."""
    payment = PaymentSettings(online=True, hold_minutes=HOLD_MINUTES, public_url=PUBLIC_URL)
    gateway = StripeGateway(TEST_SECRET_KEY, fake.base_url)
    request = BookingRequest(
        slot_id=slot_id, adults=2, children=1, name=name, email="anne@example.org", locale=locale
    )
    made = await payments.book_online(
        db,
        request,
        POLICY,
        payment,
        gateway,
        actor="visitor",
        now=clock.now() - timedelta(minutes=HOLD_MINUTES + 1),
    )
    assert made.checkout_url
    return made.receipt


def session_of(fake: FakeStripe, reference: str) -> dict[str, Any]:
    return fake.session_by_reference(reference)
