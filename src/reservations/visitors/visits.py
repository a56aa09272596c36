"""``/visits/{id}``: one slot, all it says, and its booking form. A refused booking shows the
form again with the values kept and the reason beside the field (422); a booking redirects to
its confirmation (post/redirect/get). The form carries a random key drawn with the page, the
booking's idempotency key: sent twice (a double tap, a reload), it books once and both answers
lead to the same booking."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

from reservations import i18n
from reservations.base.errors import BookingClosed, DomainError, IdempotencyKeyReused
from reservations.base.infra.db import Database
from reservations.base.reads import catalogue
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy
from reservations.notices import emails
from reservations.settings import Settings
from reservations.visitors import forms
from reservations.web import links
from reservations.web.forms import FORM_USED, Form, renew_key

#: Handlers with this option are rate-limited per client (the app's RateLimitConfig).
RATE_LIMITED = {"rate_limited": True}


def slot_page(
    slot: SlotDetail,
    form: Form,
    policy: BookingPolicy,
    settings: Settings,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="visitors/slot.html",
        context={
            "slot": slot,
            "form": form,
            "max_party": policy.max_party_size,
            "office_phone": settings.office_phone,
        },
        status_code=status_code,
    )


def refusal_overrides(exc: DomainError, slot: SlotDetail) -> dict[str, str]:
    """Times in a refusal, written for the reader."""
    if isinstance(exc, BookingClosed):
        return {"cutoff": i18n.moment(slot.booking_cutoff_at)}
    return {}


class VisitController(Controller):
    path = "/visits"

    @get("/{slot_id:int}", name="visit")
    async def show(
        self,
        slot_id: FromPath[int],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
    ) -> Template:
        slot = await catalogue.slot_detail(db, slot_id)
        return slot_page(slot, forms.blank_booking_form(), booking_policy, settings)

    @post("/{slot_id:int}", opt=RATE_LIMITED, name="book")
    async def book(
        self,
        request: Request[Any, Any, Any],
        slot_id: FromPath[int],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        slot = await catalogue.slot_detail(db, slot_id)
        submitted = await request.form()
        form, booking_request = forms.booking_request(submitted, slot.id, i18n.current())
        if booking_request is None:
            return slot_page(slot, form, booking_policy, settings, HTTP_422_UNPROCESSABLE_ENTITY)
        try:
            receipt = await booking_service.book(
                db,
                booking_request,
                booking_policy,
                actor="visitor",
                idempotency_key=forms.idempotency_key(form),
            )
        except IdempotencyKeyReused:
            # The same form sent again with other details: a new booking needs a new key.
            renew_key(form)
            form.add_error("", i18n.gettext(FORM_USED))
            return slot_page(slot, form, booking_policy, settings, HTTP_409_CONFLICT)
        except DomainError as exc:
            slot = await catalogue.slot_detail(db, slot_id)  # places left have changed
            form.refused(exc, **refusal_overrides(exc, slot))
            return slot_page(slot, form, booking_policy, settings, HTTP_422_UNPROCESSABLE_ENTITY)
        if not receipt.replayed:  # a form sent again is answered with its first booking
            await emails.queue_booking_confirmed(
                db,
                jinja,
                receipt.booking,
                slot,
                links.manage_url(settings.public_url, receipt.manage_token),
                settings,
            )
        return Redirect(
            links.manage_path(receipt.manage_token) + "/confirmation",
            status_code=HTTP_303_SEE_OTHER,
        )
