"""What resellers read, in OCTO's shapes (``tests/data/octo-openapi.yaml``): the supplier, its
products, availabilities and calendar days, and bookings.

Our rules show through unchanged: the places left are ``room.places_left`` as the office's own
site counts them; a slot open for booking is ``AVAILABLE`` (``LIMITED`` with fewer than half its
places left, ``SOLD_OUT`` with none) and any other ``CLOSED``. What OCTO has no field for (a
visit's minimum, no-shows) stays ours. Times: UTC ``…Z`` to the second, local times with their
offset; money in cents, euros.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from itertools import groupby
from typing import Any

from reservations.api.octo.requests import OPTION_ID, PRICING
from reservations.base import clock
from reservations.base.models import BookingStatus, CancelledBy
from reservations.base.reads.availability import SlotView
from reservations.base.reads.products import Product
from reservations.base.reads.reseller_bookings import ResellerBooking
from reservations.base.rules.reseller_bookings import ADULT, CHILD, derived_unit_uuid
from reservations.base.rules.resellers import ResellerRef
from reservations.settings import Settings

CURRENCY = "EUR"
AVAILABLE, LIMITED, SOLD_OUT, CLOSED = "AVAILABLE", "LIMITED", "SOLD_OUT", "CLOSED"
#: An adult's and a child's ages, as the products state them (a child visits with an adult).
ADULT_AGE, OLDEST = 18, 99


@dataclass(frozen=True)
class Asked:
    """What a request asks besides its ids: the capabilities, and the people an availability
    is looked at for (their prices; whether they fit)."""

    capabilities: frozenset[str]
    adults: int = 0
    children: int = 0

    @property
    def pricing(self) -> bool:
        return PRICING in self.capabilities

    @property
    def people(self) -> int:
        return self.adults + self.children


def supplier(settings: Settings) -> dict[str, Any]:
    name, address = parseaddr(settings.mail_from)
    return {
        "id": "reservations",
        "name": name or "Office de tourisme",
        "endpoint": f"{settings.public_url}/octo",
        "contact": {
            "website": settings.public_url,
            "email": address or None,
            "telephone": settings.office_phone,
            "address": None,
        },
    }


def capabilities() -> list[dict[str, Any]]:
    return [
        {
            "id": PRICING,
            "revision": 1,
            "required": False,
            "dependencies": [],
            "docs": "https://docs.octo.travel/octo-api-capabilities/pricing",
        }
    ]


def price(cents: int) -> dict[str, Any]:
    return {
        "original": cents,
        "retail": cents,
        "net": None,
        "currency": CURRENCY,
        "currencyPrecision": 2,
        "includedTaxes": [],
    }


def _unit_prices(adult_cents: int, child_cents: int) -> dict[str, int]:
    return {ADULT: adult_cents, CHILD: child_cents}


def product(item: Product, asked: Asked, settings: Settings) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(item.id),
        "internalName": item.title.get("fr") or item.name,
        "reference": None,
        "locale": "fr-FR",
        "timeZone": "Europe/Paris",
        "allowFreesale": False,
        "instantConfirmation": True,
        "instantDelivery": True,
        "availabilityRequired": True,
        "availabilityType": "START_TIME",
        "deliveryFormats": ["QRCODE"],
        "deliveryMethods": ["VOUCHER"],
        "redemptionMethod": "MANIFEST",
        "options": [_option(item, asked, settings)],
    }
    if asked.pricing:
        body.update(defaultCurrency=CURRENCY, availableCurrencies=[CURRENCY], pricingPer="UNIT")
    return body


def _option(item: Product, asked: Asked, settings: Settings) -> dict[str, Any]:
    minutes = item.cutoff_minutes
    amount, unit = (minutes // 60, "hour") if minutes % 60 == 0 else (minutes, "minute")
    body: dict[str, Any] = {
        "id": OPTION_ID,
        "default": True,
        "internalName": "Visite",
        "reference": None,
        # OCTO wants at least one: an activity with no coming slot says when its last began.
        "availabilityLocalStartTimes": list(item.start_times) or ["00:00"],
        "cancellationCutoff": f"{amount} {unit}{'s' if amount != 1 else ''}",
        "cancellationCutoffAmount": amount,
        "cancellationCutoffUnit": unit,
        "requiredContactFields": ["firstName", "lastName"],
        "restrictions": {"minUnits": 1, "maxUnits": settings.max_party_size},
        "units": [
            _unit(ADULT, "ADULT", item, asked, min_age=ADULT_AGE, max_age=OLDEST),
            _unit(CHILD, "CHILD", item, asked, min_age=item.min_age or 0, max_age=ADULT_AGE - 1),
        ],
    }
    if asked.pricing:
        body["pricingFrom"] = body["pricing"] = [price(item.price_adult_cents)]
    return body


def _unit(
    unit_id: str, kind: str, item: Product, asked: Asked, *, min_age: int, max_age: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": unit_id,
        "internalName": "Adulte" if unit_id == ADULT else "Enfant",
        "reference": None,
        "type": kind,
        "restrictions": {
            "minAge": min_age,
            "maxAge": max_age,
            "idRequired": False,
            "minQuantity": None,
            "maxQuantity": None,
            "paxCount": 1,
            "accompaniedBy": [] if unit_id == ADULT else [ADULT],
        },
        "requiredContactFields": [],
    }
    if asked.pricing:
        cents = _unit_prices(item.price_adult_cents, item.price_child_cents)[unit_id]
        body["pricingFrom"] = body["pricing"] = [price(cents)]
    return body


def availability_id(slot: SlotView) -> str:
    return clock.local_stamp(slot.starts_at)


def status_of(slot: SlotView, now: datetime) -> str:
    if not slot.open or slot.starts_at <= now:
        return CLOSED
    if slot.remaining == 0:
        return SOLD_OUT
    return LIMITED if slot.remaining * 2 < slot.capacity else AVAILABLE


def vacancies(slot: SlotView, now: datetime) -> int:
    return 0 if status_of(slot, now) == CLOSED else slot.remaining


def availability(slot: SlotView, asked: Asked, settings: Settings, now: datetime) -> dict[str, Any]:
    status, left = status_of(slot, now), vacancies(slot, now)
    body: dict[str, Any] = {
        "id": availability_id(slot),
        "localDateTimeStart": clock.local_stamp(slot.starts_at),
        "localDateTimeEnd": clock.local_stamp(slot.ends_at),
        "utcCutoffAt": clock.utc_stamp(slot.booking_cutoff_at),
        "allDay": False,
        "available": status in (AVAILABLE, LIMITED) and asked.people <= left,
        "status": status,
        "vacancies": left,
        "capacity": slot.capacity,
        "maxUnits": min(left, settings.max_party_size),
        "openingHours": [],
    }
    if asked.pricing:
        prices = _unit_prices(slot.price_adult_cents, slot.price_child_cents)
        body["unitPricing"] = [{"unitId": unit, **price(cents)} for unit, cents in prices.items()]
        adults = asked.adults if asked.people else 1
        body["pricing"] = price(
            adults * slot.price_adult_cents + asked.children * slot.price_child_cents
        )
    return body


def calendar(
    slots: Iterable[SlotView], first: date, last: date, asked: Asked, now: datetime
) -> list[dict[str, Any]]:
    """One entry a local day from ``first`` to ``last``, days without a visit ``CLOSED``."""
    by_day = {day: list(group) for day, group in groupby(slots, key=lambda s: s.starts_on)}
    days, day = [], first
    while day <= last:
        days.append(_calendar_day(day, by_day.get(day, []), asked, now))
        day += timedelta(days=1)
    return days


def _calendar_day(day: date, slots: list[SlotView], asked: Asked, now: datetime) -> dict[str, Any]:
    open_slots = [slot for slot in slots if status_of(slot, now) != CLOSED]
    left = sum(vacancies(slot, now) for slot in open_slots)
    capacity = sum(slot.capacity for slot in open_slots)
    if not open_slots:
        status = CLOSED
    elif left == 0:
        status = SOLD_OUT
    else:
        status = LIMITED if left * 2 < capacity else AVAILABLE
    fits = any(vacancies(slot, now) >= max(asked.people, 1) for slot in open_slots)
    body: dict[str, Any] = {
        "localDate": day.isoformat(),
        "available": status in (AVAILABLE, LIMITED) and fits,
        "status": status,
        "vacancies": left,
        "capacity": capacity,
        "openingHours": [],
    }
    if asked.pricing and slots:
        cheapest = min(slots, key=lambda slot: slot.price_adult_cents)
        prices = _unit_prices(cheapest.price_adult_cents, cheapest.price_child_cents)
        body["unitPricingFrom"] = [
            {"unitId": unit, **price(cents)} for unit, cents in prices.items()
        ]
        body["pricingFrom"] = price(cheapest.price_adult_cents)
    elif asked.pricing:
        body["unitPricingFrom"] = []
        body["pricingFrom"] = price(0)
    return body


# --- bookings -----------------------------------------------------------------------------------

ON_HOLD, CONFIRMED, CANCELLED, EXPIRED, REDEEMED = (
    "ON_HOLD",
    "CONFIRMED",
    "CANCELLED",
    "EXPIRED",
    "REDEEMED",
)


def booking_status(item: ResellerBooking, now: datetime) -> str:
    if item.status == BookingStatus.CANCELLED:
        return CANCELLED
    if item.status == BookingStatus.CONFIRMED:
        return REDEEMED if item.redeemed_at is not None else CONFIRMED
    if item.status == BookingStatus.ON_HOLD and item.hold_expires_at is not None:
        return ON_HOLD if item.hold_expires_at > now else EXPIRED
    return EXPIRED


def _cancellation(item: ResellerBooking, status: str) -> dict[str, Any] | None:
    if status == EXPIRED:
        at = item.hold_expires_at or item.created_at
        return {"refund": "FULL", "reason": "The hold expired.", "utcCancelledAt": _utc(at)}
    if status != CANCELLED:
        return None
    reason = item.data.get("cancellationReason")
    if item.cancelled_by == CancelledBy.SLOT:
        reason = "The visit was called off by the tourist office; nothing is due."
    elif item.cancelled_by == CancelledBy.STAFF and not reason:
        reason = "Cancelled by the tourist office; nothing is due."
    at = item.cancelled_at or item.created_at
    return {"refund": "FULL", "reason": reason, "utcCancelledAt": _utc(at)}


def _utc(instant: datetime | None) -> str | None:
    return None if instant is None else clock.utc_stamp(instant)


def _updated_at(item: ResellerBooking) -> datetime:
    stamps = [item.created_at, item.cancelled_at, item.redeemed_at]
    if item.data.get("updatedAt"):
        stamps.append(datetime.fromisoformat(item.data["updatedAt"]))
    return max(stamp for stamp in stamps if stamp is not None)


def contact(item: ResellerBooking) -> dict[str, Any]:
    guest = item.data.get("guest") or {}
    return {
        "fullName": item.name,
        "firstName": guest.get("firstName"),
        "lastName": guest.get("lastName"),
        "emailAddress": item.email,
        "phoneNumber": item.phone,
        "locales": guest.get("locales") or [],
        "postalCode": guest.get("postalCode"),
        "country": guest.get("country"),
        "notes": None,
    }


_NOBODY = {
    "fullName": None,
    "firstName": None,
    "lastName": None,
    "emailAddress": None,
    "phoneNumber": None,
    "locales": [],
    "postalCode": None,
    "country": None,
    "notes": None,
}


def _unit_items(item: ResellerBooking) -> list[dict[str, Any]]:
    """The reseller's unit items, as many of each unit as the booking holds people (staff may
    have changed the party at the counter: items are added or dropped to match)."""
    kept = item.data.get("unitItems") or []
    items = []
    for unit_id, count in ((ADULT, item.adults), (CHILD, item.children)):
        ours = [unit for unit in kept if unit.get("unitId") == unit_id][:count]
        for index in range(len(ours), count):
            ours.append(
                {"uuid": derived_unit_uuid(item.uuid, f"{unit_id}-{index}"), "unitId": unit_id}
            )
        items.extend(ours)
    return items


def _confirmed_at(item: ResellerBooking, status: str) -> str | None:
    """When the reseller confirmed it: never for a hold, always for a confirmed booking."""
    confirmed_at = item.data.get("confirmedAt")
    if status in (CONFIRMED, REDEEMED):
        return confirmed_at or _utc(item.created_at)
    return confirmed_at if status == CANCELLED else None


def booking(
    item: ResellerBooking,
    reseller: ResellerRef,
    asked: Asked,
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    status = booking_status(item, now)
    slot = item.slot
    live = status in (ON_HOLD, CONFIRMED)
    redeemed = _utc(item.redeemed_at)
    voucher = None
    if status in (CONFIRMED, REDEEMED):
        voucher = {
            "redemptionMethod": "MANIFEST",
            "utcRedeemedAt": redeemed,
            "deliveryOptions": [{"deliveryFormat": "QRCODE", "deliveryValue": item.reference}],
        }
    with_people = Asked(asked.capabilities, item.adults, item.children)
    prices = _unit_prices(slot.price_adult_cents, slot.price_child_cents)
    units = []
    for index, unit in enumerate(_unit_items(item)):
        body: dict[str, Any] = {
            "uuid": unit["uuid"],
            "resellerReference": unit.get("resellerReference"),
            "supplierReference": f"{item.reference}-{index + 1}",
            "unitId": unit["unitId"],
            "status": status,
            "utcRedeemedAt": redeemed,
            "contact": dict(_NOBODY),
            "ticket": None,
        }
        if asked.pricing:
            body["pricing"] = price(prices[unit["unitId"]])
        units.append(body)
    body = {
        "id": item.reference,
        "uuid": item.uuid,
        "testMode": reseller.test_mode,
        "resellerReference": item.reseller_reference,
        "supplierReference": item.reference,
        "status": status,
        "utcCreatedAt": _utc(item.created_at),
        "utcUpdatedAt": _utc(_updated_at(item)),
        "utcExpiresAt": _utc(item.hold_expires_at) if status in (ON_HOLD, EXPIRED) else None,
        "utcRedeemedAt": redeemed,
        "utcConfirmedAt": _confirmed_at(item, status),
        "productId": str(slot.activity_id),
        "optionId": OPTION_ID,
        "cancellable": status == ON_HOLD or (live and now < slot.booking_cutoff_at),
        "cancellation": _cancellation(item, status),
        "freesale": False,
        "availabilityId": availability_id(slot),
        "availability": availability(slot, with_people, settings, now),
        "contact": contact(item),
        "notes": item.notes,
        "deliveryMethods": ["VOUCHER"],
        "voucher": voucher,
        "unitItems": units,
    }
    if asked.pricing:
        body["pricing"] = price(
            item.adults * slot.price_adult_cents + item.children * slot.price_child_cents
        )
    return body
