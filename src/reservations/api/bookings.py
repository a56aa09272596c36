"""``/api/v1/bookings``: book places, read and cancel a booking with its manage token."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, HttpMethod, Response, delete, get, post, route
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from reservations.api.problems import problem_responses
from reservations.api.schemas import BookingIn, BookingOut
from reservations.base.infra.db import Database
from reservations.base.models import Channel
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingRequest
from reservations.base.rules.payments import BookingDesk
from reservations.notices import followups
from reservations.settings import Settings
from reservations.web import rate_limit

#: Handlers carrying this option are rate-limited per client (see app.py).
RATE_LIMITED = rate_limit.bucket("api")


class BookingController(Controller):
    path = "/bookings"
    tags = ["bookings"]

    @post(
        status_code=HTTP_201_CREATED,
        opt=RATE_LIMITED,
        summary="Book places on a slot",
        description=(
            "Takes the places at once or refuses: 404 for an unknown visit, 409 when it is "
            "full, closed or cancelled (`remaining` says how many places are left). Send an "
            "`Idempotency-Key` to retry safely: the same key with the same body answers the "
            "first booking again (header `Idempotent-Replayed: true`), with another body 409 "
            "`idempotency_key_reused`. A paid visit, where the office takes payments online, "
            "is booked `pending_payment`: its places are held until `hold_expires_at` while "
            "the visitor pays at `checkout_url`; the payment confirms it. 503 "
            "`payment_unavailable` when the payment service cannot be reached (nothing booked)."
        ),
        responses=problem_responses(400, 404, 409, 413, 422, 429, 503),
        response_description="The booking, with its `manage_token`: keep it secret",
        response_headers=[
            ResponseHeader(
                name="Idempotent-Replayed",
                description="`true` when this answers a retry with the same Idempotency-Key",
                documentation_only=True,
                required=False,
            )
        ],
    )
    async def create_booking(
        self,
        data: JSONBody[BookingIn],
        booking_desk: NamedDependency[BookingDesk],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                min_length=1,
                max_length=200,
                description="Any unique text of at most 200 characters (a UUID, say): send the "
                "same key again to get the first answer, not a second booking",
            ),
        ] = None,
    ) -> Response[BookingOut]:
        request = BookingRequest(
            slot_id=data.slot_id,
            adults=data.adults,
            children=data.children,
            name=data.name.strip(),
            email=data.email.strip(),
            phone=(data.phone or "").strip() or None,
            locale=data.locale,
            channel=Channel.WEB,
        )
        online = await booking_desk.book(request, actor="api", idempotency_key=idempotency_key)
        receipt = online.receipt
        headers = {"Idempotent-Replayed": "true"} if receipt.replayed else {}
        return Response(
            BookingOut.of(receipt.booking, receipt.manage_token, checkout_url=online.checkout_url),
            status_code=HTTP_201_CREATED,
            headers=headers,
        )

    @get(
        "/{manage_token:str}",
        summary="A booking, by its secret manage token",
        responses=problem_responses(404, 503),
    )
    async def read_booking(
        self, manage_token: FromPath[str], db: NamedDependency[Database]
    ) -> BookingOut:
        return BookingOut.of(await booking_service.find_by_token(db, manage_token))

    @route(
        "/{manage_token:str}",
        http_method=HttpMethod.OPTIONS,
        include_in_schema=False,
        sync_to_thread=False,
    )
    def booking_options(self) -> Response[None]:
        """Litestar 2's automatic OPTIONS answer lists only one of two handlers sharing a path
        in a controller (here ``Allow: DELETE, OPTIONS``): say it in full."""
        return Response(
            None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": "DELETE, GET, OPTIONS"}
        )

    @delete(
        "/{manage_token:str}",
        status_code=HTTP_200_OK,
        opt=RATE_LIMITED,
        summary="Cancel a booking (until the booking cut-off)",
        description="The booking stays readable, with status `cancelled`; 409 "
        "`already_cancelled` the second time, 409 `cancellation_closed` after the cut-off.",
        responses=problem_responses(404, 409, 429, 503),
    )
    async def cancel_booking(
        self,
        manage_token: FromPath[str],
        db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> BookingOut:
        booking = await booking_service.cancel_by_visitor(db, manage_token)
        await followups.booking_cancelled(db, settings, booking.id, by_office=False)
        return BookingOut.of(booking)
