"""``/staff/``: the at-risk board, the back office's first page: the visits whose go/no-go comes
within 72 hours while they are short of their minimum (who to promote, which farmer to call),
the pairs of them worth merging (one click invites the smaller group to move, each visitor
accepting with one tap), then today's and tomorrow's visits with their head counts."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base import clock
from reservations.base.errors import DomainError
from reservations.base.infra.db import Database
from reservations.base.reads import board
from reservations.base.rules import consolidation
from reservations.i18n import N_
from reservations.notices.move_invitation_emails import invitation_notifier
from reservations.settings import Settings
from reservations.staff import inputs, labels
from reservations.web.http_status import status_of

TO_CALL = N_("Bookings without an email address, to call: %(references)s.")
BAD_PAIR = N_("Choose two visits from the board.")
#: A booking's reference (``tokens.new_reference``), as the "to call" notice lists them.
REFERENCE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}")


async def board_page(
    db: Database,
    *,
    notices: tuple[str, ...] = (),
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    now = clock.now()
    today = clock.local_date(now)
    tomorrow = today + timedelta(days=1)
    at_risk = await board.at_risk(db, now=now)
    visits = await board.visits_between(db, today, tomorrow, now=now)
    return Template(
        template_name="staff/home.html",
        context={
            "at_risk": at_risk,
            "merges": await board.merge_proposals(db, at_risk, now=now),
            "moved_away": await board.moved_away(db, [slot.id for slot in at_risk]),
            "horizon_hours": int(board.HORIZON.total_seconds() // 3600),
            "days": [
                (today, [v for v in visits if v.starts_on == today]),
                (tomorrow, [v for v in visits if v.starts_on == tomorrow]),
            ],
            "today": today,
            "notices": notices,
            "error": error,
            **labels.template_globals(),
        },
        status_code=status_code,
    )


class HomeController(Controller):
    path = "/"

    @get("/", name="staff_home")
    async def home(
        self,
        db: NamedDependency[Database],
        invited: FromQuery[int | None] = None,
        people: FromQuery[int | None] = None,
        call: FromQuery[str | None] = None,
    ) -> Template:
        notices: list[str] = []
        if invited is not None and people is not None:
            said = i18n.ngettext(
                "Invitation sent to %(num)d booking (%(people)s): it moves with one tap of the "
                "link in its email; the board shows when it has.",
                "Invitations sent to %(num)d bookings (%(people)s): each moves with one tap of "
                "the link in its email; the board shows who has.",
                invited,
            )
            party = i18n.ngettext("%(num)d person", "%(num)d people", people) % {"num": people}
            notices.append(said % {"num": invited, "people": party})
        references = [r for r in (call or "").split(",") if REFERENCE.fullmatch(r)]
        if references:  # only what a reference looks like: the address is not a message board
            notices.append(i18n.gettext(TO_CALL) % {"references": ", ".join(references[:20])})
        return await board_page(db, notices=tuple(notices))

    @post("/merge", name="staff_merge")
    async def merge(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        """Invite the visitors of ``source`` to move to ``target`` (post/redirect/get)."""
        form = inputs.form_of(await request.form(), ("source", "target"))
        source, target = inputs.whole(form, "source"), inputs.whole(form, "target")
        if source is None or target is None:
            return await board_page(
                db, error=i18n.gettext(BAD_PAIR), status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        try:
            invited = await consolidation.invite_to_merge(
                db,
                source,
                target,
                actor=request.user.actor,
                notify=invitation_notifier(settings, jinja),
            )
        except DomainError as exc:
            return await board_page(db, error=i18n.error_text(exc), status_code=status_of(exc))
        query = f"?invited={invited.invited}&people={invited.people}"
        if invited.to_call:
            query += "&call=" + ",".join(invited.to_call)
        return Redirect("/staff/" + query, status_code=HTTP_303_SEE_OTHER)
