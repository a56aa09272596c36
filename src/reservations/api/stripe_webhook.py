"""``POST /payments/stripe/webhook``: Stripe's signed events. The signature is checked by the
``stripe`` library with ``RESERVATIONS_STRIPE_WEBHOOK_SECRET`` (a wrong, missing or stale one:
400, nothing changes); each event id is applied once (``stripe_events``), a replay is a 200
that does nothing. A payment that came too late for its places is refunded here at once
(best effort: ``tick`` retries) and the visitor told."""

from __future__ import annotations

import logging
from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND

from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import BadSignature, StripeGateway
from reservations.base.rules import refunds, stripe_events
from reservations.base.rules.stripe_events import Outcome
from reservations.notices import refund_emails
from reservations.settings import Settings

logger = logging.getLogger(__name__)
#: Stripe sends events of up to a few kilobytes; a larger body is not Stripe's.
MAX_EVENT_BODY = 256 * 1024


def _answer(status: int, message: str) -> Response[dict[str, str]]:
    return Response({"message": message}, status_code=status)


class StripeWebhookController(Controller):
    path = "/payments/stripe/webhook"
    include_in_schema = False

    @post("/", status_code=HTTP_200_OK, request_max_body_size=MAX_EVENT_BODY)
    async def receive(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        stripe_gateway: NamedDependency[StripeGateway | None],
        jinja: NamedDependency[Environment],
    ) -> Response[dict[str, str]]:
        if stripe_gateway is None or not settings.stripe_webhook_secret:
            return _answer(HTTP_404_NOT_FOUND, "Online payments are not configured here.")
        payload = await request.body()
        signature = request.headers.get("stripe-signature", "")
        try:
            event = stripe_gateway.verify_event(payload, signature, settings.stripe_webhook_secret)
        except BadSignature as error:
            logger.warning("Stripe webhook refused: %s", error)
            return _answer(HTTP_400_BAD_REQUEST, "The signature of this event is not valid.")
        handled = await stripe_events.handle_event(db, event)
        if handled.outcome == Outcome.REFUND_DUE and handled.booking_id is not None:
            await _refund_late_payment(db, stripe_gateway, settings, jinja, handled.booking_id)
        return _answer(HTTP_200_OK, handled.outcome.value)


async def _refund_late_payment(
    db: Database,
    gateway: StripeGateway,
    settings: Settings,
    jinja: Environment,
    booking_id: int,
) -> None:
    """Send the refund and tell the visitor; a failure here is retried by ``tick``."""
    try:
        await refunds.settle(db, gateway)
        await refund_emails.queue_late_payment_refunded(db, booking_id, settings, environment=jinja)
    except Exception:
        logger.exception("could not refund the late payment of booking %s yet", booking_id)
