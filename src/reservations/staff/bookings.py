"""``/staff/bookings``: bookings at the counter and on the phone. Find a booking (reference,
name, email, phone); book on a slot through the same ``booking.book`` as the site (capacity,
cut-off, party rules, idempotency: a double click books once), the confirmation emailed when an
address is given; see one booking with its history, cancel it, or move it to another slot (the
visitor is emailed the new date, the freed places go to the waiting list).

A paid visit's booking records how it was paid (``payments.record_counter_payment``) or sends
the visitor a payment link (``payments.send_payment_link``, emailed by
``notices.payment_emails``) once the booking is made; the booking page shows its money and
takes payments, partial refunds and links (``booking_money``).

Refusals show the page again with the values kept and the reason beside the field; a done
change redirects (post/redirect/get) to the booking's page saying what was done."""

from __future__ import annotations

from dataclasses import dataclass
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
from reservations.base.errors import (
    BookingClosed,
    DomainError,
    IdempotencyKeyReused,
    PaymentUnavailable,
)
from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import StripeGateway
from reservations.base.models import HOLD_STATUSES, BookingStatus
from reservations.base.reads import booking_lookup, booking_money, catalogue
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules import booking as booking_service
from reservations.base.rules import moves, payments
from reservations.base.rules.booking import BookingPolicy
from reservations.base.rules.payments import PaymentSettings
from reservations.i18n import N_
from reservations.notices import emails, followups, payment_emails
from reservations.settings import SUPPORTED_LOCALES, Settings
from reservations.staff import booking_forms, labels
from reservations.staff.booking_forms import CounterPayment
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
    "booked_paid": N_("Booked, and its payment recorded."),
    "booked_paid_emailed": N_(
        "Booked, and its payment recorded. The confirmation is on its way by email."
    ),
    "booked_link_emailed": N_(
        "Booked. The confirmation and the payment link are on their way by email."
    ),
    "booked_link": N_("Booked. The payment link is below: give it to the visitor."),
    "booked_link_failed": N_(
        "Booked, but online payment cannot be reached right now: no payment link was made. "
        "Send it again from this page in a moment, or record a payment."
    ),
    "booked_payment_failed": N_("Booked, but its payment could not be recorded: record it below."),
    "payment_recorded": N_("Payment recorded."),
    "link_emailed": N_("The payment link is on its way to the visitor by email."),
    "link_made": N_("The payment link is below: give it to the visitor."),
    "refund_sent": N_("Refund sent."),
    "refund_pending": N_(
        "Refund recorded. Online payment cannot be reached right now: it is sent "
        "automatically as soon as possible."
    ),
}


def booking_path(booking_id: int, done: str | None = None) -> str:
    return f"/staff/bookings/{booking_id}" + (f"?done={done}" if done else "")


def _when_text(exc: DomainError, slot: SlotDetail | None) -> dict[str, str]:
    """Times in a refusal, written for the reader."""
    if isinstance(exc, BookingClosed) and slot is not None:
        return {"cutoff": i18n.moment(slot.booking_cutoff_at)}
    return {}


# --- pages ----------------------------------------------------------------------------------


def paid_visit(slot: SlotDetail) -> bool:
    return slot.price_adult_cents > 0 or slot.price_child_cents > 0


def _new_booking_page(
    slot: SlotDetail,
    form: Form,
    policy: BookingPolicy,
    settings: Settings,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="staff/booking_new.html",
        context={
            "slot": slot,
            "form": form,
            "max_party": policy.max_party_size,
            "staff_channels": labels.STAFF_CHANNELS,
            "locales": SUPPORTED_LOCALES,
            "paid_visit": paid_visit(slot),
            "payment_choices": booking_forms.payment_choices(settings.payments_online),
            "online": settings.payments_online,
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


async def booking_page(
    db: Database,
    booking_id: int,
    settings: Settings,
    *,
    done: str | None = None,
    cancel: Form | None = None,
    move: Form | None = None,
    payment: Form | None = None,
    refund: Form | None = None,
    link_error: str | None = None,
    status_code: int = 200,
) -> Template:
    record = await booking_lookup.booking_record(db, booking_id)
    live = record.booking.status == BookingStatus.CONFIRMED
    money = await booking_money.money_of(db, booking_id)
    left_to_pay = max(money.due_cents - money.paid_cents, 0)
    now = clock.now()
    return Template(
        template_name="staff/booking.html",
        context={
            "record": record,
            "booking": record.booking,
            "live": live,
            "holding": record.booking.status in HOLD_STATUSES
            and record.booking.hold_expires_at is not None
            and record.booking.hold_expires_at > now,
            "money": money,
            "left_to_pay": left_to_pay,
            "online": settings.payments_online,
            "counter_methods": [m.value for m in booking_forms.COUNTER_METHODS],
            "targets": await booking_lookup.move_targets(db, record.booking) if live else [],
            "cancel_form": cancel or Form({"confirm": ""}),
            "move_form": move or booking_forms.move_form(),
            "payment_form": payment or booking_forms.payment_form(left_to_pay),
            "refund_form": refund or booking_forms.refund_form(),
            "link_error": link_error,
            "done": i18n.gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
            **labels.template_globals(),
        },
        status_code=status_code,
    )


async def _after_booking(
    db: Database,
    jinja: Environment,
    settings: Settings,
    online: Online,
    receipt: booking_service.BookingReceipt,
    payment: CounterPayment,
    actor: str,
) -> str:
    """Record how a booking just made is paid, or send its payment link; the page's message."""
    booking_id = receipt.booking.id
    if payment.method is not None:
        try:
            await payments.record_counter_payment(
                db, booking_id, payment.method, payment.amount_cents, actor=actor
            )
        except DomainError:
            return "booked_payment_failed"
        return "booked_paid"
    try:
        emailed = await send_link(db, jinja, settings, online, receipt.booking, actor)
    except DomainError:
        return "booked_link_failed"
    return "booked_link_emailed" if emailed else "booked_link"


@dataclass(frozen=True)
class Online:
    """Stripe as the app provides it: the gateway (None when not configured) and the payment
    settings the domain takes."""

    gateway: StripeGateway | None
    settings: PaymentSettings


async def send_link(
    db: Database,
    jinja: Environment,
    settings: Settings,
    online: Online,
    booking: booking_service.BookingView,
    actor: str,
) -> bool:
    """Make the booking's payment link (an open one is reused) and email it; True when the
    email is queued (False: no address, or this link was emailed before). The domain's
    refusals are raised (``NothingToPay``; ``PaymentUnavailable``: Stripe not configured or
    unreachable)."""
    if online.gateway is None:
        raise PaymentUnavailable()
    url = await payments.send_payment_link(
        db, online.gateway, booking.id, online.settings, actor=actor
    )
    return await payment_emails.queue_payment_link(db, jinja, booking, url, settings)


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
                "now": clock.now(),
                **labels.template_globals(),
            },
        )

    @get("/new", name="staff_booking_new")
    async def new(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
    ) -> Template:
        """The booking form for ``?slot_id=``, or the slot picker without it."""
        slot_id = whole_number(request.query_params.get("slot_id", ""))
        if slot_id is None:
            return await _picker_page(db, request.query_params)
        slot = await catalogue.slot_detail(db, slot_id, published_only=False)
        form = booking_forms.blank_booking_form(slot.id, i18n.current())
        return _new_booking_page(slot, form, booking_policy, settings)

    @post("/new", name="staff_book")
    async def book(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
        stripe_gateway: NamedDependency[StripeGateway | None],
        payment_settings: NamedDependency[PaymentSettings],
    ) -> Template | Redirect:
        submitted = await request.form()
        slot_id = whole_number(str(submitted.get("slot_id") or ""))
        if slot_id is None:
            return await _picker_page(db, {})
        slot = await catalogue.slot_detail(db, slot_id, published_only=False)
        form, booking_request = booking_forms.booking_request(submitted, slot.id)
        payment = None
        if booking_request is not None:
            payment = booking_forms.counter_payment(
                form,
                slot.total_cents(booking_request.adults, booking_request.children),
                settings.payments_online,
            )
        if booking_request is None or not form.valid:
            return _new_booking_page(
                slot, form, booking_policy, settings, HTTP_422_UNPROCESSABLE_ENTITY
            )
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
            return _new_booking_page(slot, form, booking_policy, settings, status_of(exc))
        except DomainError as exc:
            slot = await catalogue.slot_detail(db, slot.id, published_only=False)
            form.refused(exc, **_when_text(exc, slot))
            return _new_booking_page(slot, form, booking_policy, settings, status_of(exc))
        done = "booked"
        if payment is not None and not receipt.replayed:
            online = Online(stripe_gateway, payment_settings)
            done = await _after_booking(
                db, jinja, settings, online, receipt, payment, request.user.actor
            )
        emailed = not receipt.replayed and await emails.queue_booking_confirmed(
            db,
            jinja,
            receipt.booking,
            slot,
            links.manage_url(settings.public_url, receipt.manage_token),
            settings,
        )
        if emailed and done in ("booked", "booked_paid"):
            done += "_emailed"
        return Redirect(booking_path(receipt.booking.id, done), status_code=HTTP_303_SEE_OTHER)

    @get("/{booking_id:int}", name="staff_booking")
    async def show(
        self,
        booking_id: FromPath[int],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await booking_page(db, booking_id, settings, done=done)

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
            return await booking_page(
                db, booking_id, settings, cancel=form, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        try:
            await booking_service.cancel_booking(db, booking_id, actor=request.user.actor)
        except DomainError as exc:
            form.add_error("confirm", i18n.error_text(exc))
            return await booking_page(
                db, booking_id, settings, cancel=form, status_code=status_of(exc)
            )
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
            return await booking_page(
                db, booking_id, settings, move=form, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        try:
            moved = await moves.move_booking(db, booking_id, target, actor=request.user.actor)
        except DomainError as exc:
            form.add_error(
                "target" if exc.field == "slot_id" else "",
                i18n.error_text(exc, **await _target_times(db, exc, target)),
            )
            return await booking_page(
                db, booking_id, settings, move=form, status_code=status_of(exc)
            )
        told = await followups.booking_moved(db, settings, moved, environment=jinja)
        done = "moved_emailed" if told else "moved"
        return Redirect(booking_path(booking_id, done), status_code=HTTP_303_SEE_OTHER)


async def _target_times(db: Database, exc: DomainError, target: int) -> dict[str, str]:
    if not isinstance(exc, BookingClosed):
        return {}
    return _when_text(exc, await catalogue.slot_detail(db, target, published_only=False))
