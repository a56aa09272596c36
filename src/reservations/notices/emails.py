"""The booking confirmation email, in the visitor's language, queued in the outbox.

``booking.book`` commits its own transaction; the message is queued right after in its own
(with a dedup key, so queueing twice sends once). A failure to queue is logged and does not undo
the booking: the confirmation page shows everything the email holds.

``booking_email`` is what an email about one booking is made of, the confirmation's and the
move's (``notices.move``): the booking's language, subject, common context and calendar file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession

from reservations import i18n
from reservations.base.infra import outbox
from reservations.base.infra.db import Database
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules.booking import BookingView
from reservations.i18n import N_
from reservations.notices import calendar, ics
from reservations.settings import Settings
from reservations.web.templating import make_environment, render

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Email:
    """One message in its reader's language: a plain text and an HTML part (from the template
    pair ``emails/<name>.txt`` and ``.html``), and attachments for the outbox."""

    subject: str
    text: str
    html: str
    attachments: tuple[dict[str, str], ...] = ()


@cache
def default_environment() -> Environment:
    """For emails written outside a request (``tick``): the app's environment is the same."""
    return make_environment()


def compose(
    environment: Environment,
    name: str,
    subject: str,
    attachments: tuple[dict[str, str], ...] = (),
    **context: Any,
) -> Email:
    """Render the template pair ``emails/<name>`` in the current language."""
    return Email(
        subject=subject,
        text=render(environment, f"emails/{name}.txt", **context),
        html=render(environment, f"emails/{name}.html", **context),
        attachments=attachments,
    )


async def enqueue(
    session: AsyncSession,
    key: str,
    to: str,
    email: Email,
    *,
    secret_key: str | None = None,
    parked: bool = False,
) -> bool:
    """Queue ``email`` in the outbox within ``session``'s transaction; False if ``key`` was
    queued before (someone is never told the same thing twice). An email with a secret link
    (manage, waiting list) needs ``secret_key``: the outbox keeps that link sealed."""
    return await outbox.enqueue(
        session,
        dedup_key=key,
        to=to,
        subject=email.subject,
        text=email.text,
        html=email.html,
        attachments=email.attachments,
        secret_key=secret_key,
        parked=parked,
    )


def booking_email(
    environment: Environment,
    name: str,
    subject: str,
    booking: BookingView,
    slot: SlotDetail,
    office_phone: str,
    event: Callable[[], bytes],
    **context: Any,
) -> Email:
    """An email about ``booking`` at ``slot`` in the booking's language, from the template pair
    ``emails/<name>``: ``subject`` is a msgid naming ``{title}`` and ``{day}``, ``event`` builds
    the booking's calendar file to attach, ``context`` is what only this email shows."""
    with i18n.use_locale(booking.locale):
        title = i18n.localized(slot.title, slot.activity_name)
        attachment = ics.as_attachment(event(), calendar.calendar_filename(booking))
        return compose(
            environment,
            name,
            i18n.gettext(subject).format(title=title, day=i18n.day(slot.starts_at)),
            (attachment,),
            booking=booking,
            slot=slot,
            title=title,
            party=calendar.party_text(booking.adults, booking.children),
            location=calendar.location_text(slot),
            office_phone=office_phone,
            **context,
        )


def booking_confirmed(
    environment: Environment,
    booking: BookingView,
    slot: SlotDetail,
    manage_url: str,
    office_phone: str,
) -> Email:
    """The confirmation of ``booking``, written in the booking's language."""
    return booking_email(
        environment,
        "booking_confirmed",
        N_("Booking confirmed: {title}, {day}"),
        booking,
        slot,
        office_phone,
        lambda: calendar.booking_calendar(booking, slot, manage_url),
        manage_url=manage_url,
        total_cents=slot.total_cents(booking.adults, booking.children),
    )


async def queue_booking_confirmed(
    db: Database,
    environment: Environment,
    booking: BookingView,
    slot: SlotDetail,
    manage_url: str,
    settings: Settings,
    *,
    parked: bool = False,
) -> bool:
    """Queue the confirmation; False when there is no address or it could not be queued.
    ``parked`` for a hold: its payment releases it (``payments``), an unpaid end drops it."""
    if not booking.email:
        return False
    try:
        email = booking_confirmed(environment, booking, slot, manage_url, settings.office_phone)
        async with db.writing() as session:
            return await enqueue(
                session,
                f"booking-confirmed:{booking.id}",
                booking.email,
                email,
                secret_key=settings.secret_key,
                parked=parked,
            )
    except Exception:
        logger.exception("could not queue the confirmation of booking %s", booking.reference)
        return False
