"""The waiting list's emails, each in its reader's language, queued in the outbox
(``emails.enqueue``) with a dedup key so that nobody is told the same thing twice: "you are on
the waiting list" (``waitlist-joined:{entry}``) and "places are free for you"
(``Offer.dedup_key``).

They are the ``notify`` callables of ``waitlist.join`` and of the offers: the domain awaits them
inside the transaction that makes the entry or the offer, so both are written together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession

from reservations import i18n
from reservations.base.rules.waitlist import JoinNotify, JoinReceipt, Offer, OfferNotify
from reservations.notices import emails
from reservations.notices.calendar import party_text
from reservations.notices.visit_facts import office_links, visit_with_titles
from reservations.settings import Settings
from reservations.web.links import waitlist_url


@dataclass(frozen=True)
class _Visit:
    """What a waiting-list email says of its visit."""

    title: str
    provider: str
    starts_at: datetime
    ends_at: datetime


def join_notifier(settings: Settings, environment: Environment | None = None) -> JoinNotify:
    """``notify`` for ``waitlist.join``: "you are on the waiting list", with the entry's link."""
    environment = environment or emails.default_environment()

    async def notify(session: AsyncSession, receipt: JoinReceipt) -> None:
        entry = receipt.entry
        titles, name, row = await visit_with_titles(session, entry.slot_id)
        with i18n.use_locale(entry.locale):
            facts = _Visit(
                i18n.localized(titles, name), row.provider, row.Slot.starts_at, row.Slot.ends_at
            )
            email = emails.compose(
                environment,
                "waitlist_joined",
                i18n.gettext("On the waiting list: {title}, {day}").format(
                    title=facts.title, day=i18n.day(facts.starts_at)
                ),
                entry=entry,
                slot=facts,
                party=party_text(entry.adults, entry.children),
                entry_url=waitlist_url(settings.public_url, receipt.token),
                **office_links(settings),
            )
        await emails.enqueue(
            session,
            f"waitlist-joined:{entry.id}",
            entry.email,
            email,
            secret_key=settings.secret_key,
        )

    return notify


def offer_notifier(settings: Settings, environment: Environment | None = None) -> OfferNotify:
    """``notify`` for the offers (``followups``, ``waitlist.tick``, staff's "offer now"): places
    are free, claim them with this link before the offer runs out."""
    environment = environment or emails.default_environment()

    async def notify(session: AsyncSession, offer: Offer) -> None:
        entry = offer.entry
        with i18n.use_locale(entry.locale):
            facts = _Visit(
                offer.activity_in(i18n.current()), offer.provider, offer.starts_at, offer.ends_at
            )
            email = emails.compose(
                environment,
                "waitlist_offer",
                i18n.gettext("Places are free for you: {title}, {day}").format(
                    title=facts.title, day=i18n.day(facts.starts_at)
                ),
                entry=entry,
                slot=facts,
                party=party_text(entry.adults, entry.children),
                claim_url=waitlist_url(settings.public_url, offer.claim_token),
                expires_at=offer.expires_at,
                **office_links(settings),
            )
        await emails.enqueue(
            session, offer.dedup_key, entry.email, email, secret_key=settings.secret_key
        )

    return notify
