"""The email telling a visitor that their payment came too late for the places and is given
back in full, in their language, queued once per refund (``late-payment-refunded:{refund}``).
"""

from __future__ import annotations

from jinja2 import Environment
from sqlalchemy import select

from reservations import i18n
from reservations.base.infra.db import Database
from reservations.base.models import Refund, RefundReason
from reservations.base.reads import booking_lookup
from reservations.i18n import N_
from reservations.notices import emails
from reservations.notices.calendar import party_text
from reservations.settings import Settings


async def queue_late_payment_refunded(
    db: Database, booking_id: int, settings: Settings, *, environment: Environment | None = None
) -> int:
    """Queue the email for each refund of a payment that came too late; how many queued."""
    booking = await booking_lookup.booking_view(db, booking_id)
    if not booking.email:
        return 0
    async with db.reading() as session:
        refunds = (
            await session.execute(
                select(Refund.id, Refund.amount_cents).where(
                    Refund.booking_id == booking_id, Refund.reason == RefundReason.NO_PLACES
                )
            )
        ).all()
    environment = environment or emails.default_environment()
    queued = 0
    for refund_id, cents in refunds:
        with i18n.use_locale(booking.locale):
            title = booking.activity_in(booking.locale)
            email = emails.compose(
                environment,
                "late_payment_refunded",
                i18n.gettext(N_("Your payment is refunded: {title}, {day}")).format(
                    title=title, day=i18n.day(booking.starts_at)
                ),
                booking=booking,
                title=title,
                party=party_text(booking.adults, booking.children),
                amount=i18n.money(cents),
                office_phone=settings.office_phone,
            )
        async with db.writing() as session:
            queued += await emails.enqueue(
                session, f"late-payment-refunded:{refund_id}", booking.email, email
            )
    return queued
