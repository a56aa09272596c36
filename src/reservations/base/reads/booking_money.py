"""What a booking's pages say about its money: due, paid, refunded, how, and whether a hold
still waits for its payment. One query for one booking or for a list (no N+1)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reservations.base.infra.db import Database


@dataclass(frozen=True)
class BookingMoney:
    due_cents: int  # the price of the party at the activity's prices
    paid_cents: int  # paid, whatever the method (on-site payments count once recorded paid)
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
        raise NotImplementedError


async def money_of(db: Database, booking_id: int) -> BookingMoney:
    raise NotImplementedError


async def money_of_many(db: Database, booking_ids: Sequence[int]) -> dict[int, BookingMoney]:
    raise NotImplementedError


class ReturnState(enum.StrEnum):
    CONFIRMED = "confirmed"  # paid, and the places are the visitor's
    WAITING = "waiting"  # Stripe has not told us yet: refresh
    ENDED = "ended"  # the hold ran out (or was cancelled) unpaid
    REFUNDED = "refunded"  # paid too late for the places: refunded


@dataclass(frozen=True)
class CheckoutReturn:
    state: ReturnState
    reference: str
    booking_id: int
    locale: str


async def checkout_return(db: Database, reference: str, session_id: str) -> CheckoutReturn | None:
    """The state of the booking a visitor comes back from Stripe for: None unless the
    booking ``reference`` and the checkout ``session_id`` belong together."""
    raise NotImplementedError
