"""``/api/v1/bookings``: book places, read and cancel a booking with its manage token."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from reservations.api.schemas import BookingIn, BookingOut
from reservations.base.infra.db import Database
from reservations.base.models import Channel
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.notices import followups
from reservations.settings import Settings

#: Handlers carrying this option are rate-limited per client (see app.py).
RATE_LIMITED = {"rate_limited": True}


class BookingController(Controller):
    path = "/bookings"
    tags = ["bookings"]

    @post(status_code=HTTP_201_CREATED, opt=RATE_LIMITED, summary="Book places on a slot")
    async def create_booking(
        self,
        data: JSONBody[BookingIn],
        db: NamedDependency[Database],
        booking_policy: NamedDependency[BookingPolicy],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                max_length=200,
                description="Send the same key again to get the first answer, not a second booking",
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
        receipt = await booking_service.book(
            db, request, booking_policy, actor="api", idempotency_key=idempotency_key
        )
        headers = {"Idempotent-Replayed": "true"} if receipt.replayed else {}
        return Response(
            BookingOut.of(receipt.booking, receipt.manage_token),
            status_code=HTTP_201_CREATED,
            headers=headers,
        )

    @get("/{manage_token:str}", summary="A booking, by its secret manage token")
    async def read_booking(
        self, manage_token: FromPath[str], db: NamedDependency[Database]
    ) -> BookingOut:
        return BookingOut.of(await booking_service.find_by_token(db, manage_token))

    @delete(
        "/{manage_token:str}",
        status_code=HTTP_200_OK,
        opt=RATE_LIMITED,
        summary="Cancel a booking (until the booking cut-off)",
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
