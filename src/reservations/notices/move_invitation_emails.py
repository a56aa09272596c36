"""The invitation to move to another date of the same visit (consolidation), in its reader's
language, queued in the outbox in the transaction that makes the invitation (its link's secret
sealed there, as every secret link is). What the visitor is told once they accept is the
ordinary move email (``notices.move``, through ``followups.booking_moved``)."""

from __future__ import annotations

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession

from reservations import i18n
from reservations.base.rules.consolidation import Invitation, InvitationNotify
from reservations.notices import emails
from reservations.notices.calendar import party_text
from reservations.notices.visit_facts import office_links, visit_with_titles
from reservations.settings import Settings
from reservations.web.links import move_invitation_url


def invitation_notifier(
    settings: Settings, environment: Environment | None = None
) -> InvitationNotify:
    """``notify`` for ``consolidation.invite_to_merge``."""
    environment = environment or emails.default_environment()

    async def notify(session: AsyncSession, invitation: Invitation) -> None:
        titles, name, row = await visit_with_titles(session, invitation.target_slot_id)
        with i18n.use_locale(invitation.locale):
            title = i18n.localized(titles, name)
            email = emails.compose(
                environment,
                "move_invitation",
                i18n.gettext("Move to a date that takes place: {title}, {day}").format(
                    title=title, day=i18n.day(invitation.target_starts_at)
                ),
                invitation=invitation,
                title=title,
                provider=row.provider,
                party=party_text(invitation.adults, invitation.children),
                move_url=move_invitation_url(settings.public_url, invitation.token),
                **office_links(settings),
            )
        await emails.enqueue(
            session, invitation.dedup_key, invitation.email, email, secret_key=settings.secret_key
        )

    return notify
