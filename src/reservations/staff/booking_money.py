"""``/staff/bookings/{id}/...``: a booking's money from its back-office page. Record a payment
taken at the counter (cash, cheque, card terminal, or due on site on the day), refund part of
what was paid online, and send the visitor a payment link. The domain decides and audits
(``payments``, ``refunds``); these handlers read the form, call it, and show the page again with
the reason beside the field when it refuses, or redirect to it saying what was done.

A refund is recorded first, then sent to Stripe at once if it can be (``refunds.settle``, best
effort): with Stripe unreachable it stays pending, the page says so, and ``reservations tick``
sends it later."""

from __future__ import annotations

import logging
from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from reservations import i18n
from reservations.base.errors import DomainError
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import StripeGateway
from reservations.base.reads import booking_lookup, booking_money
from reservations.base.rules import payments, refunds
from reservations.base.rules.payments import PaymentSettings
from reservations.settings import Settings
from reservations.staff import booking_forms
from reservations.staff.bookings import Online, booking_page, booking_path, send_link
from reservations.web.http_status import status_of

logger = logging.getLogger(__name__)

NO_ONLINE_PAYMENT = i18n.N_(
    "Online payment is not set up: the visitor pays at the counter or on site."
)


def _refusal_text(exc: DomainError) -> str:
    """A refusal in the reader's language, its amounts written by Babel."""
    overrides = {}
    if "maximum_cents" in exc.params:
        overrides["maximum"] = i18n.money(int(exc.params["maximum_cents"]))
    return i18n.error_text(exc, **overrides)


class BookingMoneyController(Controller):
    path = "/bookings/{booking_id:int}"

    @post("/payments", name="staff_booking_payment")
    async def record_payment(
        self,
        request: Request[Any, Any, Any],
        booking_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        form, payment = booking_forms.recorded_payment(await request.form())
        if payment is None or payment.method is None:
            return await booking_page(
                db, booking_id, settings, payment=form, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        try:
            await payments.record_counter_payment(
                db, booking_id, payment.method, payment.amount_cents, actor=request.user.actor
            )
        except DomainError as exc:
            form.add_error("amount" if exc.field == "amount" else "method", _refusal_text(exc))
            return await booking_page(
                db, booking_id, settings, payment=form, status_code=status_of(exc)
            )
        return Redirect(
            booking_path(booking_id, "payment_recorded"), status_code=HTTP_303_SEE_OTHER
        )

    @post("/refunds", name="staff_booking_refund")
    async def refund(
        self,
        request: Request[Any, Any, Any],
        booking_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        stripe_gateway: NamedDependency[StripeGateway | None],
    ) -> Template | Redirect:
        form, amount = booking_forms.refund_amount(await request.form())
        if amount is None:
            return await booking_page(
                db, booking_id, settings, refund=form, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        try:
            await refunds.refund_partial(db, booking_id, amount, actor=request.user.actor)
        except DomainError as exc:
            form.add_error("amount", _refusal_text(exc))
            return await booking_page(
                db, booking_id, settings, refund=form, status_code=status_of(exc)
            )
        if stripe_gateway is not None:
            try:
                await refunds.settle(db, stripe_gateway)
            except Exception:  # recorded, pending: ``tick`` sends it
                logger.exception("refunds of booking %s not sent yet", booking_id)
        money = await booking_money.money_of(db, booking_id)
        done = "refund_pending" if money.pending_refund_cents else "refund_sent"
        return Redirect(booking_path(booking_id, done), status_code=HTTP_303_SEE_OTHER)

    @post("/payment-link", name="staff_booking_payment_link")
    async def payment_link(
        self,
        request: Request[Any, Any, Any],
        booking_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
        stripe_gateway: NamedDependency[StripeGateway | None],
        payment_settings: NamedDependency[PaymentSettings],
    ) -> Template | Redirect:
        if stripe_gateway is None:
            return await booking_page(
                db,
                booking_id,
                settings,
                link_error=i18n.gettext(NO_ONLINE_PAYMENT),
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        booking = await booking_lookup.booking_view(db, booking_id)
        try:
            online = Online(stripe_gateway, payment_settings)
            emailed = await send_link(db, jinja, settings, online, booking, request.user.actor)
        except DomainError as exc:
            return await booking_page(
                db, booking_id, settings, link_error=_refusal_text(exc), status_code=status_of(exc)
            )
        done = "link_emailed" if emailed else "link_made"
        return Redirect(booking_path(booking_id, done), status_code=HTTP_303_SEE_OTHER)
