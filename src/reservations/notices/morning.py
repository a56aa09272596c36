"""The morning email: each provider with visitors today gets its day sheet (who comes, when, how
many, their phones and notes) once the office's morning hour has passed.

``reservations tick`` calls ``queue_morning_emails`` every time it runs; the dedup key
``provider-day:{provider}:{day}`` makes it one message per provider and day however often and
however concurrently it runs, and providers already served are left out by the first query, so
the ticks after the first cost one SELECT. The email cannot hold the private link (only its
hash is stored): it tells the farmer to open the day sheet with that link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from jinja2 import Environment
from sqlalchemy import String, cast, literal, select

from reservations import i18n
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import OutboxMessage, Provider, SlotStatus
from reservations.base.reads.day_sheet import DaySheet, day_sheet, providers_with_visitors_on
from reservations.notices import emails, words
from reservations.settings import Settings


def dedup_key(provider_id: int, day: date) -> str:
    return f"provider-day:{provider_id}:{day.isoformat()}"


@dataclass(frozen=True)
class _Recipient:
    id: int
    name: str
    email: str
    languages: list[str]


async def queue_morning_emails(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    environment: Environment | None = None,
) -> int:
    """Queue today's day sheet for every provider with visitors still to come and an email
    address, not sent it yet, once it is ``settings.morning_email_hour`` in Paris; returns how
    many were queued."""
    local = (now or clock.now()).astimezone(clock.OFFICE_TZ)
    if local.hour < settings.morning_email_hour:
        return 0
    day = local.date()
    provider_ids = await providers_with_visitors_on(db, day, after=local)
    if not provider_ids:
        return 0
    environment = environment or emails.default_environment()
    queued = 0
    for recipient in await _not_sent_yet(db, provider_ids, day):
        sheet = await day_sheet(db, recipient.id, day)
        with i18n.use_locale(i18n.provider_locale(recipient.languages)):
            email = _compose(environment, settings, recipient, sheet)
        async with db.writing() as session:
            queued += await emails.enqueue(
                session, dedup_key(recipient.id, day), recipient.email, email
            )
    return queued


async def _not_sent_yet(db: Database, provider_ids: list[int], day: date) -> list[_Recipient]:
    """The providers among ``provider_ids`` with an address and no day sheet queued for ``day``."""
    key = literal("provider-day:") + cast(Provider.id, String) + f":{day.isoformat()}"
    sent = select(OutboxMessage.id).where(OutboxMessage.dedup_key == key).exists()
    query = (
        select(Provider.id, Provider.name, Provider.email, Provider.languages)
        .where(
            Provider.id.in_(provider_ids),
            Provider.email.is_not(None),
            Provider.email != "",
            ~sent,
        )
        .order_by(Provider.id)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [_Recipient(row.id, row.name, row.email, list(row.languages or [])) for row in rows]


def _compose(
    environment: Environment, settings: Settings, recipient: _Recipient, sheet: DaySheet
) -> emails.Email:
    locale = i18n.current()
    slots = [
        {
            "slot": slot,
            "title": slot.title_in(locale),
            "status": words.status_words(slot.status),
            "cancelled": slot.status == SlotStatus.CANCELLED,
            "reason": words.reason_words(slot.cancel_reason)
            if slot.status == SlotStatus.CANCELLED
            else None,
            "bookings": slot.live_bookings,
        }
        for slot in sheet.slots
    ]
    context = {
        "provider": recipient.name,
        "sheet": sheet,
        "slots": slots,
        "office_phone": settings.office_phone,
    }
    subject = i18n.ngettext(
        "Your visitors on {day}: {people} person",
        "Your visitors on {day}: {people} people",
        sheet.people,
    ).format(day=i18n.day(sheet.day), people=sheet.people)
    return emails.compose(environment, "provider_day", subject, **context)
