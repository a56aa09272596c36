"""The payment link staff send for a counter or phone booking of a paid visit
(``payments.send_payment_link``): "pay your booking online", in the booking's language, with
the amount and the link to Stripe's hosted page, queued in the outbox.

The dedup key is the booking and the link: the same open link is emailed once, a new link
(the previous one ran out) is emailed again."""

from __future__ import annotations

import hashlib
import logging

from jinja2 import Environment

from reservations import i18n
from reservations.base.infra.db import Database
from reservations.base.reads import catalogue
from reservations.base.rules.booking import BookingView
from reservations.i18n import N_
from reservations.notices import emails
from reservations.notices.calendar import party_text
from reservations.settings import Settings

logger = logging.getLogger(__name__)

SUBJECT = N_("Your booking {reference}: pay online")


def dedup_key(booking_id: int, url: str) -> str:
    return f"payment-link:{booking_id}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"


async def queue_payment_link(
    db: Database,
    environment: Environment | None,
    booking: BookingView,
    url: str,
    settings: Settings,
) -> bool:
    """Queue the email with the payment link; False when the booking has no email address,
    the same link was emailed before, or it could not be queued (logged: the link is on the
    booking's page for staff to give another way)."""
    if not booking.email:
        return False
    environment = environment or emails.default_environment()
    try:
        slot = await catalogue.slot_detail(db, booking.slot_id, published_only=False)
        with i18n.use_locale(booking.locale):
            email = emails.compose(
                environment,
                "payment_link",
                i18n.gettext(SUBJECT).format(reference=booking.reference),
                booking=booking,
                slot=slot,
                title=i18n.localized(slot.title, slot.activity_name),
                party=party_text(booking.adults, booking.children),
                total_cents=slot.total_cents(booking.adults, booking.children),
                payment_url=url,
                office_phone=settings.office_phone,
            )
        async with db.writing() as session:
            return await emails.enqueue(
                session,
                dedup_key(booking.id, url),
                booking.email,
                email,
                secret_key=settings.secret_key,
            )
    except Exception:
        logger.exception("could not queue the payment link of booking %s", booking.reference)
        return False
