"""``/octo/availability`` and ``/octo/availability/calendar``: the slots of a product and their
places left, counted as the office's own site counts them."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK

from reservations.api.octo import requests, shapes
from reservations.api.octo.errors import INVALID_AVAILABILITY_ID, OctoError, bad_request
from reservations.api.octo.products import product_of
from reservations.api.octo.responses import answer
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.reads.availability import SlotFilter, list_slots, slots_starting
from reservations.settings import Settings


def _asked(request: Request[Any, Any, Any], body: requests.AvailabilityIn) -> shapes.Asked:
    wanted = requests.quantities(body.units)
    return shapes.Asked(requests.capabilities_of(request), wanted["adult"], wanted["child"])


class AvailabilityController(Controller):
    path = "/availability"

    @post("/calendar", status_code=HTTP_200_OK)
    async def calendar(
        self,
        request: Request[Any, Any, Any],
        octo_db: NamedDependency[Database],
    ) -> Response[Any]:
        body = await requests.body_of(request, requests.AvailabilityIn)
        product = await product_of(octo_db, body.product_id, body.option_id)
        asked = _asked(request, body)
        first, last = requests.period(body.local_date_start, body.local_date_end)
        now = clock.now()
        slots = await list_slots(octo_db, first, last, SlotFilter(activity=product.id), now=now)
        return answer(request, shapes.calendar(slots, first, last, asked, now))

    @post(status_code=HTTP_200_OK)
    async def check(
        self,
        request: Request[Any, Any, Any],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        body = await requests.body_of(request, requests.AvailabilityIn)
        product = await product_of(octo_db, body.product_id, body.option_id)
        asked = _asked(request, body)
        ranged = body.local_date_start is not None or body.local_date_end is not None
        given = (body.local_date is not None) + ranged + (body.availability_ids is not None)
        if given != 1:
            raise bad_request(
                "Send exactly one of localDate, localDateStart with localDateEnd, or "
                "availabilityIds."
            )
        now = clock.now()
        if body.availability_ids is not None:
            starts = [requests.slot_start(text) for text in body.availability_ids]
            slots = await slots_starting(octo_db, product.id, starts, now=now)
            found = {slot.starts_at for slot in slots}
            for text, start in zip(body.availability_ids, starts, strict=True):
                if start not in found:
                    raise OctoError(
                        INVALID_AVAILABILITY_ID, "This product has no such availability.", text
                    )
        else:
            if body.local_date is not None:
                first = last = requests.local_day(body.local_date, "localDate")
            else:
                first, last = requests.period(body.local_date_start, body.local_date_end)
            slots = await list_slots(octo_db, first, last, SlotFilter(activity=product.id), now=now)
        return answer(request, [shapes.availability(s, asked, settings, now) for s in slots])
