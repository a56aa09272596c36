"""``/manage/{token}``: the manage link of a booking. See it, add it to a calendar, change the
size of the party within the places left, cancel until the cut-off (after it: whom to call).
Its money as the domain reads it (``money_of``): paid and how, refunded, a refund on its way; a
booking on hold for its payment shows until when, and a "pay now" button that sends the
visitor back to Stripe's checkout (its party cannot change before it is paid).

The token is the secret: these pages are never cached and send no referrer."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

from reservations import i18n
from reservations.base import clock
from reservations.base.errors import (
    CancellationClosed,
    ChangesClosed,
    DomainError,
)
from reservations.base.infra.db import Database
from reservations.base.models import BookingStatus
from reservations.base.reads import catalogue
from reservations.base.reads.booking_money import BookingMoney, money_of
from reservations.base.reads.catalogue import SlotDetail
from reservations.base.rules import booking as booking_service
from reservations.base.rules import payments
from reservations.base.rules.booking import BookingPolicy, BookingView
from reservations.notices import calendar, followups
from reservations.settings import Settings
from reservations.visitors import forms
from reservations.visitors.visits import RATE_LIMITED
from reservations.web import links
from reservations.web.forms import Form, cancel_confirmed
from reservations.web.http_status import status_of

#: Litestar adds the charset of text/* types itself.
ICS_MEDIA_TYPE = "text/calendar; method=PUBLISH"
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
DONE_MESSAGES = ("cancelled", "changed", "nothing_to_pay")


async def _load(db: Database, token: str) -> tuple[BookingView, SlotDetail]:
    booking = await booking_service.find_by_token(db, token)
    return booking, await catalogue.slot_detail(db, booking.slot_id, published_only=False)


def manage_page(
    token: str,
    booking: BookingView,
    slot: SlotDetail,
    money: BookingMoney,
    settings: Settings,
    policy: BookingPolicy,
    *,
    party: Form | None = None,
    cancel: Form | None = None,
    pay: Form | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    now = clock.now()
    live = booking.status == BookingStatus.CONFIRMED
    holding = booking.status == BookingStatus.PENDING_PAYMENT and money.awaiting_payment
    before_cutoff = now < booking.booking_cutoff_at
    return Template(
        template_name="visitors/manage.html",
        context={
            "token": token,
            "booking": booking,
            "slot": slot,
            "money": money,
            "party_form": party or forms.party_form(booking.adults, booking.children),
            "cancel_form": cancel or Form({"confirm": ""}),
            "pay_form": pay or Form({}),
            "live": live,
            # Waiting for its payment: its party cannot change, it can be paid or cancelled.
            "holding": holding,
            # A hold that ran out unpaid (tidied up or not yet).
            "lapsed": booking.status == BookingStatus.EXPIRED
            or (booking.status == BookingStatus.PENDING_PAYMENT and not holding),
            # Confirmed and owing, with a payment link the office sent: it can be paid here.
            "payable": live
            and money.checkout_url is not None
            and money.paid_cents < money.due_cents,
            "open": live and before_cutoff,
            "cancellable": (live or holding) and before_cutoff,
            "most_people": min(booking.people + slot.remaining, policy.max_party_size),
            "total_cents": slot.total_cents(booking.adults, booking.children),
            "office_phone": settings.office_phone,
            "manage_url": links.manage_url(settings.public_url, token),
            "share_url": links.share_url(settings.public_url, booking.slot_id),
            "done": done if done in DONE_MESSAGES else None,
        },
        headers=PRIVATE,
        status_code=status_code,
    )


def _overrides(exc: DomainError, booking: BookingView) -> dict[str, str]:
    if isinstance(exc, (CancellationClosed, ChangesClosed)):
        return {"cutoff": i18n.moment(booking.booking_cutoff_at)}
    return {}


class ManageController(Controller):
    path = "/manage"

    @get("/{token:str}", name="manage")
    async def show(
        self,
        token: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        booking_policy: NamedDependency[BookingPolicy],
        done: FromQuery[str | None] = None,
    ) -> Template:
        booking, slot = await _load(db, token)
        money = await money_of(db, booking.id)
        return manage_page(token, booking, slot, money, settings, booking_policy, done=done)

    @get("/{token:str}/confirmation", name="confirmation")
    async def confirmation(
        self,
        token: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        booking, slot = await _load(db, token)
        if booking.status != BookingStatus.CONFIRMED:
            return Redirect(links.manage_path(token), status_code=HTTP_303_SEE_OTHER)
        return Template(
            template_name="visitors/confirmation.html",
            context={
                "token": token,
                "booking": booking,
                "slot": slot,
                "total_cents": slot.total_cents(booking.adults, booking.children),
                "manage_url": links.manage_url(settings.public_url, token),
                "share_url": links.share_url(settings.public_url, booking.slot_id),
            },
            headers=PRIVATE,
        )

    @get("/{token:str}/calendar.ics", name="calendar")
    async def calendar_file(
        self,
        token: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        booking, slot = await _load(db, token)
        filename = calendar.calendar_filename(booking)
        return Response(
            calendar.booking_calendar(booking, slot, links.manage_url(settings.public_url, token)),
            media_type=ICS_MEDIA_TYPE,
            headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @post("/{token:str}", opt=RATE_LIMITED, name="manage-change")
    async def change(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        settings: NamedDependency[Settings],
        jinja: NamedDependency[Environment],
    ) -> Template | Redirect:
        """One POST for the forms of the page (``action``: ``party``, ``cancel`` or ``pay``), so
        that the page shown again on an error has the address of the page itself."""
        booking, slot = await _load(db, token)
        submitted = await request.form()
        if submitted.get("action") == "pay":
            try:
                return await _pay(db, token, booking)
            except DomainError as exc:  # Stripe cannot be reached: the page, and why
                pay = Form({}).refused(exc)
                money = await money_of(db, booking.id)
                return manage_page(
                    token,
                    booking,
                    slot,
                    money,
                    settings,
                    booking_policy,
                    pay=pay,
                    status_code=status_of(exc),
                )
        which = "cancel" if submitted.get("action") == "cancel" else "party"
        form = cancel_confirmed(submitted) if which == "cancel" else forms.party_change(submitted)
        status = HTTP_422_UNPROCESSABLE_ENTITY
        if form.valid:
            try:
                changed = await _apply(db, token, which, form, booking_policy)
            except DomainError as exc:
                form.refused(exc, **_overrides(exc, booking))
                booking, slot = await _load(db, token)
                status = status_of(exc)
            else:
                if which == "cancel":
                    await followups.booking_cancelled(
                        db, settings, booking.id, by_office=False, environment=jinja
                    )
                else:
                    await followups.party_changed(db, settings, booking, changed, environment=jinja)
                done = "cancelled" if which == "cancel" else "changed"
                return Redirect(
                    f"{links.manage_path(token)}?done={done}", status_code=HTTP_303_SEE_OTHER
                )
        money = await money_of(db, booking.id)
        return manage_page(
            token,
            booking,
            slot,
            money,
            settings,
            booking_policy,
            status_code=status,
            **{which: form},
        )


async def _pay(db: Database, token: str, booking: BookingView) -> Redirect:
    """ "Pay now": on to the booking's open checkout at Stripe; nothing to pay (paid, the hold
    ran out, a free visit): back to the page, which says why."""
    checkout_url = await payments.resume_checkout(db, booking.id)
    if checkout_url:
        return Redirect(checkout_url, status_code=HTTP_303_SEE_OTHER)
    return Redirect(
        f"{links.manage_path(token)}?done=nothing_to_pay", status_code=HTTP_303_SEE_OTHER
    )


async def _apply(
    db: Database, token: str, which: str, form: Form, policy: BookingPolicy
) -> BookingView:
    """Cancel, or change the party; the booking as it is now."""
    if which == "cancel":
        return await booking_service.cancel_by_visitor(db, token)
    adults, children = form.cleaned["adults"], form.cleaned["children"]
    return await booking_service.change_party(db, token, adults, children, policy)
