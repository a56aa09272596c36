"""``/staff/bookings``: bookings at the counter and on the phone. Find a booking (reference,
name, email, phone); book on a slot through the same ``booking.book`` as the site (capacity,
cut-off, party rules, idempotency: a double click books once), the confirmation emailed when an
address is given; see one booking with its history, cancel it, or move it to another slot (the
visitor is emailed the new date, the freed places go to the waiting list).

Refusals show the page again with the values kept and the reason beside the field; a done
change redirects (post/redirect/get) to the booking's page saying what was done."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base import clock
from reservations.base.errors import BookingClosed, DomainError, IdempotencyKeyReused
from reservations.base.infra.db import Database
from reservations.base.models import BookingStatus
from reservations.base.reads import booking_lookup, catalogue
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules import booking as booking_service
from reservations.base.rules import moves
from reservations.base.rules.booking import BookingPolicy
from reservations.i18n import N_
from reservations.notices import emails, followups
from reservations.settings import SUPPORTED_LOCALES, Settings
from reservations.staff import booking_forms, labels
from reservations.staff.inputs import day as day_input
from reservations.staff.inputs import form_of, whole
from reservations.web import forms, links
from reservations.web.forms import Form
from reservations.web.http_status import status_of
from reservations.web.inputs import whole_number

DONE_MESSAGES = {
    "booked": N_("Booked."),
    "booked_emailed": N_("Booked. The confirmation is on its way by email."),
    "cancelled": N_(
        "The booking is cancelled; its places went back on sale and the visitor is told by email."
    ),
    "moved": N_("The booking is moved."),
    "moved_emailed": N_("The booking is moved. The visitor is told the new date by email."),
}


def booking_path(booking_id: int, done: str | None = None) -> str:
    return f"/staff/bookings/{booking_id}" + (f"?done={done}" if done else "")


def _when_text(exc: DomainError, slot: SlotDetail | None) -> dict[str, str]:
    """Times in a refusal, written for the reader."""
    if isinstance(exc, BookingClosed) and slot is not None:
        return {"cutoff": i18n.moment(slot.booking_cutoff_at)}
    return {}


# --- pages ----------------------------------------------------------------------------------


def _new_booking_page(
    slot: SlotDetail, form: Form, policy: BookingPolicy, status_code: int = 200
) -> Template:
    return Template(
        template_name="staff/booking_new.html",
        context={
            "slot": slot,
            "form": form,
            "max_party": policy.max_party_size,
            "staff_channels": labels.STAFF_CHANNELS,
            "locales": SUPPORTED_LOCALES,
            **labels.template_globals(),
        },
        status_code=status_code,
    )


async def _picker_page(db: Database, submitted: Any) -> Template:
    """Choose a slot: a day (today unless given) and, if wanted, an activity."""
    form = form_of(submitted, ("day", "activity_id"))
    chosen_day = day_input(form, "day", optional=True) or clock.today()
    activity_id = whole(form, "activity_id", optional=True)
    form.values["day"] = form.values["day"] or chosen_day.isoformat()
    return Template(
        template_name="staff/booking_pick.html",
        context={
            "form": form,
            "day": chosen_day,
            "previous_day": chosen_day - timedelta(days=1),
            "next_day": chosen_day + timedelta(days=1),
            "slots": await booking_lookup.open_slots_on(db, chosen_day, activity_id=activity_id),
            "activities": await booking_lookup.activity_choices(db),
        },
        status_code=HTTP_422_UNPROCESSABLE_ENTITY if form.errors else 200,
    )


async def _booking_page(
    db: Database,
    booking_id: int,
    *,
    done: str | None = None,
    cancel: Form | None = None,
    move: Form | None = None,
    status_code: int = 200,
) -> Template:
    record = await booking_lookup.booking_record(db, booking_id)
    live = record.booking.status == BookingStatus.CONFIRMED
    return Template(
        template_name="staff/booking.html",
        context={
            "record": record,
            "booking": record.booking,
            "live": live,
            "targets": await booking_lookup.move_targets(db, record.booking) if live else [],
            "cancel_form": cancel or Form({"confirm": ""}),
            "move_form": move or booking_forms.move_form(),
            "done": i18n.gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
            **labels.template_globals(),
        },
        status_code=status_code,
    )


class BookingController(Controller):
    path = "/bookings"

    @get("/", name="staff_bookings")
    async def search(self, db: NamedDependency[Database], q: FromQuery[str] = "") -> Template:
        text = q.strip()[:200]
        return Template(
            template_name="staff/bookings.html",
            context={
                "q": text,
                "found": await booking_lookup.search(db, text) if text else [],
                "limit": booking_lookup.SEARCH_LIMIT,
                **labels.template_globals(),
            },
        )

    @get("/new", name="staff_booking_new")
    async def new(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
    ) -> Template:
        """The booking form for ``?slot_id=``, or the slot picker without it."""
        slot_id = whole_number(request.query_params.get("slot_id", ""))
        if slot_id is None:
            return await _picker_page(db, request.query_params)
        slot = await catalogue.slot_detail(db, slot_id, published_only=False)
        form = booking_forms.blank_booking_form(slot.id, i18n.current())
        return _new_booking_page(slot, form, booking_policy)

    @post("/new", name="staff_book")
    async def book(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        submitted = await request.form()
        slot_id = whole_number(str(submitted.get("slot_id") or ""))
        if slot_id is None:
            return await _picker_page(db, {})
        slot = await catalogue.slot_detail(db, slot_id, published_only=False)
        form, booking_request = booking_forms.booking_request(submitted, slot.id)
        if booking_request is None:
            return _new_booking_page(slot, form, booking_policy, HTTP_422_UNPROCESSABLE_ENTITY)
        try:
            receipt = await booking_service.book(
                db,
                booking_request,
                booking_policy,
                actor=request.user.actor,
                idempotency_key=booking_forms.idempotency_key(form.values["form_key"]),
            )
        except IdempotencyKeyReused as exc:
            booking_forms.renew_key(form).add_error("", i18n.gettext(forms.FORM_USED))
            return _new_booking_page(slot, form, booking_policy, status_of(exc))
        except DomainError as exc:
            slot = await catalogue.slot_detail(db, slot.id, published_only=False)
            form.refused(exc, **_when_text(exc, slot))
            return _new_booking_page(slot, form, booking_policy, status_of(exc))
        done = "booked"
        if not receipt.replayed and await emails.queue_booking_confirmed(
            db,
            jinja,
            receipt.booking,
            slot,
            links.manage_url(settings.public_url, receipt.manage_token),
            settings,
        ):
            done = "booked_emailed"
        return Redirect(booking_path(receipt.booking.id, done), status_code=HTTP_303_SEE_OTHER)

    @get("/{booking_id:int}", name="staff_booking")
    async def show(
        self,
        booking_id: FromPath[int],
        db: NamedDependency[Database],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await _booking_page(db, booking_id, done=done)

    @post("/{booking_id:int}/cancel", name="staff_booking_cancel")
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        booking_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        form = forms.cancel_confirmed(await request.form())
        if not form.valid:
            return await _booking_page(
                db, booking_id, cancel=form, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        try:
            await booking_service.cancel_booking(db, booking_id, actor=request.user.actor)
        except DomainError as exc:
            form.add_error("confirm", i18n.error_text(exc))
            return await _booking_page(db, booking_id, cancel=form, status_code=status_of(exc))
        await followups.booking_cancelled(
            db, settings, booking_id, by_office=True, environment=jinja
        )
        return Redirect(booking_path(booking_id, "cancelled"), status_code=HTTP_303_SEE_OTHER)

    @post("/{booking_id:int}/move", name="staff_booking_move")
    async def move(
        self,
        request: Request[Any, Any, Any],
        booking_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        form, target = booking_forms.move_target(await request.form())
        if target is None:
            return await _booking_page(
                db, booking_id, move=form, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        try:
            moved = await moves.move_booking(db, booking_id, target, actor=request.user.actor)
        except DomainError as exc:
            form.add_error(
                "target" if exc.field == "slot_id" else "",
                i18n.error_text(exc, **await _target_times(db, exc, target)),
            )
            return await _booking_page(db, booking_id, move=form, status_code=status_of(exc))
        told = await followups.booking_moved(db, settings, moved, environment=jinja)
        done = "moved_emailed" if told else "moved"
        return Redirect(booking_path(booking_id, done), status_code=HTTP_303_SEE_OTHER)


async def _target_times(db: Database, exc: DomainError, target: int) -> dict[str, str]:
    if not isinstance(exc, BookingClosed):
        return {}
    return _when_text(exc, await catalogue.slot_detail(db, target, published_only=False))
