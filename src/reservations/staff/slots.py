"""``/staff/slots/{id}``: one slot for the office: its facts, its bookings with their actions,
its waiting list ("offer now", "remove") and its audit trail, newest first. A refused action
shows the page again with the reason (and the HTTP status of the refusal); a done one redirects
back to the page (post/redirect/get) saying what was done."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from reservations import i18n
from reservations.base.errors import DomainError
from reservations.base.infra.db import Database
from reservations.base.reads.slot_overview import LIVE_WAITLIST, slot_overview
from reservations.base.rules import waitlist
from reservations.i18n import N_
from reservations.notices import followups, waitlist_emails
from reservations.settings import Settings
from reservations.staff import labels
from reservations.web.http_status import status_of

DONE_MESSAGES = {
    "offered": N_("Places offered: the person has been emailed a link to book them."),
    "removed": N_("Removed from the waiting list."),
}


def slot_path(slot_id: int, done: str | None = None) -> str:
    return f"/staff/slots/{slot_id}" + (f"?done={done}" if done else "")


async def slot_page(
    db: Database,
    slot_id: int,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    overview = await slot_overview(db, slot_id)
    return Template(
        template_name="staff/slot.html",
        context={
            "slot": overview.slot,
            "bookings": overview.bookings,
            "held_people": overview.held_people,
            "waitlist": overview.waitlist,
            "live_waitlist": LIVE_WAITLIST,
            "audit": overview.audit,
            "done": i18n.gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
            "error": error,
            **labels.template_globals(),
        },
        status_code=status_code,
    )


class SlotController(Controller):
    path = "/slots"

    @get("/{slot_id:int}", name="staff_slot")
    async def show(
        self,
        slot_id: FromPath[int],
        db: NamedDependency[Database],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await slot_page(db, slot_id, done=done)

    @post("/{slot_id:int}/waitlist/{entry_id:int}/offer", name="staff_waitlist_offer")
    async def offer(
        self,
        request: Request[Any, Any, Any],
        slot_id: FromPath[int],
        entry_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        try:
            await waitlist.offer_entry(
                db,
                slot_id,
                entry_id,
                notify=waitlist_emails.offer_notifier(settings, jinja),
                offer_minutes=settings.waitlist_offer_minutes,
                actor=request.user.actor,
            )
        except DomainError as exc:
            return await _refused(db, slot_id, exc)
        return Redirect(slot_path(slot_id, "offered"), status_code=HTTP_303_SEE_OTHER)

    @post("/{slot_id:int}/waitlist/{entry_id:int}/remove", name="staff_waitlist_remove")
    async def remove(
        self,
        request: Request[Any, Any, Any],
        slot_id: FromPath[int],
        entry_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        try:
            await waitlist.remove_entry(db, slot_id, entry_id, actor=request.user.actor)
        except DomainError as exc:
            return await _refused(db, slot_id, exc)
        await followups.left_waiting_list(db, settings, slot_id, environment=jinja)
        return Redirect(slot_path(slot_id, "removed"), status_code=HTTP_303_SEE_OTHER)


async def _refused(db: Database, slot_id: int, exc: DomainError) -> Template:
    return await slot_page(db, slot_id, error=i18n.error_text(exc), status_code=status_of(exc))
