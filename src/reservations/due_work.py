"""The due work: what ``reservations tick`` runs, and what the server runs by itself on a
schedule (``scheduler``). Each step is safe to run twice or at once: the decisions are
conditional updates, the emails have dedup keys, the holds are released once, the refunds carry
their own idempotency keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reservations.base.infra.db import Database
from reservations.base.infra.mailer import DeliveryReport, deliver_due, transport_for
from reservations.base.infra.stripe_gateway import gateway_for
from reservations.base.rules import holds, payments, refunds
from reservations.base.rules.slots import Decisions, decide_due_slots
from reservations.base.rules.waitlist import TickResult
from reservations.notices import followups, refund_emails
from reservations.notices.morning import queue_morning_emails
from reservations.settings import Settings


@dataclass(frozen=True)
class DueWorkDone:
    decisions: Decisions
    offers: TickResult
    day_sheets: int
    refunds_sent: int
    checkouts_ended: int
    delivery: DeliveryReport


async def tick_before_mail(database: Database, settings: Settings) -> tuple[Any, Any, int]:
    """The go/no-go decisions and what follows them, then the waiting list: the people of every
    cancelled slot not told yet are told (once each, even after a crash between the decision and
    the email), expired offers end, free places are offered; after the morning hour, each
    provider with visitors today gets its day sheet (once). Lapsed place holds are tidied first
    (they stopped counting at their end already: this only marks them expired)."""
    await holds.tidy(database)
    decisions = await decide_due_slots(database, actor="tick")
    offers = await followups.catch_up(database, settings)
    return decisions, offers, await queue_morning_emails(database, settings)


async def tick_payments(database: Database, settings: Settings) -> tuple[int, int]:
    """With Stripe configured: send the refunds still pending (Stripe was unreachable), end
    the checkouts of holds that are over, and tell the visitors whose late payment was
    refunded (once each). The refunds sent and the checkouts ended."""
    gateway = gateway_for(settings)
    if gateway is None:
        return 0, 0
    sent = await refunds.settle(database, gateway)
    ended = await payments.expire_checkouts(database, gateway)
    for booking_id in await refunds.recent_late_payment_refunds(database):
        await refund_emails.queue_late_payment_refunded(database, booking_id, settings)
    return sent, ended


async def run_due_work(database: Database, settings: Settings) -> DueWorkDone:
    """Everything that is due, then the outgoing mail."""
    decisions, offers, day_sheets = await tick_before_mail(database, settings)
    refunds_sent, checkouts_ended = await tick_payments(database, settings)
    delivery = await deliver_due(database, transport_for(settings))
    return DueWorkDone(decisions, offers, day_sheets, refunds_sent, checkouts_ended, delivery)
