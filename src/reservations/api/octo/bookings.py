"""``/octo/bookings``: a reseller holds places (``ON_HOLD`` until ``utcExpiresAt``), confirms,
extends, corrects or cancels its booking, and reads its own bookings, no other reseller's.

Handlers read the request, call one rule of ``base.rules.reseller_bookings`` and answer the
booking as it then stands (``base.reads.reseller_bookings``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK

from reservations.api.octo import requests, shapes
from reservations.api.octo.errors import (
    INVALID_AVAILABILITY_ID,
    INVALID_BOOKING_UUID,
    OctoError,
    bad_request,
)
from reservations.api.octo.products import product_of
from reservations.api.octo.responses import answer
from reservations.base import clock
from reservations.base.errors import HoldEnded, IdempotencyKeyReused
from reservations.base.infra.db import Database
from reservations.base.models import BookingStatus
from reservations.base.reads import catalogue
from reservations.base.reads import reseller_bookings as reads
from reservations.base.reads.availability import slots_starting
from reservations.base.rules import reseller_bookings as rules
from reservations.base.rules import reseller_changes as changes_rules
from reservations.base.rules.booking import BookingPolicy
from reservations.base.rules.resellers import ResellerRef
from reservations.notices import emails, followups
from reservations.settings import Settings
from reservations.web import links


async def _found(db: Database, reseller: ResellerRef, booking_uuid: str) -> reads.ResellerBooking:
    found = await reads.one(db, reseller, booking_uuid)
    if found is None:
        raise OctoError(INVALID_BOOKING_UUID, "There is no booking with this uuid.", booking_uuid)
    return found


def _shown(
    request: Request[Any, Any, Any],
    found: reads.ResellerBooking,
    reseller: ResellerRef,
    settings: Settings,
) -> Response[Any]:
    asked = shapes.Asked(requests.capabilities_of(request))
    return answer(request, shapes.booking(found, reseller, asked, settings, clock.now()))


async def _answer(
    request: Request[Any, Any, Any],
    db: Database,
    reseller: ResellerRef,
    booking_uuid: str,
    settings: Settings,
) -> Response[Any]:
    """The booking as it stands now."""
    return _shown(request, await _found(db, reseller, booking_uuid), reseller, settings)


async def _slot_id(db: Database, product_id: int, availability_id: str | None) -> int:
    start = requests.slot_start(availability_id)
    slots = await slots_starting(db, product_id, [start])
    if not slots:
        raise OctoError(
            INVALID_AVAILABILITY_ID, "This product has no such availability.", availability_id
        )
    return slots[0].id


def _or_default(minutes: int | None, settings: Settings) -> int:
    """A hold's length as sent (0 is refused as any length out of bounds), else the office's."""
    return settings.reseller_hold_minutes if minutes is None else minutes


def _uuid_in_path(value: str) -> str:
    try:
        return requests.booking_uuid(value)
    except OctoError:
        raise OctoError(INVALID_BOOKING_UUID, "The uuid is not a UUID.", value) from None


async def _offer_freed_places(
    db: Database, state: State, reseller: ResellerRef, slot_id: int
) -> None:
    """Places freed on the real programme go to its waiting list (not in the sandbox)."""
    if not reseller.test_mode:
        await followups.reseller_booking_changed(db, state.settings, slot_id)


async def _email_receipt(
    db: Database,
    reseller: ResellerRef,
    key: str,
    policy: BookingPolicy,
    jinja: Environment,
    settings: Settings,
) -> None:
    """The guest's confirmation email, in their language, when the reseller asks for it and
    gave an address (queued once, whatever the retries); a hold is confirmed by nobody yet."""
    receipt = await changes_rules.receipt_of(db, reseller, key, policy)
    if receipt.booking.status != BookingStatus.CONFIRMED:
        return
    slot = await catalogue.slot_detail(db, receipt.booking.slot_id, published_only=False)
    manage_url = links.manage_url(settings.public_url, receipt.manage_token)
    await emails.queue_booking_confirmed(db, jinja, receipt.booking, slot, manage_url, settings)


class BookingsController(Controller):
    path = "/bookings"

    @post(status_code=HTTP_200_OK)
    async def reserve(
        self,
        request: Request[Any, Any, Any],
        reseller: NamedDependency[ResellerRef],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        booking_policy: NamedDependency[BookingPolicy],
    ) -> Response[Any]:
        body = await requests.body_of(request, requests.ReservationIn)
        product = await product_of(octo_db, body.product_id, body.option_id)
        units = requests.units_of(body.unit_items)
        reservation = rules.Reservation(
            uuid=requests.booking_uuid(body.uuid),
            slot_id=await _slot_id(octo_db, product.id, body.availability_id),
            units=units,
            hold_minutes=_or_default(body.expiration_minutes, settings),
            reseller_reference=body.reseller_reference,
            notes=body.notes,
            guest=body.contact.guest() if body.contact else rules.Guest(),
        )
        try:
            await rules.reserve(octo_db, reseller, reservation, booking_policy)
        except IdempotencyKeyReused:
            raise bad_request(
                "This uuid is already the uuid of another booking: send a new uuid for a new "
                "booking, or the same request to get the first answer again."
            ) from None
        return await _answer(request, octo_db, reseller, reservation.uuid, settings)

    @get()
    async def list_bookings(
        self,
        request: Request[Any, Any, Any],
        reseller: NamedDependency[ResellerRef],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        query = requests.query_of(request)
        first = last = None
        if query.get("localDate") is not None:
            first = last = requests.local_day(query.get("localDate"), "localDate")
        elif query.get("localDateStart") is not None or query.get("localDateEnd") is not None:
            first, last = requests.period(query.get("localDateStart"), query.get("localDateEnd"))
        references = query.get("resellerReference"), query.get("supplierReference")
        if first is None and references == (None, None):
            raise bad_request(
                "Say which bookings: resellerReference, supplierReference, localDate, or "
                "localDateStart with localDateEnd."
            )
        found = await reads.find(
            octo_db,
            reseller,
            reseller_reference=references[0],
            supplier_reference=references[1],
            first_day=first,
            last_day=last,
        )
        asked, now = shapes.Asked(requests.capabilities_of(request)), clock.now()
        return answer(
            request, [shapes.booking(item, reseller, asked, settings, now) for item in found]
        )

    @get("/{booking_uuid:str}")
    async def read(
        self,
        request: Request[Any, Any, Any],
        booking_uuid: FromPath[str],
        reseller: NamedDependency[ResellerRef],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        return await _answer(request, octo_db, reseller, _uuid_in_path(booking_uuid), settings)

    @post("/{booking_uuid:str}/confirm", status_code=HTTP_200_OK)
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        booking_uuid: FromPath[str],
        reseller: NamedDependency[ResellerRef],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        booking_policy: NamedDependency[BookingPolicy],
        jinja: NamedDependency[Environment],
    ) -> Response[Any]:
        key = _uuid_in_path(booking_uuid)
        body = await requests.body_of(request, requests.ConfirmationIn)
        if body.contact is None:
            raise bad_request("contact is required to confirm: at least the guest's name.")
        references = {
            item.uuid.lower(): item.reseller_reference
            for item in body.unit_items or []
            if item.uuid and item.reseller_reference
        }
        try:
            await rules.confirm(
                octo_db,
                reseller,
                key,
                body.contact.guest(),
                reseller_reference=body.reseller_reference,
                unit_references=references,
            )
        except HoldEnded as ended:  # the spec's word for a hold that cannot be confirmed
            raise OctoError(INVALID_BOOKING_UUID, ended.text, key) from None
        if body.email_receipt and not reseller.test_mode:
            await _email_receipt(octo_db, reseller, key, booking_policy, jinja, settings)
        return await _answer(request, octo_db, reseller, key, settings)

    @post("/{booking_uuid:str}/extend", status_code=HTTP_200_OK)
    async def extend(
        self,
        request: Request[Any, Any, Any],
        booking_uuid: FromPath[str],
        reseller: NamedDependency[ResellerRef],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        key = _uuid_in_path(booking_uuid)
        body = await requests.body_of(request, requests.ExtensionIn)
        minutes = _or_default(body.expiration_minutes, settings)
        await rules.extend(octo_db, reseller, key, minutes)
        return await _answer(request, octo_db, reseller, key, settings)

    @post("/{booking_uuid:str}/cancel", status_code=HTTP_200_OK)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        booking_uuid: FromPath[str],
        reseller: NamedDependency[ResellerRef],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        state: State,
    ) -> Response[Any]:
        key = _uuid_in_path(booking_uuid)
        body = await requests.body_of(request, requests.CancellationIn)
        cancelled = await rules.cancel(octo_db, reseller, key, reason=body.reason)
        found = await _found(octo_db, reseller, key)
        if cancelled:
            await _offer_freed_places(octo_db, state, reseller, found.slot.id)
        return _shown(request, found, reseller, settings)

    @patch("/{booking_uuid:str}")
    async def update(
        self,
        request: Request[Any, Any, Any],
        booking_uuid: FromPath[str],
        reseller: NamedDependency[ResellerRef],
        octo_db: NamedDependency[Database],
        settings: NamedDependency[Settings],
        booking_policy: NamedDependency[BookingPolicy],
        state: State,
    ) -> Response[Any]:
        key = _uuid_in_path(booking_uuid)
        body = await requests.body_of(request, requests.UpdateIn)
        current = await _found(octo_db, reseller, key)
        product_id = str(current.slot.activity_id)
        if body.product_id not in (None, product_id) or body.option_id not in (
            None,
            requests.OPTION_ID,
        ):
            raise bad_request(
                "A booking stays on its product and option: cancel it and book the other one."
            )
        # Everything read and checked first: a request with a bad part changes nothing.
        changes = _Changes(
            details=_details_of(body),
            units=None if body.unit_items is None else requests.units_of(body.unit_items),
            target=await _target_of(octo_db, body, current),
            minutes=body.expiration_minutes,
        )
        if changes.minutes is not None:
            rules.check_hold_minutes(changes.minutes)
        await changes.apply(octo_db, reseller, key, booking_policy)
        if body.email_receipt and not reseller.test_mode:
            await _email_receipt(octo_db, reseller, key, booking_policy, state.jinja, settings)
        if changes.units is not None or changes.target is not None:
            await _offer_freed_places(octo_db, state, reseller, current.slot.id)
        return await _answer(request, octo_db, reseller, key, settings)


def _details_of(body: requests.UpdateIn) -> changes_rules.Details | None:
    if body.contact is None and body.notes is None and body.reseller_reference is None:
        return None
    return changes_rules.Details(
        guest=body.contact.guest() if body.contact else None,
        notes=body.notes,
        reseller_reference=body.reseller_reference,
    )


async def _target_of(
    db: Database, body: requests.UpdateIn, current: reads.ResellerBooking
) -> int | None:
    """The slot a PATCH moves the booking to, if another than its own."""
    if body.availability_id is None:
        return None
    target = await _slot_id(db, current.slot.activity_id, body.availability_id)
    return None if target == current.slot.id else target


@dataclass(frozen=True)
class _Changes:
    """A PATCH, read: each change is made by its own rule, details first, then the people,
    the date and the hold's end."""

    details: changes_rules.Details | None
    units: tuple[rules.UnitItem, ...] | None
    target: int | None
    minutes: int | None

    async def apply(
        self, db: Database, reseller: ResellerRef, key: str, policy: BookingPolicy
    ) -> None:
        if self.details is not None:
            await changes_rules.correct(db, reseller, key, self.details)
        if self.units is not None:
            await changes_rules.resize(db, reseller, key, self.units, policy)
        if self.target is not None:
            await changes_rules.move(db, reseller, key, self.target)
        if self.minutes is not None:
            await rules.extend(db, reseller, key, self.minutes)
