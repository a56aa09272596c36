"""What resellers send, read at the edge: msgspec Structs in OCTO's camelCase, and the ids of
our products, options, units and availabilities turned into ours, each refusal with its OCTO
code.

Ids: a product is an activity (its number), its one option is ``DEFAULT``, its units are
``adult`` and ``child``, and an availability is its slot's local start with its offset
(``2026-07-12T14:00:00+02:00``), OCTO's usual form, unique within an activity.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request

from reservations.api.octo.errors import (
    INVALID_AVAILABILITY_ID,
    INVALID_OPTION_ID,
    INVALID_PRODUCT_ID,
    INVALID_UNIT_ID,
    OctoError,
    bad_request,
)
from reservations.base.reads.availability import MAX_PERIOD_DAYS
from reservations.base.rules.reseller_bookings import ADULT, CHILD, Guest, UnitItem
from reservations.web.inputs import within_calendar

OPTION_ID = "DEFAULT"
UNIT_IDS = (ADULT, CHILD)
PRICING = "octo/pricing"
SUPPORTED_CAPABILITIES = (PRICING,)
#: The largest body a reseller sends (a booking with its unit items): far above any real one.
MAX_BODY_BYTES = 64 * 1024

Name = Annotated[str, msgspec.Meta(max_length=200)]
Short = Annotated[str, msgspec.Meta(max_length=100)]
Email = Annotated[str, msgspec.Meta(max_length=320)]
Phone = Annotated[str, msgspec.Meta(max_length=40)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Id = Annotated[str, msgspec.Meta(max_length=100)]


class _Body(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    pass


class ContactIn(_Body):
    full_name: Name | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    email_address: Email | None = None
    phone_number: Phone | None = None
    locales: Annotated[list[Short], msgspec.Meta(max_length=20)] = []
    postal_code: Short | None = None
    country: Short | None = None
    notes: Text | None = None
    allow_marketing: bool | None = None

    def guest(self) -> Guest:
        return Guest(
            first_name=_stripped(self.first_name),
            last_name=_stripped(self.last_name),
            full_name=_stripped(self.full_name),
            email=_stripped(self.email_address),
            phone=_stripped(self.phone_number),
            locales=tuple(self.locales),
            country=_stripped(self.country),
            postal_code=_stripped(self.postal_code),
            notes=self.notes,
        )


class UnitItemIn(_Body):
    unit_id: Id | None = None
    uuid: Id | None = None
    reseller_reference: Short | None = None
    contact: ContactIn | None = None


class AvailabilityUnitIn(_Body):
    id: Id | None = None
    quantity: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0


class AvailabilityIn(_Body):
    product_id: Id | None = None
    option_id: Id | None = None
    local_date: Short | None = None
    local_date_start: Short | None = None
    local_date_end: Short | None = None
    availability_ids: Annotated[list[Id], msgspec.Meta(max_length=500)] | None = None
    units: Annotated[list[AvailabilityUnitIn], msgspec.Meta(max_length=20)] | None = None
    currency: Short | None = None


UnitItems = Annotated[list[UnitItemIn], msgspec.Meta(max_length=100)]


class ReservationIn(_Body):
    uuid: Id | None = None
    product_id: Id | None = None
    option_id: Id | None = None
    availability_id: Id | None = None
    expiration_minutes: int | None = None
    notes: Text | None = None
    unit_items: UnitItems | None = None
    reseller_reference: Short | None = None
    contact: ContactIn | None = None
    currency: Short | None = None


class ConfirmationIn(_Body):
    contact: ContactIn | None = None
    reseller_reference: Short | None = None
    unit_items: UnitItems | None = None
    email_receipt: bool = False


class CancellationIn(_Body):
    reason: Text | None = None
    force: bool = False


class ExtensionIn(_Body):
    expiration_minutes: int | None = None


class UpdateIn(_Body):
    reseller_reference: Short | None = None
    product_id: Id | None = None
    option_id: Id | None = None
    availability_id: Id | None = None
    expiration_minutes: int | None = None
    notes: Text | None = None
    email_receipt: bool = False
    unit_items: UnitItems | None = None
    contact: ContactIn | None = None


B = TypeVar("B", bound=_Body)


async def body_of(request: Request[Any, Any, Any], kind: type[B]) -> B:
    """The JSON body as ``kind`` (an empty body: every field unset), or ``BAD_REQUEST``."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise bad_request(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    if b"\\u0000" in raw or b"\x00" in raw:
        raise bad_request("The body holds a NUL character, which no field may contain.")
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as error:
        raise bad_request(f"The body is not valid: {error}.") from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise bad_request("The body is not a JSON object.") from None


def query_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The query string's parameters (the last of each name), each checked as a body's field."""
    query = {name: str(value) for name, value in request.query_params.items()}
    for name, value in query.items():
        if len(value) > 100 or "\x00" in value:
            raise bad_request(f"{name} must be at most 100 characters, with no NUL.")
    return query


def capabilities_of(request: Request[Any, Any, Any]) -> frozenset[str]:
    """The capabilities asked for (``Octo-Capabilities``, possibly empty) that we have."""
    asked = request.headers.get("octo-capabilities", "")
    return frozenset(c.strip() for c in asked.split(",") if c.strip() in SUPPORTED_CAPABILITIES)


_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def product_id(value: str | None) -> int:
    if value is None or not _WHOLE_NUMBER.fullmatch(value):
        raise OctoError(INVALID_PRODUCT_ID, "The productId was missing or invalid.", value)
    return int(value)


def check_option(value: str | None) -> None:
    if value != OPTION_ID:
        raise OctoError(
            INVALID_OPTION_ID, f"The optionId was missing or invalid: it is {OPTION_ID}.", value
        )


def check_unit(value: str | None) -> str:
    if value not in UNIT_IDS:
        raise OctoError(
            INVALID_UNIT_ID, "The unitId was missing or invalid: it is adult or child.", value
        )
    return value


def slot_start(value: str | None) -> datetime:
    """The UTC start an availability id names; ``INVALID_AVAILABILITY_ID`` if it names none."""
    invalid = OctoError(
        INVALID_AVAILABILITY_ID, "The availabilityId was missing or invalid.", value
    )
    if not value:
        raise invalid
    try:
        start = datetime.fromisoformat(value)
        if start.tzinfo is None:
            raise invalid
        start = start.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or beyond the calendar once in UTC
        raise invalid from None
    if not within_calendar(start.date()):
        raise invalid
    return start


def local_day(value: str | None, name: str) -> date:
    if value is None or not _DATE.fullmatch(value):
        raise bad_request(f"{name} must be a date, YYYY-MM-DD.")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{name} must be a date, YYYY-MM-DD.") from None
    if not within_calendar(day):
        raise bad_request(f"{name} is outside the calendar this API reads.")
    return day


def period(start: str | None, end: str | None) -> tuple[date, date]:
    first, last = local_day(start, "localDateStart"), local_day(end, "localDateEnd")
    if last < first or last - first >= timedelta(days=MAX_PERIOD_DAYS):
        raise bad_request(
            f"localDateEnd must not be before localDateStart, and a period spans at most "
            f"{MAX_PERIOD_DAYS} days."
        )
    return first, last


def booking_uuid(value: str | None) -> str:
    """A reseller's UUID for its booking, in lower case; a new one when none is sent."""
    if value is None:
        return str(uuid_module.uuid4())
    try:
        return str(uuid_module.UUID(value))
    except ValueError:
        raise bad_request(f"uuid must be a UUID; “{value}” is not one.") from None


def units_of(items: list[UnitItemIn] | None) -> tuple[UnitItem, ...]:
    """Unit items, each checked; ``UNPROCESSABLE_ENTITY`` when there are none."""
    if not items:
        raise OctoError(
            "UNPROCESSABLE_ENTITY", "unitItems is missing or empty: book at least one unit."
        )
    return tuple(
        UnitItem(
            unit_id=check_unit(item.unit_id),
            uuid=_unit_uuid(item.uuid),
            reseller_reference=item.reseller_reference,
        )
        for item in items
    )


def _unit_uuid(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid_module.UUID(value))
    except ValueError:
        raise bad_request(f"A unit item's uuid must be a UUID; “{value}” is not one.") from None


def quantities(units: list[AvailabilityUnitIn] | None) -> dict[str, int]:
    """The people per unit an availability question is for (none: any)."""
    wanted = dict.fromkeys(UNIT_IDS, 0)
    for unit in units or []:
        wanted[check_unit(unit.id)] += unit.quantity
    return wanted


def _stripped(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None
