"""``/visits/{id}``: one slot, all it says, and its booking form. A refused booking shows the
form again with the values kept and the reason beside the field (422); a booking redirects to
its confirmation (post/redirect/get). The form carries a random key drawn with the page, the
booking's idempotency key: sent twice (a double tap, a reload), it books once and both answers
lead to the same booking.

A paid visit, with Stripe configured, is booked as a hold (``payments.book_online``) and the
answer sends the visitor on to Stripe's checkout, with a short-lived cookie that lets the return
page (``visitors.payments``) link to the booking's manage page. Its confirmation email waits
for the payment. Without Stripe, a paid visit is paid on site, as before."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from reservations import i18n
from reservations.base.errors import (
    BookingClosed,
    DomainError,
    IdempotencyKeyReused,
    PaymentUnavailable,
)
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import StripeGateway
from reservations.base.models import BookingStatus
from reservations.base.reads import catalogue, pictures
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules import payments
from reservations.base.rules.booking import BookingPolicy, BookingReceipt
from reservations.base.rules.payments import PaymentSettings
from reservations.notices import emails
from reservations.settings import Settings
from reservations.visitors import forms
from reservations.web import links, rate_limit
from reservations.web.forms import FORM_USED, TOO_MANY_TRIES, Form, renew_key

#: Handlers with this option are rate-limited per client (the app's RateLimitConfig).
RATE_LIMITED = rate_limit.bucket("visitors", forgiving=True)
#: The forms with much typed in them: over the limit, shown again with it (``TOO_MANY_TRIES``).
RATE_LIMITED_FORM = rate_limit.bucket("visitors", keeps_form=True)
#: The manage token of the booking just sent to Stripe, for the return page only.
RETURN_COOKIE = "payment_return"
RETURN_COOKIE_PATH = "/payments"
RETURN_COOKIE_MAX_AGE = 2 * 3600


def slot_page(
    slot: SlotDetail,
    form: Form,
    policy: BookingPolicy,
    settings: Settings,
    payment: PaymentSettings,
    status_code: int = 200,
    *,
    gallery: pictures.Gallery | None = None,
) -> Template:
    return Template(
        template_name="visitors/slot.html",
        context={
            "slot": slot,
            "gallery": gallery,
            "form": form,
            "max_party": policy.max_party_size,
            "office_phone": settings.office_phone,
            "pay_online": payment.online,
            "hold_minutes": payment.hold_minutes,
        },
        status_code=status_code,
    )


def return_cookie(manage_token: str, settings: Settings) -> Cookie:
    """Lets the page the visitor comes back to from Stripe link to their booking: sent to
    ``/payments`` only, for a couple of hours, never to scripts."""
    return Cookie(
        key=RETURN_COOKIE,
        value=manage_token,
        path=RETURN_COOKIE_PATH,
        max_age=RETURN_COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )


async def queue_confirmation(
    db: Database, jinja: Environment, receipt: BookingReceipt, slot: SlotDetail, settings: Settings
) -> None:
    """The confirmation email: sent at once for a confirmed booking; a hold's is parked, and
    its payment releases it (an unpaid end drops it)."""
    if receipt.replayed:  # a form sent again is answered with its first booking
        return
    await emails.queue_booking_confirmed(
        db,
        jinja,
        receipt.booking,
        slot,
        links.manage_url(settings.public_url, receipt.manage_token),
        settings,
        parked=receipt.booking.status != BookingStatus.CONFIRMED,
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
        payment_settings: NamedDependency[PaymentSettings],
        shared: FromQuery[str | None] = None,
    ) -> Template:
        """``?shared=1``: the link a visitor passed on ("help this visit happen"); a booking
        made from it is counted in the report as brought by that notice."""
        slot = await catalogue.slot_detail(db, slot_id)
        return slot_page(
            slot,
            forms.blank_booking_form(shared=shared == "1"),
            booking_policy,
            settings,
            payment_settings,
            gallery=await pictures.gallery(db, slot.activity_id, slot.provider_id),
        )

    @post("/{slot_id:int}", opt=RATE_LIMITED_FORM, name="book")
    async def book(
        self,
        request: Request[Any, Any, Any],
        slot_id: FromPath[int],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
        payment_settings: NamedDependency[PaymentSettings],
        stripe_gateway: NamedDependency[StripeGateway | None],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        slot = await catalogue.slot_detail(db, slot_id)
        submitted = await request.form()
        form, booking_request = forms.booking_request(submitted, slot.id, i18n.current())

        gallery = await pictures.gallery(db, slot.activity_id, slot.provider_id)

        def again(status: int) -> Template:
            return slot_page(
                slot, form, booking_policy, settings, payment_settings, status, gallery=gallery
            )

        if rate_limit.over_limit(request):
            form.add_error("", i18n.gettext(TOO_MANY_TRIES))
            return again(HTTP_429_TOO_MANY_REQUESTS)

        if booking_request is None:
            return again(HTTP_422_UNPROCESSABLE_ENTITY)
        try:
            online = await payments.book_online(
                db,
                booking_request,
                booking_policy,
                payment_settings,
                stripe_gateway,
                actor="visitor",
                idempotency_key=forms.idempotency_key(form),
            )
        except IdempotencyKeyReused:
            # The same form sent again with other details: a new booking needs a new key.
            renew_key(form)
            form.add_error("", i18n.gettext(FORM_USED))
            return again(HTTP_409_CONFLICT)
        except DomainError as exc:
            # Refused (full, closed...), or Stripe could not open a checkout (the hold is
            # already given back): the form again, as typed, with the reason.
            slot = await catalogue.slot_detail(db, slot_id)  # places left have changed
            form.refused(exc, **refusal_overrides(exc, slot))
            return again(status_of_refusal(exc))
        receipt = online.receipt
        await queue_confirmation(db, jinja, receipt, slot, settings)
        if online.checkout_url:
            return Redirect(
                online.checkout_url,
                status_code=HTTP_303_SEE_OTHER,
                cookies=[return_cookie(receipt.manage_token, settings)],
            )
        return Redirect(
            links.manage_path(receipt.manage_token) + "/confirmation",
            status_code=HTTP_303_SEE_OTHER,
        )


def status_of_refusal(exc: DomainError) -> int:
    """A payment service that cannot be reached is the site's trouble, not the visitor's: 503
    (try again later); every other refusal of the form, 422."""
    if isinstance(exc, PaymentUnavailable):
        return HTTP_503_SERVICE_UNAVAILABLE
    return HTTP_422_UNPROCESSABLE_ENTITY
