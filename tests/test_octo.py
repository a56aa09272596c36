"""The OCTO API (``/octo``), written from the specification (``tests/data/octo-openapi.yaml``):
every endpoint, every error code and the booking state rules, each answer validated against
the spec's schemas by a JSON-schema validator (``tests/octo_spec.py``), on each database."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.errors import CancellationClosed
from reservations.base.models import (
    Activity,
    AuditEntry,
    Booking,
    CancelReason,
    Channel,
    OutboxMessage,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.reads import booking_money, day_sheet
from reservations.base.rules import booking as booking_rules
from reservations.base.rules import slots as slot_rules
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.provider_links import issue_link
from reservations.base.rules.resellers import add_reseller, revoke_reseller
from reservations.settings import Settings
from tests.factories import fetch_slot, make_activity, make_slot
from tests.octo_spec import assert_valid, response_schema
from tests.outbox_support import as_sent
from tests.staff_support import staff_client
from tests.test_visitors import site_settings

PRICING = {"Octo-Capabilities": "octo/pricing"}
UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LOCAL_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


@pytest.fixture
async def client(db, tmp_path) -> AsyncIterator[AsyncTestClient]:
    settings = Settings(
        database_url=db.url,
        secret_key="test",
        max_party_size=12,
        booking_rate_limit=0,
        reseller_rate_limit=0,
        octo_sandbox_dir=str(tmp_path / "sandbox"),
    )
    async with AsyncTestClient(app=create_app(settings, database=db)) as test_client:
        yield test_client


@pytest.fixture
async def key(db) -> str:
    _, secret = await add_reseller(db, "Lozère Marketplace")
    return secret


def auth(secret: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", **more}


async def priced_slot(db, *, capacity: int = 10, days: int = 5, activity=None):  # type: ignore[no-untyped-def]
    activity = activity or await make_activity(db, capacity=capacity)
    async with db.writing() as session:
        await session.execute(
            update(Activity)
            .where(Activity.id == activity.id)
            .values(price_adult_cents=800, price_child_cents=450, min_age=4)
        )
    start = clock.local_datetime(clock.today() + timedelta(days=days), clock_time(14))
    return await make_slot(db, activity=activity, starts_at=start, capacity=capacity)


def clock_time(hour: int):  # type: ignore[no-untyped-def]
    from datetime import time

    return time(hour, 0)


def checked(response, path: str, method: str, *, status: int = 200, caps=frozenset()) -> Any:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert_valid(body, response_schema(path, method, status), capabilities=caps)
    return body


def error_of(response, path: str, method: str, code: str, status: int = 400) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = checked(response, path, method, status=status)
    assert body["error"] == code, body
    assert body["errorMessage"] and "Traceback" not in response.text
    return body


def reservation(slot, *units: str, **more: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "uuid": str(uuid.uuid4()),
        "productId": str(slot.activity_id),
        "optionId": "DEFAULT",
        "availabilityId": clock.local_stamp(slot.starts_at),
        "unitItems": [{"unitId": unit} for unit in (units or ("adult",))],
        **more,
    }


def assert_state_rules(booking: dict[str, Any]) -> None:
    """The spec's booking states: a hold has an end and no confirmation, a confirmed booking
    the opposite; cancelled and expired ones carry a cancellation; times in UTC ``Z``."""
    status = booking["status"]
    if status == "ON_HOLD":
        assert booking["utcExpiresAt"] and booking["utcConfirmedAt"] is None
        assert booking["cancellation"] is None
    if status in ("CONFIRMED", "REDEEMED"):
        assert booking["utcExpiresAt"] is None and booking["utcConfirmedAt"]
        assert booking["cancellation"] is None
    if status in ("CANCELLED", "EXPIRED"):
        assert booking["cancellation"] and booking["cancellation"]["utcCancelledAt"]
    for name in ("utcCreatedAt", "utcUpdatedAt", "utcExpiresAt", "utcConfirmedAt"):
        if booking[name] is not None:
            assert UTC_STAMP.fullmatch(booking[name]), (name, booking[name])
    assert booking["uuid"] == booking["uuid"].lower()
    assert LOCAL_STAMP.fullmatch(booking["availability"]["localDateTimeStart"])
    assert all(item["status"] == status for item in booking["unitItems"])


# --- keys ----------------------------------------------------------------------------------------


async def test_no_key_is_unauthorized_and_a_bad_or_revoked_key_forbidden(client, db, key):
    error_of(await client.get("/octo/supplier"), "/supplier/", "get", "UNAUTHORIZED", 401)
    error_of(
        await client.get("/octo/products", headers={"Authorization": "Basic abc"}),
        "/products/",
        "get",
        "UNAUTHORIZED",
        401,
    )
    error_of(
        await client.get("/octo/products", headers=auth("rsv_live_nope")),
        "/products/",
        "get",
        "FORBIDDEN",
        403,
    )
    assert (await client.get("/octo/products", headers=auth(key))).status_code == 200
    await revoke_reseller(db, "Lozère Marketplace")
    error_of(
        await client.get("/octo/products", headers=auth(key)), "/products/", "get", "FORBIDDEN", 403
    )


async def test_keys_are_stored_hashed_and_a_revoked_reseller_gets_a_new_key(db, key):
    async with db.reading_connection() as connection:
        stored = (await connection.execute(select(AuditEntry.data))).scalars().all()
        hashes = (await connection.exec_driver_sql("SELECT key_hash FROM reseller")).scalars().all()
    assert key not in str(stored) and key not in str(hashes) and len(hashes[0]) == 64
    await revoke_reseller(db, "Lozère Marketplace")
    _, again = await add_reseller(db, "Lozère Marketplace")
    assert again != key and again.startswith("rsv_live_")


# --- supplier, capabilities, products ------------------------------------------------------------


async def test_supplier_and_capabilities(client, key):
    supplier = checked(await client.get("/octo/supplier", headers=auth(key)), "/supplier/", "get")
    assert supplier["endpoint"].endswith("/octo")
    capabilities = checked(
        await client.get("/octo/capabilities", headers=auth(key)), "/capabilities/", "get"
    )
    assert [c["id"] for c in capabilities] == ["octo/pricing"]


async def test_products_with_and_without_pricing(client, db, key):
    slot = await priced_slot(db)
    plain = checked(await client.get("/octo/products", headers=auth(key)), "/products/", "get")
    (product,) = [p for p in plain if p["id"] == str(slot.activity_id)]
    assert product["availabilityType"] == "START_TIME" and product["locale"] == "fr-FR"
    assert product["timeZone"] == "Europe/Paris" and product["redemptionMethod"] == "MANIFEST"
    (option,) = product["options"]
    assert option["id"] == "DEFAULT" and option["cancellationCutoff"] == "2 hours"
    assert option["availabilityLocalStartTimes"] == ["14:00"]
    adult, child = option["units"]
    assert (adult["id"], adult["type"], child["id"], child["type"]) == (
        "adult",
        "ADULT",
        "child",
        "CHILD",
    )
    assert child["restrictions"]["accompaniedBy"] == ["adult"]
    assert child["restrictions"]["minAge"] == 4
    assert "pricing" not in adult and "defaultCurrency" not in product

    response = await client.get(f"/octo/products/{slot.activity_id}", headers=auth(key, **PRICING))
    priced = checked(response, "/products/{id}", "get", caps={"octo/pricing"})
    assert response.headers["Octo-Capabilities"] == "octo/pricing"
    assert priced["defaultCurrency"] == "EUR" and priced["pricingPer"] == "UNIT"
    adult, child = priced["options"][0]["units"]
    assert adult["pricing"][0]["retail"] == 800 and child["pricing"][0]["retail"] == 450


async def test_unknown_product(client, key):
    for product_id in ("999999", "abc", "-1", "1" * 30):
        response = await client.get(f"/octo/products/{product_id}", headers=auth(key))
        body = error_of(response, "/products/{id}", "get", "INVALID_PRODUCT_ID")
        assert body["productId"] == product_id


async def test_empty_capabilities_header_is_accepted(client, key):
    response = await client.get("/octo/products", headers=auth(key, **{"Octo-Capabilities": ""}))
    assert response.status_code == 200 and response.headers["Octo-Capabilities"] == ""


# --- availability --------------------------------------------------------------------------------


async def test_availability_by_date_range_and_ids(client, db, key):
    slot = await priced_slot(db, capacity=10)
    day = clock.local_date(slot.starts_at).isoformat()
    base = {"productId": str(slot.activity_id), "optionId": "DEFAULT"}
    for query in ({"localDate": day}, {"localDateStart": day, "localDateEnd": day}):
        response = await client.post(
            "/octo/availability", json={**base, **query}, headers=auth(key, **PRICING)
        )
        (found,) = checked(response, "/availability/", "post", caps={"octo/pricing"})
        assert found["id"] == clock.local_stamp(slot.starts_at)
        assert found["status"] == "AVAILABLE" and found["vacancies"] == 10
        assert found["capacity"] == 10 and found["available"] is True
        assert found["utcCutoffAt"] == clock.utc_stamp(slot.booking_cutoff_at)
        assert {p["unitId"]: p["retail"] for p in found["unitPricing"]} == {
            "adult": 800,
            "child": 450,
        }
    by_id = await client.post(
        "/octo/availability",
        json={**base, "availabilityIds": [clock.local_stamp(slot.starts_at)]},
        headers=auth(key),
    )
    assert [a["id"] for a in checked(by_id, "/availability/", "post")] == [
        clock.local_stamp(slot.starts_at)
    ]


async def test_availability_status_follows_the_places_left(client, db, key):
    slot = await priced_slot(db, capacity=10)
    query = {
        "productId": str(slot.activity_id),
        "optionId": "DEFAULT",
        "availabilityIds": [clock.local_stamp(slot.starts_at)],
    }

    async def status() -> tuple[str, int]:
        response = await client.post("/octo/availability", json=query, headers=auth(key))
        (found,) = checked(response, "/availability/", "post")
        return found["status"], found["vacancies"]

    hold = await client.post(
        "/octo/bookings", json=reservation(slot, *["adult"] * 6), headers=auth(key)
    )
    assert hold.status_code == 200, hold.text
    assert await status() == ("LIMITED", 4)  # fewer than half the places left
    more = await client.post(
        "/octo/bookings", json=reservation(slot, *["adult"] * 4), headers=auth(key)
    )
    assert more.status_code == 200
    assert await status() == ("SOLD_OUT", 0)
    await slot_rules.cancel_slot(db, slot.id, CancelReason.WEATHER, actor="test")
    assert await status() == ("CLOSED", 0)


async def test_availability_agrees_with_the_office_site(client, db, key):
    slot = await priced_slot(db, capacity=9)
    web = await client.post(
        "/api/v1/bookings",
        json={
            "slot_id": slot.id,
            "adults": 2,
            "children": 1,
            "name": "Anne",
            "email": "anne@example.fr",
        },
    )
    assert web.status_code == 201, web.text
    hold = await client.post("/octo/bookings", json=reservation(slot, "adult"), headers=auth(key))
    assert hold.status_code == 200
    day = clock.local_date(slot.starts_at).isoformat()
    site = await client.get("/api/v1/availability", params={"from": day, "to": day})
    assert site.status_code == 200, site.text
    (ours,) = [s for s in site.json() if s["id"] == slot.id]
    response = await client.post(
        "/octo/availability",
        json={"productId": str(slot.activity_id), "optionId": "DEFAULT", "localDate": day},
        headers=auth(key),
    )
    (theirs,) = checked(response, "/availability/", "post")
    assert theirs["vacancies"] == ours["remaining"] == 9 - 3 - 1


async def test_availability_calendar(client, db, key):
    slot = await priced_slot(db, capacity=10, days=4)
    day = clock.local_date(slot.starts_at)
    first, last = day - timedelta(days=1), day + timedelta(days=1)
    response = await client.post(
        "/octo/availability/calendar",
        json={
            "productId": str(slot.activity_id),
            "optionId": "DEFAULT",
            "localDateStart": first.isoformat(),
            "localDateEnd": last.isoformat(),
            "units": [{"id": "adult", "quantity": 2}],
        },
        headers=auth(key, **PRICING),
    )
    days = checked(response, "/availability/calendar", "post", caps={"octo/pricing"})
    assert [d["localDate"] for d in days] == [first.isoformat(), day.isoformat(), last.isoformat()]
    assert [d["status"] for d in days] == ["CLOSED", "AVAILABLE", "CLOSED"]
    assert days[1]["vacancies"] == 10 and days[1]["available"] is True
    assert days[1]["pricingFrom"]["retail"] == 800


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"localDate": "2026-13-01"},
        {"localDateStart": "2026-07-01"},
        {"localDateStart": "2026-07-10", "localDateEnd": "2026-07-01"},
        {"localDateStart": "2026-01-01", "localDateEnd": "2028-01-01"},
        {"localDate": "2026-07-01", "availabilityIds": ["x"]},
        {
            "localDateStart": "2026-07-01",
            "localDateEnd": "2026-07-02",
            "availabilityIds": ["2026-07-01T10:00:00+02:00"],
        },
    ],
)
async def test_availability_needs_exactly_one_way_of_asking(client, db, key, query):
    slot = await priced_slot(db)
    body = {"productId": str(slot.activity_id), "optionId": "DEFAULT", **query}
    response = await client.post("/octo/availability", json=body, headers=auth(key))
    error_of(response, "/availability/", "post", "BAD_REQUEST")


async def test_availability_ids_and_units_that_do_not_exist(client, db, key):
    slot = await priced_slot(db)
    base = {"productId": str(slot.activity_id), "optionId": "DEFAULT"}
    for given in ("not a date", "2026-07-01T10:00:00", "2031-07-01T10:00:00+02:00"):
        response = await client.post(
            "/octo/availability", json={**base, "availabilityIds": [given]}, headers=auth(key)
        )
        body = error_of(response, "/availability/", "post", "INVALID_AVAILABILITY_ID")
        assert body["availabilityId"] == given
    unknown = await client.post(
        "/octo/availability",
        json={**base, "localDate": "2026-07-01", "units": [{"id": "dog", "quantity": 1}]},
        headers=auth(key),
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "INVALID_UNIT_ID"
    for path in ("/octo/availability", "/octo/availability/calendar"):
        wrong_option = await client.post(
            path,
            json={
                **base,
                "optionId": "VIP",
                "localDateStart": "2026-07-01",
                "localDateEnd": "2026-07-01",
            },
            headers=auth(key),
        )
        assert wrong_option.json() | {"errorMessage": ""} == {
            "error": "INVALID_OPTION_ID",
            "errorMessage": "",
            "optionId": "VIP",
        }
        wrong_product = await client.post(
            path,
            json={"productId": "0", "optionId": "DEFAULT", "localDate": "2026-07-01"},
            headers=auth(key),
        )
        assert wrong_product.json()["error"] == "INVALID_PRODUCT_ID"


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b'{"productId": 12}', b'{"productId": "1\\u0000"}']
)
async def test_bodies_that_cannot_be_read(client, key, raw):
    response = await client.post(
        "/octo/availability",
        content=raw,
        headers=auth(key, **{"Content-Type": "application/json"}),
    )
    error_of(response, "/availability/", "post", "BAD_REQUEST")


# --- bookings ------------------------------------------------------------------------------------


async def test_hold_confirm_read_and_cancel(client, db, key):
    slot = await priced_slot(db, capacity=10)
    body = reservation(
        slot, "adult", "adult", "child", resellerReference="LM-1", expirationMinutes=20
    )
    response = await client.post("/octo/bookings", json=body, headers=auth(key, **PRICING))
    held = checked(response, "/bookings/", "post", caps={"octo/pricing"})
    assert_state_rules(held)
    assert held["status"] == "ON_HOLD" and held["uuid"] == body["uuid"]
    assert held["resellerReference"] == "LM-1" and held["testMode"] is False
    assert held["pricing"]["retail"] == 2 * 800 + 450
    assert [u["unitId"] for u in held["unitItems"]] == ["adult", "adult", "child"]
    assert (await fetch_slot(db, slot.id)).held == 3

    confirm = await client.post(
        f"/octo/bookings/{held['uuid']}/confirm",
        json={
            "contact": {
                "firstName": "Hanna",
                "lastName": "Vogel",
                "emailAddress": "h@example.de",
                "locales": ["de-CH"],
            }
        },
        headers=auth(key),
    )
    confirmed = checked(confirm, "/bookings/{uuid}/confirm", "post")
    assert_state_rules(confirmed)
    assert confirmed["status"] == "CONFIRMED" and confirmed["contact"]["fullName"] == "Hanna Vogel"
    assert confirmed["voucher"]["redemptionMethod"] == "MANIFEST"
    counted = await fetch_slot(db, slot.id)
    assert (counted.booked, counted.held) == (3, 0)
    async with db.reading() as session:
        stored = await session.scalar(select(Booking).where(Booking.slot_id == slot.id))
    assert stored.channel == Channel.RESELLER and stored.locale == "de"

    again = await client.post(
        f"/octo/bookings/{held['uuid']}/confirm",
        json={"contact": {"fullName": "X"}},
        headers=auth(key),
    )
    assert (
        again.json()["status"] == "CONFIRMED"
        and again.json()["contact"]["fullName"] == "Hanna Vogel"
    )

    read = checked(
        await client.get(f"/octo/bookings/{held['uuid']}", headers=auth(key)),
        "/bookings/{uuid}",
        "get",
    )
    assert read["utcConfirmedAt"] == confirmed["utcConfirmedAt"]

    cancel = await client.post(
        f"/octo/bookings/{held['uuid']}/cancel", json={"reason": "Guest ill"}, headers=auth(key)
    )
    cancelled = checked(cancel, "/bookings/{uuid}/cancel", "post")
    assert_state_rules(cancelled)
    assert cancelled["status"] == "CANCELLED" and cancelled["cancellation"]["reason"] == "Guest ill"
    assert cancelled["cancellation"]["refund"] == "FULL" and cancelled["cancellable"] is False
    assert (await fetch_slot(db, slot.id)).booked == 0
    twice = await client.post(f"/octo/bookings/{held['uuid']}/cancel", json={}, headers=auth(key))
    assert twice.status_code == 200 and twice.json()["status"] == "CANCELLED"


async def test_the_uuid_is_an_idempotency_key(client, db, key):
    slot = await priced_slot(db, capacity=10)
    body = reservation(slot, "adult", "adult")
    body["uuid"] = body["uuid"].upper()
    first = await client.post("/octo/bookings", json=body, headers=auth(key))
    second = await client.post("/octo/bookings", json=body, headers=auth(key))
    assert first.status_code == second.status_code == 200
    assert first.json()["uuid"] == second.json()["uuid"] == body["uuid"].lower()
    assert (await fetch_slot(db, slot.id)).held == 2
    other = await client.post(
        "/octo/bookings", json={**body, "unitItems": [{"unitId": "adult"}]}, headers=auth(key)
    )
    error_of(other, "/bookings/", "post", "BAD_REQUEST")


async def test_reservations_refused(client, db, key):
    slot = await priced_slot(db, capacity=3)
    cases = {
        "UNPROCESSABLE_ENTITY": [
            {"unitItems": []},
            {"unitItems": None},
            {"unitItems": [{"unitId": "adult"}] * 4},  # more than the places left
        ],
        "INVALID_UNIT_ID": [{"unitItems": [{"unitId": "senior"}]}, {"unitItems": [{}]}],
        "INVALID_PRODUCT_ID": [{"productId": "424242"}, {"productId": None}],
        "INVALID_OPTION_ID": [{"optionId": "OTHER"}],
        "INVALID_AVAILABILITY_ID": [
            {"availabilityId": "2031-01-01T10:00:00+01:00"},
            {"availabilityId": None},
        ],
        "BAD_REQUEST": [
            {"uuid": "not-a-uuid"},
            {"expirationMinutes": 100000},
            {"contact": {"emailAddress": "not an address"}},
            {"unitItems": [{"unitId": "child"}]},  # a child visits with an adult
            {"unitItems": [{"unitId": "adult"}] * 13},  # more than one booking may hold
        ],
    }
    for code, changes in cases.items():
        for change in changes:
            body = {**reservation(slot), **change}
            body = {name: value for name, value in body.items() if value is not None}
            response = await client.post("/octo/bookings", json=body, headers=auth(key))
            error_of(response, "/bookings/", "post", code)
    assert (await fetch_slot(db, slot.id)).held == 0


async def test_a_sold_out_or_closed_slot_is_unprocessable(client, db, key):
    slot = await priced_slot(db, capacity=2)
    assert (
        await client.post(
            "/octo/bookings", json=reservation(slot, "adult", "adult"), headers=auth(key)
        )
    ).status_code == 200
    full = await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))
    error_of(full, "/bookings/", "post", "UNPROCESSABLE_ENTITY")
    await slot_rules.cancel_slot(db, slot.id, CancelReason.WEATHER, actor="test")
    closed = await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))
    error_of(closed, "/bookings/", "post", "UNPROCESSABLE_ENTITY")


async def test_extend_then_the_hold_expires(client, db, key):
    slot = await priced_slot(db, capacity=4)
    held = (
        await client.post(
            "/octo/bookings", json=reservation(slot, expirationMinutes=5), headers=auth(key)
        )
    ).json()
    extended = await client.post(
        f"/octo/bookings/{held['uuid']}/extend", json={"expirationMinutes": 60}, headers=auth(key)
    )
    body = checked(extended, "/bookings/{uuid}/extend", "post")
    assert body["utcExpiresAt"] > held["utcExpiresAt"]
    ends = (await fetch_slot(db, slot.id)).holds_expire_at
    assert clock.utc_stamp(ends) == body["utcExpiresAt"]
    # The hold's end passes: it reads EXPIRED, cannot be confirmed or extended, frees its place.
    async with db.writing() as session:
        await session.execute(
            update(Booking).values(hold_expires_at=clock.now() - timedelta(minutes=1))
        )
        await session.execute(
            update(Slot).values(holds_expire_at=clock.now() - timedelta(minutes=1))
        )
    expired = checked(
        await client.get(f"/octo/bookings/{held['uuid']}", headers=auth(key)),
        "/bookings/{uuid}",
        "get",
    )
    assert expired["status"] == "EXPIRED" and expired["cancellation"]["reason"]
    assert_state_rules(expired)
    confirm = await client.post(
        f"/octo/bookings/{held['uuid']}/confirm",
        json={"contact": {"fullName": "Late"}},
        headers=auth(key),
    )
    assert (
        error_of(confirm, "/bookings/{uuid}/confirm", "post", "INVALID_BOOKING_UUID")["uuid"]
        == held["uuid"]
    )
    extend = await client.post(f"/octo/bookings/{held['uuid']}/extend", json={}, headers=auth(key))
    error_of(extend, "/bookings/{uuid}/extend", "post", "UNPROCESSABLE_ENTITY")
    four = await client.post(
        "/octo/bookings", json=reservation(slot, *["adult"] * 4), headers=auth(key)
    )
    assert four.status_code == 200, four.text


async def test_cancel_after_the_cutoff_is_unprocessable(client, db, key):
    slot = await priced_slot(db, capacity=4)
    held = (await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))).json()
    await client.post(
        f"/octo/bookings/{held['uuid']}/confirm",
        json={"contact": {"fullName": "Jo"}},
        headers=auth(key),
    )
    async with db.writing() as session:
        await session.execute(
            update(Slot)
            .where(Slot.id == slot.id)
            .values(booking_cutoff_at=clock.now() - timedelta(minutes=1))
        )
    late = await client.post(f"/octo/bookings/{held['uuid']}/cancel", json={}, headers=auth(key))
    error_of(late, "/bookings/{uuid}/cancel", "post", "UNPROCESSABLE_ENTITY")
    read = (await client.get(f"/octo/bookings/{held['uuid']}", headers=auth(key))).json()
    assert read["status"] == "CONFIRMED" and read["cancellable"] is False


async def test_unknown_booking_uuids(client, key):
    for booking_uuid in (str(uuid.uuid4()), "not-a-uuid"):
        for method, path, body in (
            ("get", "", None),
            ("post", "/confirm", {"contact": {"fullName": "A"}}),
            ("post", "/extend", {}),
            ("post", "/cancel", {}),
            ("patch", "", {"notes": "x"}),
        ):
            url = f"/octo/bookings/{booking_uuid}{path}"
            response = await client.request(method, url, json=body, headers=auth(key))
            spec_path = "/bookings/{uuid}" + path
            assert error_of(response, spec_path, method, "INVALID_BOOKING_UUID")["uuid"]


async def test_patch_a_hold_changes_its_people_and_date_within_the_places(client, db, key):
    slot = await priced_slot(db, capacity=4)
    other = await priced_slot(db, capacity=3, days=6, activity=await _activity_of(db, slot))
    held = (
        await client.post("/octo/bookings", json=reservation(slot, "adult"), headers=auth(key))
    ).json()
    url = f"/octo/bookings/{held['uuid']}"
    grown = await client.patch(
        url, json={"unitItems": [{"unitId": "adult"}, {"unitId": "child"}]}, headers=auth(key)
    )
    body = checked(grown, "/bookings/{uuid}", "patch")
    assert body["status"] == "ON_HOLD" and len(body["unitItems"]) == 2
    assert (await fetch_slot(db, slot.id)).held == 2
    too_many = await client.patch(
        url, json={"unitItems": [{"unitId": "adult"}] * 5}, headers=auth(key)
    )
    error_of(too_many, "/bookings/{uuid}", "patch", "UNPROCESSABLE_ENTITY")
    assert (await fetch_slot(db, slot.id)).held == 2
    moved = await client.patch(
        url, json={"availabilityId": clock.local_stamp(other.starts_at)}, headers=auth(key)
    )
    body = checked(moved, "/bookings/{uuid}", "patch")
    assert body["availabilityId"] == clock.local_stamp(other.starts_at)
    assert body["utcExpiresAt"] == held["utcExpiresAt"]  # a move does not lengthen the hold
    source, target = await fetch_slot(db, slot.id), await fetch_slot(db, other.id)
    assert (source.held, source.holds_expire_at, target.held) == (0, None, 2)
    assert clock.utc_stamp(target.holds_expire_at) == held["utcExpiresAt"]
    crowd = reservation(other, "adult")
    assert (await client.post("/octo/bookings", json=crowd, headers=auth(key))).status_code == 200
    back = await client.patch(url, json={"unitItems": [{"unitId": "adult"}] * 3}, headers=auth(key))
    error_of(back, "/bookings/{uuid}", "patch", "UNPROCESSABLE_ENTITY")  # 1 place left there
    confirmed = await client.post(
        f"{url}/confirm", json={"contact": {"fullName": "Piet"}}, headers=auth(key)
    )
    assert confirmed.json()["status"] == "CONFIRMED"
    assert ((await fetch_slot(db, other.id)).booked, (await fetch_slot(db, other.id)).held) == (
        2,
        1,
    )


async def test_patch_changes_details_people_and_date(client, db, key):
    slot = await priced_slot(db, capacity=6)
    other = await priced_slot(db, capacity=6, days=6, activity=await _activity_of(db, slot))
    held = (
        await client.post("/octo/bookings", json=reservation(slot, "adult"), headers=auth(key))
    ).json()
    await client.post(
        f"/octo/bookings/{held['uuid']}/confirm",
        json={"contact": {"fullName": "Piet"}},
        headers=auth(key),
    )
    response = await client.patch(
        f"/octo/bookings/{held['uuid']}",
        json={
            "resellerReference": "LM-7",
            "notes": "Wheelchair",
            "contact": {"fullName": "Piet Jansen", "phoneNumber": "+31 6 1234 5678"},
            "unitItems": [{"unitId": "adult"}, {"unitId": "adult"}, {"unitId": "child"}],
            "availabilityId": clock.local_stamp(other.starts_at),
        },
        headers=auth(key),
    )
    patched = checked(response, "/bookings/{uuid}", "patch")
    assert patched["resellerReference"] == "LM-7" and patched["notes"] == "Wheelchair"
    assert patched["contact"]["fullName"] == "Piet Jansen"
    assert patched["contact"]["phoneNumber"] == "+31 6 1234 5678"
    assert [u["unitId"] for u in patched["unitItems"]] == ["adult", "adult", "child"]
    assert patched["availabilityId"] == clock.local_stamp(other.starts_at)
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert (await fetch_slot(db, other.id)).booked == 3
    too_many = await client.patch(
        f"/octo/bookings/{held['uuid']}",
        json={"unitItems": [{"unitId": "adult"}] * 7},
        headers=auth(key),
    )
    error_of(too_many, "/bookings/{uuid}", "patch", "UNPROCESSABLE_ENTITY")  # 3 places left
    assert (await fetch_slot(db, other.id)).booked == 3
    other_product = await client.patch(
        f"/octo/bookings/{held['uuid']}", json={"productId": "999"}, headers=auth(key)
    )
    error_of(other_product, "/bookings/{uuid}", "patch", "BAD_REQUEST")


async def _activity_of(db, slot):  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.get(Activity, slot.activity_id)


async def test_list_bookings_by_references_and_dates(client, db, key):
    slot = await priced_slot(db, capacity=6)
    held = (
        await client.post(
            "/octo/bookings", json=reservation(slot, resellerReference="R-1"), headers=auth(key)
        )
    ).json()
    day = clock.local_date(slot.starts_at).isoformat()
    for query in (
        {"resellerReference": "R-1"},
        {"supplierReference": held["supplierReference"]},
        {"localDate": day},
        {"localDateStart": day, "localDateEnd": day},
    ):
        listed = checked(
            await client.get("/octo/bookings", params=query, headers=auth(key)), "/bookings/", "get"
        )
        assert [b["uuid"] for b in listed] == [held["uuid"]], query
    assert (
        await client.get("/octo/bookings", params={"resellerReference": "none"}, headers=auth(key))
    ).json() == []
    error_of(
        await client.get("/octo/bookings", headers=auth(key)), "/bookings/", "get", "BAD_REQUEST"
    )


async def test_a_called_off_visit_shows_cancelled_with_a_full_refund(client, db, key):
    slot = await priced_slot(db, capacity=6)
    gone = (await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))).json()
    await client.post(
        f"/octo/bookings/{gone['uuid']}/confirm",
        json={"contact": {"fullName": "Ann"}},
        headers=auth(key),
    )
    await slot_rules.cancel_slot(db, slot.id, CancelReason.WEATHER, actor="test")
    read = (await client.get(f"/octo/bookings/{gone['uuid']}", headers=auth(key))).json()
    assert read["status"] == "CANCELLED" and read["cancellation"]["refund"] == "FULL"
    assert (await fetch_slot(db, slot.id)).status == SlotStatus.CANCELLED


async def test_a_party_the_farmer_saw_come_reads_redeemed_and_a_no_show_stays_confirmed(
    client, db, key
):
    slot = await priced_slot(db, capacity=6)
    came, absent = [
        (await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))).json()
        for _ in range(2)
    ]
    for held in (came, absent):
        await client.post(
            f"/octo/bookings/{held['uuid']}/confirm",
            json={"contact": {"fullName": "Jo"}},
            headers=auth(key),
        )
    async with db.reading() as session:
        by_uuid = {
            row.reseller_data["uuid"]: row.id
            for row in (await session.execute(select(Booking.id, Booking.reseller_data))).all()
        }
    after_the_visit = slot.ends_at + timedelta(minutes=5)
    await slot_rules.record_attendance(
        db,
        slot.id,
        {by_uuid[absent["uuid"]]: slot_rules.Presence(0, 0)},
        actor="test",
        now=after_the_visit,
    )
    redeemed = checked(
        await client.get(f"/octo/bookings/{came['uuid']}", headers=auth(key)),
        "/bookings/{uuid}",
        "get",
    )
    assert_state_rules(redeemed)
    assert redeemed["status"] == "REDEEMED" and redeemed["utcRedeemedAt"]
    assert redeemed["voucher"]["utcRedeemedAt"] == redeemed["utcRedeemedAt"]
    no_show = (await client.get(f"/octo/bookings/{absent['uuid']}", headers=auth(key))).json()
    assert no_show["status"] == "CONFIRMED" and no_show["utcRedeemedAt"] is None


async def test_the_office_sees_the_reseller_booking_on_the_day_sheet(client, db, key):
    slot = await priced_slot(db, capacity=6)
    held = (
        await client.post(
            "/octo/bookings", json=reservation(slot, "adult", "child"), headers=auth(key)
        )
    ).json()
    await client.post(
        f"/octo/bookings/{held['uuid']}/confirm",
        json={"contact": {"fullName": "Lotte Jansen"}},
        headers=auth(key),
    )
    async with db.reading() as session:
        provider_id = (await session.get(Activity, slot.activity_id)).provider_id
    sheet = await day_sheet.day_sheet(db, provider_id, clock.local_date(slot.starts_at))
    names = [b.name for s in sheet.slots for b in s.bookings]
    assert "Lotte Jansen" in names


# --- the sandbox --------------------------------------------------------------------------------


async def test_a_test_key_books_the_sandbox_not_the_real_places(client, db):
    _, test_key = await add_reseller(db, "Integrator", test_mode=True)
    real = await priced_slot(db, capacity=2)
    products = checked(
        await client.get("/octo/products", headers=auth(test_key)), "/products/", "get"
    )
    assert str(real.activity_id) not in {p["id"] for p in products} or len(products) > 1
    product = products[0]
    day = (clock.today() + timedelta(days=1)).isoformat()
    last = (clock.today() + timedelta(days=30)).isoformat()
    calendar = checked(
        await client.post(
            "/octo/availability/calendar",
            json={
                "productId": product["id"],
                "optionId": "DEFAULT",
                "localDateStart": day,
                "localDateEnd": last,
            },
            headers=auth(test_key),
        ),
        "/availability/calendar",
        "post",
    )
    open_day = next(d for d in calendar if d["status"] != "CLOSED")
    slots = checked(
        await client.post(
            "/octo/availability",
            json={
                "productId": product["id"],
                "optionId": "DEFAULT",
                "localDate": open_day["localDate"],
            },
            headers=auth(test_key),
        ),
        "/availability/",
        "post",
    )
    target = next(s for s in slots if s["status"] != "CLOSED")
    for _ in range(15):  # a conformance tool reserves a dozen people over and over
        body = {
            "uuid": str(uuid.uuid4()),
            "productId": product["id"],
            "optionId": "DEFAULT",
            "availabilityId": target["id"],
            "unitItems": [{"unitId": "adult"}] * 12,
        }
        response = await client.post("/octo/bookings", json=body, headers=auth(test_key))
        assert checked(response, "/bookings/", "post")["testMode"] is True
    real_slot = await fetch_slot(db, real.id)
    assert (real_slot.booked, real_slot.held) == (0, 0)
    async with db.reading() as session:
        assert (
            await session.scalar(select(Booking.id).where(Booking.channel == Channel.RESELLER))
            is None
        )


async def test_email_receipt_sends_the_guest_our_confirmation_once(client, db, key):
    slot = await priced_slot(db, capacity=6)
    quiet = (await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))).json()
    await client.post(
        f"/octo/bookings/{quiet['uuid']}/confirm",
        json={"contact": {"fullName": "Ohne Mail", "emailAddress": "ohne@example.de"}},
        headers=auth(key),
    )
    held = (await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))).json()
    asked = {
        "emailReceipt": True,
        "contact": {
            "fullName": "Hanna Vogel",
            "emailAddress": "hanna@example.de",
            "locales": ["de-DE"],
        },
    }
    for _ in range(2):  # a retry of the confirmation
        answer = await client.post(
            f"/octo/bookings/{held['uuid']}/confirm", json=asked, headers=auth(key)
        )
        assert answer.status_code == 200
    async with db.reading() as session:
        messages = (await session.scalars(select(OutboxMessage))).all()
    assert [m.to_address for m in messages] == ["hanna@example.de"]
    sent = as_sent(messages[0])
    assert held["supplierReference"] in sent.text and "Buchung" in sent.subject


async def test_the_office_reads_who_sold_it_and_the_hold(client, db, key):
    slot = await priced_slot(db, capacity=6)
    held = (
        await client.post(
            "/octo/bookings", json=reservation(slot, resellerReference="LM-9"), headers=auth(key)
        )
    ).json()
    async with db.reading() as session:
        provider_id = (await session.get(Activity, slot.activity_id)).provider_id
        provider = await session.get(Provider, provider_id)
    secret = await issue_link(db, provider.name)
    day = clock.local_date(slot.starts_at).isoformat()
    sheet = (await client.get(f"/farm/{secret}/{day}")).text
    assert "vendu par Lozère Marketplace" in sheet
    assert "option du revendeur jusqu" in sheet
    await client.post(
        f"/octo/bookings/{held['uuid']}/confirm",
        json={"contact": {"fullName": "Lotte Jansen"}},
        headers=auth(key),
    )
    sheet = (await client.get(f"/farm/{secret}/{day}")).text
    assert "Lotte Jansen" in sheet and "option du revendeur" not in sheet
    async with staff_client(db, site_settings(db)) as (office, _account):
        async with db.reading() as session:
            booking_id = await session.scalar(select(Booking.id).where(Booking.slot_id == slot.id))
        page = (await office.get(f"/staff/bookings/{booking_id}")).text
    assert "Lozère Marketplace" in page and "LM-9" in page


async def test_a_hold_never_outlasts_the_cutoff(client, db, key):
    soon = clock.now().replace(microsecond=0) + timedelta(minutes=150)  # cut-off in 30 minutes
    slot = await make_slot(db, starts_at=soon, capacity=5)
    body = reservation(slot, expirationMinutes=600)
    held = (await client.post("/octo/bookings", json=body, headers=auth(key))).json()
    assert held["utcExpiresAt"] == clock.utc_stamp(slot.booking_cutoff_at)
    extended = await client.post(
        f"/octo/bookings/{held['uuid']}/extend", json={"expirationMinutes": 900}, headers=auth(key)
    )
    assert extended.json()["utcExpiresAt"] == clock.utc_stamp(slot.booking_cutoff_at)
    zero = await client.post(
        f"/octo/bookings/{held['uuid']}/extend", json={"expirationMinutes": 0}, headers=auth(key)
    )
    error_of(zero, "/bookings/{uuid}/extend", "post", "BAD_REQUEST")


async def test_a_visitor_still_cannot_cancel_an_unpaid_hold_after_the_cutoff(db):
    """Only a reseller's hold may be let go after the cut-off: a visitor's rule is unchanged."""
    slot = await make_slot(db, capacity=5)
    request = BookingRequest(slot.id, 1, 0, "Anne", "anne@example.fr")
    receipt = await booking_rules.book(
        db, request, BookingPolicy(secret_key="test"), actor="test", hold_minutes=5 * 24 * 60
    )
    after_cutoff = slot.booking_cutoff_at + timedelta(minutes=1)
    with pytest.raises(CancellationClosed):
        await booking_rules.cancel_by_visitor(db, receipt.manage_token, now=after_cutoff)


async def test_a_patch_with_a_bad_part_changes_nothing(client, db, key):
    slot = await priced_slot(db, capacity=6)
    held = (await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))).json()
    url = f"/octo/bookings/{held['uuid']}"
    bad = await client.patch(
        url,
        json={
            "notes": "changed",
            "unitItems": [{"unitId": "adult"}] * 3,
            "availabilityId": "2031-01-01T10:00:00+01:00",
        },
        headers=auth(key),
    )
    error_of(bad, "/bookings/{uuid}", "patch", "INVALID_AVAILABILITY_ID")
    read = (await client.get(url, headers=auth(key))).json()
    assert len(read["unitItems"]) == 1 and read["notes"] is None
    assert (await fetch_slot(db, slot.id)).held == 1
    await client.post(f"{url}/cancel", json={}, headers=auth(key))
    late = await client.patch(url, json={"unitItems": [{"unitId": "adult"}]}, headers=auth(key))
    error_of(late, "/bookings/{uuid}", "patch", "UNPROCESSABLE_ENTITY")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/octo/availability", {"availabilityIds": ["9999-12-31T23:59:59-01:00"]}),
        ("/octo/availability", {"availabilityIds": ["0001-01-01T00:00:00+01:00"]}),
        (
            "/octo/availability/calendar",
            {"localDateStart": "9999-12-30", "localDateEnd": "9999-12-31"},
        ),
        (
            "/octo/bookings",
            {"availabilityId": "9999-12-31T23:59:59-01:00", "unitItems": [{"unitId": "adult"}]},
        ),
        ("/octo/bookings", {"contact": {"firstName": "A" * 200, "lastName": "B" * 200}}),
    ],
)
async def test_edges_of_the_calendar_and_of_names_are_clear_refusals(client, db, key, path, body):
    slot = await priced_slot(db)
    base = (
        reservation(slot)
        if path == "/octo/bookings"
        else {"productId": str(slot.activity_id), "optionId": "DEFAULT"}
    )
    response = await client.post(path, json={**base, **body}, headers=auth(key))
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("BAD_REQUEST", "INVALID_AVAILABILITY_ID")


async def test_a_nul_or_a_long_reference_in_the_query_is_a_bad_request(client, key):
    for value in ("\x00", "x" * 101):
        response = await client.get(
            "/octo/bookings", params={"resellerReference": value}, headers=auth(key)
        )
        error_of(response, "/bookings/", "get", "BAD_REQUEST")


async def test_nothing_is_due_to_the_office_for_a_reseller_booking(client, db, key):
    slot = await priced_slot(db, capacity=6)
    held = (await client.post("/octo/bookings", json=reservation(slot), headers=auth(key))).json()
    await client.post(
        f"/octo/bookings/{held['uuid']}/confirm",
        json={"contact": {"fullName": "Jo"}},
        headers=auth(key),
    )
    async with db.reading() as session:
        booking_id = await session.scalar(select(Booking.id).where(Booking.slot_id == slot.id))
    money = await booking_money.money_of(db, booking_id)
    assert money.due_cents == 0 and not money.awaiting_payment
