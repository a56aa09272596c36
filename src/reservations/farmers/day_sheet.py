"""The farmer's day sheet (``/farm/{secret}`` and ``/farm/{secret}/{day}``): who comes that day,
attendance in one tap, and calling a visit off. Every read and write is scoped to ``farm``, the
provider of the link (see ``access.provide_farm``); a slot of another farm is not found."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base import clock
from reservations.base.errors import DomainError
from reservations.base.infra.db import Database
from reservations.base.reads import day_sheet
from reservations.base.reads.day_sheet import SheetSlot
from reservations.base.rules import slots
from reservations.base.rules.provider_links import ProviderRef
from reservations.farmers import forms
from reservations.notices import followups, words
from reservations.settings import Settings
from reservations.web import links
from reservations.web.forms import Form
from reservations.web.http_status import status_of

#: How far the list of coming days looks ahead.
COMING_DAYS = 14
#: What a redirect after a change says on the page it lands on.
DONE_MESSAGES = {
    "attendance": i18n.N_("Attendance recorded. Thank you!"),
    "cancelled": i18n.N_("The visit is called off. Its visitors are being told by email."),
}


def _actor(farm: ProviderRef) -> str:
    return f"provider:{farm.id}"


def _day_path(secret: str, day: date, anchor: str = "", done: str = "") -> str:
    path = f"{links.PREFIX}/{secret}/{day.isoformat()}"
    return path + (f"?done={done}" if done else "") + (f"#{anchor}" if anchor else "")


async def _sheet_page(
    db: Database,
    settings: Settings,
    farm: ProviderRef,
    secret: str,
    day: date,
    *,
    done: str | None = None,
    refused: tuple[int, Form] | None = None,
    status_code: int = 200,
) -> Template:
    """The day sheet; ``refused`` is a slot whose attendance form comes back with its errors."""
    now = clock.now()
    sheet = await day_sheet.day_sheet(db, farm.id, day)
    attendance_forms = {slot.id: forms.attendance_form(slot) for slot in sheet.slots}
    if refused is not None:
        attendance_forms[refused[0]] = refused[1]
    return Template(
        template_name="farmers/day.html",
        context={
            "farm": farm,
            "sheet": sheet,
            "day": day,
            "today": clock.local_date(now),
            "previous_day": day - timedelta(days=1),
            "next_day": day + timedelta(days=1),
            "coming": await day_sheet.coming_days(db, farm.id, clock.local_date(now), COMING_DAYS),
            "attendance_forms": attendance_forms,
            "attendance_fields": forms.attendance_fields,
            "reason_labels": words.CANCEL_REASON,
            "status_badges": words.SLOT_STATUS_BADGE,
            "now": now,
            "done": i18n.gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
            "base_path": f"{links.PREFIX}/{secret}",
            "feed_url": links.feed_url(settings.public_url, secret),
            "webcal_url": links.webcal_url(settings.public_url, secret),
            "office_phone": settings.office_phone,
        },
        status_code=status_code,
    )


def _cancel_page(
    farm: ProviderRef, secret: str, slot: SheetSlot, form: Form, status_code: int = 200
) -> Template:
    return Template(
        template_name="farmers/cancel.html",
        context={
            "farm": farm,
            "slot": slot,
            "form": form,
            "reasons": [(r.value, words.CANCEL_REASON[r]) for r in forms.FARMER_REASONS],
            "status_badges": words.SLOT_STATUS_BADGE,
            "back": _day_path(secret, slot.starts_on, f"slot-{slot.id}"),
            "base_path": f"{links.PREFIX}/{secret}",
            "now": clock.now(),
        },
        status_code=status_code,
    )


class DaySheetController(Controller):
    path = "/"

    @get("/", name="farmer_today")
    async def today(
        self,
        farm: NamedDependency[ProviderRef],
        secret: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await _sheet_page(db, settings, farm, secret, clock.today(), done=done)

    @get("/{day:date}", name="farmer_day")
    async def day(
        self,
        farm: NamedDependency[ProviderRef],
        secret: FromPath[str],
        day: FromPath[date],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await _sheet_page(db, settings, farm, secret, day, done=done)

    @post("/slots/{slot_id:int}/attendance", name="farmer_attendance")
    async def record_attendance(
        self,
        request: Request[Any, Any, Any],
        farm: NamedDependency[ProviderRef],
        secret: FromPath[str],
        slot_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        slot = await day_sheet.sheet_slot(db, farm.id, slot_id)
        day = slot.starts_on
        form, present = forms.attendance_submitted(slot, await request.form())
        status_code = HTTP_422_UNPROCESSABLE_ENTITY
        if present is not None:
            try:
                await slots.record_attendance(
                    db, slot.id, present, actor=_actor(farm), provider_id=farm.id
                )
            except DomainError as exc:
                field = forms.attendance_fields(int(exc.field))[1] if exc.field else ""
                form.add_error(field, i18n.error_text(exc))
                status_code = status_of(exc)
        if not form.valid:
            return await _sheet_page(
                db, settings, farm, secret, day, refused=(slot.id, form), status_code=status_code
            )
        return Redirect(
            _day_path(secret, day, f"slot-{slot.id}", done="attendance"),
            status_code=HTTP_303_SEE_OTHER,
        )

    @get("/slots/{slot_id:int}/cancel", name="farmer_cancel_form")
    async def cancel_form(
        self,
        farm: NamedDependency[ProviderRef],
        secret: FromPath[str],
        slot_id: FromPath[int],
        db: NamedDependency[Database],
    ) -> Template:
        slot = await day_sheet.sheet_slot(db, farm.id, slot_id)
        return _cancel_page(farm, secret, slot, forms.cancel_form())

    @post("/slots/{slot_id:int}/cancel", name="farmer_cancel")
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        farm: NamedDependency[ProviderRef],
        secret: FromPath[str],
        slot_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        slot = await day_sheet.sheet_slot(db, farm.id, slot_id)
        form, reason = forms.cancel_submitted(await request.form())
        if reason is None:
            return _cancel_page(farm, secret, slot, form, HTTP_422_UNPROCESSABLE_ENTITY)
        try:
            told = await slots.cancel_slot(
                db,
                slot.id,
                reason,
                actor=_actor(farm),
                message=form.values["message"] or None,
                provider_id=farm.id,
            )
        except DomainError as exc:
            form.add_error("", i18n.error_text(exc))
            slot = await day_sheet.sheet_slot(db, farm.id, slot_id)
            return _cancel_page(farm, secret, slot, form, status_of(exc))
        await followups.slot_cancelled(db, settings, slot.id, told)
        return Redirect(
            _day_path(secret, slot.starts_on, f"slot-{slot.id}", "cancelled"),
            status_code=HTTP_303_SEE_OTHER,
        )
