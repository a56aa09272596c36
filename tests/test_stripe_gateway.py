"""The Stripe gateway through the real ``stripe`` library against the fake Stripe server on
loopback: sessions, idempotency keys, refunds, failures, and webhook signatures checked as
Stripe signs them."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reservations.base.infra.stripe_gateway import (
    BadSignature,
    PaymentRefused,
    PaymentServiceUnavailable,
    StripeGateway,
)
from tests.fake_stripe import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, sign


@dataclass(frozen=True)
class Line:
    name: str
    quantity: int
    unit_cents: int


def gateway(fake) -> StripeGateway:  # type: ignore[no-untyped-def]
    return StripeGateway(TEST_SECRET_KEY, fake.base_url)


def checkout_options(key: str = "checkout-AAAA", **changes: object) -> dict[str, object]:
    options: dict[str, object] = {
        "lines": [Line("Visite (adulte)", 2, 500), Line("Visite (enfant)", 1, 300)],
        "currency": "eur",
        "customer_email": "jan@example.nl",
        "locale": "nl",
        "reference": "AAAA-BBBB",
        "metadata": {"booking_reference": "AAAA-BBBB", "booking_id": "7"},
        "success_url": "http://site.test/payments/return/AAAA-BBBB?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://site.test/payments/return/AAAA-BBBB",
        "expires_at": datetime.now(UTC) + timedelta(minutes=15),
        "idempotency_key": key,
    }
    return {**options, **changes}


async def test_a_checkout_session_is_created_read_and_expired(fake_stripe):
    stripe = gateway(fake_stripe)
    session = await stripe.create_checkout(**checkout_options())
    assert (session.status, session.payment_status, session.amount_total) == (
        "open",
        "unpaid",
        1300,
    )
    assert session.url == f"{fake_stripe.base_url}/pay/{session.id}"
    sent = fake_stripe.sessions[session.id]
    assert sent["locale"] == "nl" and sent["metadata"]["booking_id"] == "7"
    assert sent["line_items"][0]["price_data"]["unit_amount"] == "500"
    # 15 minutes is under Stripe's 30-minute minimum: not sent, the caller expires it itself.
    assert sent["expires_at"] > time.time() + 3600
    assert (await stripe.retrieve_checkout(session.id)).status == "open"
    assert (await stripe.expire_checkout(session.id)).status == "expired"
    with pytest.raises(PaymentRefused):
        await stripe.expire_checkout(session.id)


async def test_an_expiry_far_enough_ahead_is_sent(fake_stripe):
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    session = await gateway(fake_stripe).create_checkout(**checkout_options(expires_at=ends))
    assert session.expires_at == ends


async def test_the_same_idempotency_key_creates_one_session(fake_stripe):
    stripe = gateway(fake_stripe)
    options = checkout_options()
    first = await stripe.create_checkout(**options)
    again = await stripe.create_checkout(**options)
    assert first.id == again.id and len(fake_stripe.sessions) == 1
    with pytest.raises(PaymentRefused):
        await stripe.create_checkout(**{**options, "customer_email": "other@example.org"})
    assert len(fake_stripe.sessions) == 1


async def test_refunds_up_to_what_was_paid(fake_stripe):
    stripe = gateway(fake_stripe)
    session = await stripe.create_checkout(**checkout_options())
    fake_stripe.pay(session.id, deliver=False)
    intent = (await stripe.retrieve_checkout(session.id)).payment_intent
    assert intent and intent.startswith("pi_")
    first = await stripe.refund(payment_intent=intent, amount_cents=800, idempotency_key="r-1")
    assert (first.status, first.amount) == ("succeeded", 800)
    replay = await stripe.refund(payment_intent=intent, amount_cents=800, idempotency_key="r-1")
    assert replay.id == first.id and len(fake_stripe.refunds) == 1
    with pytest.raises(PaymentRefused):
        await stripe.refund(payment_intent=intent, amount_cents=600, idempotency_key="r-2")
    await stripe.refund(payment_intent=intent, amount_cents=500, idempotency_key="r-3")
    assert sum(r["amount"] for r in fake_stripe.refunds.values()) == 1300


async def test_stripe_down_or_failing_is_unavailable_not_refused(fake_stripe):
    stripe = gateway(fake_stripe)
    fake_stripe.fail_next("/v1/checkout/sessions", times=1, status=503)
    with pytest.raises(PaymentServiceUnavailable):
        await stripe.create_checkout(**checkout_options())
    fake_stripe.down = True
    with pytest.raises(PaymentServiceUnavailable):
        await stripe.create_checkout(**checkout_options())
    fake_stripe.down = False
    assert (await stripe.create_checkout(**checkout_options())).status == "open"
    with pytest.raises(PaymentRefused):  # a wrong key is refused, not retried
        await StripeGateway("sk_test_wrong", fake_stripe.base_url).retrieve_checkout("cs_x")


def test_webhook_signatures_are_checked_as_stripe_signs_them(fake_stripe):
    stripe = StripeGateway(TEST_SECRET_KEY, fake_stripe.base_url)
    payload, signature = fake_stripe.signed(fake_stripe.event("checkout.session.expired", {}))
    assert stripe.verify_event(payload, signature, TEST_WEBHOOK_SECRET)["type"] == (
        "checkout.session.expired"
    )
    stale = sign(payload, TEST_WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    wrong = sign(payload, "whsec_other")
    for bad in (wrong, stale, "", "t=1,v1=00"):
        with pytest.raises(BadSignature):
            stripe.verify_event(payload, bad, TEST_WEBHOOK_SECRET)
    with pytest.raises(BadSignature):  # signed, but not JSON
        stripe.verify_event(b"nope", sign(b"nope", TEST_WEBHOOK_SECRET), TEST_WEBHOOK_SECRET)


async def test_paying_on_the_hosted_page_sends_a_signed_event_and_returns(fake_stripe):
    received: list[dict] = []
    stripe = StripeGateway(TEST_SECRET_KEY, fake_stripe.base_url)

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            payload = self.rfile.read(int(self.headers["Content-Length"]))
            event = stripe.verify_event(
                payload, self.headers["Stripe-Signature"], TEST_WEBHOOK_SECRET
            )
            received.append(json.loads(payload))
            assert event["type"] == "checkout.session.completed"
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        fake_stripe.webhook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        session = await stripe.create_checkout(**checkout_options())
        page = urllib.request.urlopen(session.url).read().decode()  # noqa: S310
        assert "13.00 EUR" in page and "id=pay" in page

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                return None

        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(urllib.request.Request(session.url, data=b"", method="POST"))
        assert answer.value.code == 303
        assert answer.value.headers["Location"] == (
            f"http://site.test/payments/return/AAAA-BBBB?session_id={session.id}"
        )
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert [event["data"]["object"]["id"] for event in received] == [session.id]
    assert received[0]["data"]["object"]["payment_status"] == "paid"
    assert fake_stripe.delivered[0][1] == 200
