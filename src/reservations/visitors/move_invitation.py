"""``/move/{token}``: the page an invitation to move opens (consolidation, from the office's
at-risk board): both dates side by side and one button. Opening the link changes nothing (mail
scanners open links); the button moves the booking (``consolidation.accept``), then the visitor
is emailed the new date as after any move, and the freed places go to the waiting list.

The token is the secret: the page is never cached and sends no referrer."""

from __future__ import annotations

from jinja2 import Environment
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from reservations import i18n
from reservations.base import clock
from reservations.base.errors import DomainError
from reservations.base.infra.db import Database
from reservations.base.reads import catalogue
from reservations.base.rules import consolidation
from reservations.base.rules.consolidation import InvitationExpired, InvitationView
from reservations.notices import calendar, followups
from reservations.settings import Settings
from reservations.visitors.visits import RATE_LIMITED
from reservations.web.http_status import status_of

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def invitation_page(
    db: Database,
    token: str,
    invitation: InvitationView,
    *,
    refusal: str | None = None,
    status_code: int = 200,
) -> Template:
    source = await catalogue.slot_detail(db, invitation.source_slot_id, published_only=False)
    target = await catalogue.slot_detail(db, invitation.target_slot_id, published_only=False)
    now = clock.now()
    return Template(
        template_name="visitors/move_invitation.html",
        context={
            "token": token,
            "invitation": invitation,
            "source": source,
            "target": target,
            "party": calendar.party_text(invitation.adults, invitation.children),
            "moved": invitation.accepted_at is not None,
            "can_move": invitation.accepted_at is None
            and invitation.still_valid
            and not invitation.expired(now),
            "expired": invitation.accepted_at is None and invitation.expired(now),
            "refusal": refusal,
        },
        headers=PRIVATE,
        status_code=status_code,
    )


class MoveInvitationController(Controller):
    path = "/move"

    @get("/{token:str}", name="move-invitation")
    async def show(self, token: FromPath[str], db: NamedDependency[Database]) -> Template:
        return await invitation_page(db, token, await consolidation.find(db, token))

    @post("/{token:str}", opt=RATE_LIMITED, name="move-accept")
    async def accept(
        self,
        token: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        try:
            move = await consolidation.accept(db, token)
        except DomainError as exc:
            invitation = await consolidation.find(db, token)
            if invitation.accepted_at is not None:  # a second tap, or two at once: moved once
                return Redirect(f"/move/{token}", status_code=HTTP_303_SEE_OTHER)
            overrides = {"expires": i18n.moment(invitation.expires_at)}
            text = i18n.error_text(exc, **overrides if isinstance(exc, InvitationExpired) else {})
            return await invitation_page(
                db, token, invitation, refusal=text, status_code=status_of(exc)
            )
        await followups.booking_moved(db, settings, move, environment=jinja)
        return Redirect(f"/move/{token}", status_code=HTTP_303_SEE_OTHER)
