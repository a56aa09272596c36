"""Refunds: what a cancellation gives back (the activity's policy), staff's partial refunds,
and sending them to Stripe exactly once, retried by ``tick`` while Stripe is unreachable.

A refund is a row first (``pending``, with its idempotency key), written in the transaction
that cancels; ``settle`` sends the pending ones to Stripe. The same key on every attempt means
a retry after a timeout never refunds twice.

Policy: a slot cancelled (go/no-go, the farmer, staff, weather) refunds everything paid
online; a booking cancelled before the visit's cut-off too; after it (staff cancelling for a
visitor), the activity's ``late_refund_percent``. Money paid at the counter is given back at
the counter: staff record it, nothing is sent.
"""

from __future__ import annotations

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import StripeGateway


async def refund_partial(
    db: Database, booking_id: int, amount_cents: int, *, actor: str, now: clock.At = None
) -> int:
    """Staff refund part (or all) of what a booking paid online, with an audit entry; the
    refund's id (``pending`` until ``settle`` sends it). ``InvalidAmount`` when the amount is
    not positive; ``RefundTooLarge`` beyond what was paid online and not yet refunded."""
    raise NotImplementedError


async def settle(db: Database, gateway: StripeGateway, *, now: clock.At = None) -> int:
    """Send every due pending refund to Stripe; the number that succeeded. Stripe down: the
    refund stays pending with its error and a later attempt time (``tick`` retries)."""
    raise NotImplementedError
