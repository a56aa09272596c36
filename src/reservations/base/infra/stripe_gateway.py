"""Stripe, through the official ``stripe`` library: the only module that imports it.

The rules (``rules.payments``, ``rules.refunds``, ``rules.stripe_events``) ask for four calls
and a signature check; everything they get back is a small frozen record, and every failure is
one of two errors: ``PaymentServiceUnavailable`` (network, timeouts, Stripe's 5xx and rate
limits: try again later, with the same idempotency key) or ``PaymentRefused`` (Stripe said no:
trying again would not help). The client uses the library's asynchronous calls over httpx
(a dependency of Litestar already), without the library's own retries: a refund that fails is
retried by ``reservations tick``, a checkout the visitor asks for again.

``RESERVATIONS_STRIPE_API_BASE`` points the client elsewhere than api.stripe.com: the tests'
fake Stripe server on loopback (``tests/fake_stripe.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from reservations.settings import Settings

#: Stripe refuses a Checkout Session that ends sooner than this after its creation.
STRIPE_MINIMUM_SESSION = timedelta(minutes=30)
#: How long a call to Stripe may take before it counts as "unreachable".
TIMEOUT_SECONDS = 15
#: Our locales as Stripe's Checkout names them.
_CHECKOUT_LOCALES = {"fr": "fr", "en": "en", "de": "de", "nl": "nl"}


class PaymentServiceUnavailable(Exception):
    """Stripe could not be reached or failed on its side: the same call may succeed later."""


class PaymentRefused(Exception):
    """Stripe refused the call (invalid request, authentication, idempotency conflict)."""


class BadSignature(Exception):
    """A webhook delivery whose signature is wrong, missing or too old, or whose body is not
    an event."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    #: "open", "complete" or "expired"
    status: str
    #: "unpaid", "paid" or "no_payment_required"
    payment_status: str
    amount_total: int | None
    currency: str | None
    payment_intent: str | None
    expires_at: datetime | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class RefundResult:
    id: str
    #: "pending", "succeeded", "failed", "requires_action" or "canceled"
    status: str
    amount: int


class StripeGateway:
    """One Stripe account (a secret key) at one API address."""

    def __init__(self, secret_key: str, api_base: str = "https://api.stripe.com") -> None:
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            http_client=stripe.HTTPXClient(timeout=TIMEOUT_SECONDS),
            max_network_retries=0,
        )

    async def create_checkout(
        self,
        *,
        lines: list[Any],
        currency: str,
        customer_email: str | None,
        locale: str,
        reference: str,
        metadata: dict[str, str],
        success_url: str,
        cancel_url: str,
        expires_at: datetime | None,
        idempotency_key: str,
    ) -> CheckoutSession:
        """A Checkout Session in ``mode=payment``, one line per ``lines`` item (``name``,
        ``quantity``, ``unit_cents``). ``expires_at`` is sent only when Stripe accepts it (at
        least 30 minutes ahead); the caller expires a session that outlives its hold."""
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": line.quantity,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": line.unit_cents,
                        "product_data": {"name": line.name},
                    },
                }
                for line in lines
            ],
            "locale": _CHECKOUT_LOCALES.get(locale, "auto"),
            "client_reference_id": reference,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if customer_email:
            params["customer_email"] = customer_email
        if expires_at is not None and expires_at >= datetime.now(UTC) + STRIPE_MINIMUM_SESSION:
            params["expires_at"] = int(expires_at.timestamp())
        session = await _call(
            self._client.v1.checkout.sessions.create_async,
            params,
            {"idempotency_key": idempotency_key},
        )
        return _checkout(session)

    async def retrieve_checkout(self, session_id: str) -> CheckoutSession:
        return _checkout(await _call(self._client.v1.checkout.sessions.retrieve_async, session_id))

    async def expire_checkout(self, session_id: str) -> CheckoutSession:
        """End an open session, so that nobody pays for a hold that is over."""
        return _checkout(await _call(self._client.v1.checkout.sessions.expire_async, session_id))

    async def refund(
        self,
        *,
        payment_intent: str,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> RefundResult:
        """Refund ``amount_cents`` of a payment; the same key never refunds twice."""
        params: dict[str, Any] = {"payment_intent": payment_intent, "amount": amount_cents}
        if metadata:
            params["metadata"] = metadata
        refund = await _call(
            self._client.v1.refunds.create_async, params, {"idempotency_key": idempotency_key}
        )
        return RefundResult(id=refund.id, status=refund.status, amount=refund.amount)

    def verify_event(self, payload: bytes, signature: str, secret: str) -> dict[str, Any]:
        """The event Stripe signed, as plain data, or ``BadSignature`` (the library's check:
        HMAC-SHA256 of ``timestamp.payload`` under the endpoint's secret, within 5 minutes)."""
        try:
            return stripe.Webhook.construct_event(payload, signature, secret).to_dict()
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise BadSignature(str(error)) from error


def gateway_for(settings: Settings) -> StripeGateway | None:
    """The site's gateway, or None when Stripe is not configured (paid visits are paid on
    site then)."""
    if not settings.stripe_secret_key:
        return None
    return StripeGateway(settings.stripe_secret_key, settings.stripe_api_base)


async def _call(method: Any, *args: Any) -> Any:
    try:
        return await method(*args)
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise PaymentServiceUnavailable(_message(error)) from error
    except stripe.StripeError as error:
        status = error.http_status or 0
        if status >= 500 or isinstance(error, stripe.APIError):
            raise PaymentServiceUnavailable(_message(error)) from error
        raise PaymentRefused(_message(error)) from error


def _message(error: stripe.StripeError) -> str:
    return error.user_message or str(error) or type(error).__name__


def _checkout(found: Any) -> CheckoutSession:
    session = found.to_dict()
    expires = session.get("expires_at")
    intent = session.get("payment_intent")
    return CheckoutSession(
        id=session["id"],
        url=session.get("url"),
        status=session.get("status") or "open",
        payment_status=session.get("payment_status") or "unpaid",
        amount_total=session.get("amount_total"),
        currency=session.get("currency"),
        payment_intent=intent if isinstance(intent, str) or intent is None else intent["id"],
        expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
        metadata=dict(session.get("metadata") or {}),
    )
