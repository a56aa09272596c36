"""``/payments/return/{reference}?session_id=...``: where Stripe sends a visitor back, after
paying or giving up. It tells the truth as the domain knows it (``checkout_return``): paid and
confirmed, still waiting for Stripe's confirmation (the page refreshes itself), the hold ran out
unpaid, or paid too late and refunded. A reference and session that do not belong together:
the not-found page. Stripe's "back" link (``cancel_url``) carries the reference only: the page
then tells the state of the booking's latest checkout (still held: pay now, or let it go).

Stripe's success address carries no secret of ours: the link to the manage page comes from the
short-lived cookie set when the visitor was sent to Stripe, and only when it is that booking's.
These pages are never stored and send no referrer."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from reservations.base.errors import BookingNotFound
from reservations.base.infra.db import Database
from reservations.base.reads import booking_lookup
from reservations.base.reads.booking_money import ReturnState, checkout_return, money_of
from reservations.base.rules import booking as booking_service
from reservations.visitors.visits import RETURN_COOKIE
from reservations.web import links

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
#: Seconds before the "still waiting" page asks again.
REFRESH_SECONDS = 5
#: Longest reference or Stripe session id worth a query.
MAX_ID = 200


async def manage_token_of(request: Request[Any, Any, Any], db: Database, booking_id: int) -> str:
    """The manage token in the return cookie, if it is this booking's; else an empty string."""
    token = request.cookies.get(RETURN_COOKIE) or ""
    if not token or len(token) > MAX_ID:
        return ""
    try:
        booking = await booking_service.find_by_token(db, token)
    except BookingNotFound:
        return ""
    return token if booking.id == booking_id else ""


class PaymentReturnController(Controller):
    path = "/payments"

    @get("/return/{reference:str}", name="payment-return")
    async def back_from_stripe(
        self,
        request: Request[Any, Any, Any],
        reference: FromPath[str],
        db: NamedDependency[Database],
        session_id: FromQuery[str | None] = None,
    ) -> Template:
        # Without ``session_id``: Stripe's "back" link (the visitor left its page unpaid).
        if len(session_id or "") > MAX_ID or len(reference) > MAX_ID:
            raise NotFoundException()
        found = await checkout_return(db, reference, session_id)
        if found is None:
            raise NotFoundException()
        booking = await booking_lookup.booking_view(db, found.booking_id)
        money = await money_of(db, found.booking_id)
        token = await manage_token_of(request, db, found.booking_id)
        return Template(
            template_name="visitors/payment_return.html",
            context={
                "state": found.state.value,
                "reference": found.reference,
                "booking": booking,
                "money": money,
                "manage_path": links.manage_path(token) if token else None,
                "visit_path": f"/visits/{booking.slot_id}",
                "refresh_seconds": REFRESH_SECONDS if found.state == ReturnState.WAITING else None,
                "this_page": f"/payments/return/{found.reference}"
                + (f"?session_id={session_id}" if session_id else ""),
            },
            headers=PRIVATE,
        )
