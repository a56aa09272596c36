"""HEAD on every address that answers GET, on each database: the same status and headers as the
GET, and no body (RFC 9110, 9.3.2). The GET routes come from the application itself, so a new
page is covered as soon as it exists (a new path parameter needs an example below).

Requests go straight to the ASGI application, so that "no body" is what the application sends,
not what a client or server drops on the way."""

from __future__ import annotations

import re
from typing import Any

from litestar.routes import HTTPRoute

from reservations.app import create_app
from reservations.base.reads import pictures as picture_reads
from reservations.base.rules import pictures
from reservations.base.rules.pictures import Owner
from tests.factories import make_slot
from tests.test_pictures import photo
from tests.test_visitors import book_directly, site_settings, upcoming
from tests.test_waitlist_web import full_slot, join_directly

#: Headers that differ between two answers by nature (a new CSRF cookie each time).
PER_ANSWER = {"set-cookie", "date"}


async def call(app: Any, method: str, path: str) -> tuple[int, dict[str, list[str]], bytes]:
    """One request through the ASGI interface: status, headers, and every body byte sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"accept-language", b"en")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert bodies and not bodies[-1].get("more_body", False), "the answer is finished"
    headers: dict[str, list[str]] = {}
    for name, value in start.get("headers", []):
        headers.setdefault(name.decode().lower(), []).append(value.decode())
    return start["status"], headers, b"".join(m.get("body", b"") for m in bodies)


def comparable(headers: dict[str, list[str]]) -> dict[str, list[str]]:
    """Headers as they must match: cookies by name only (a fresh CSRF token each time)."""
    kept = {name: values for name, values in headers.items() if name not in PER_ANSWER}
    kept["set-cookie names"] = sorted(v.split("=", 1)[0] for v in headers.get("set-cookie", []))
    return kept


async def test_every_get_route_answers_head_with_its_headers_and_no_body(db) -> None:
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    booking = await book_directly(db, slot.id)
    full, _ = await full_slot(db)
    entry = await join_directly(db, full.id)
    owner = Owner(activity_id=slot.activity_id)
    await pictures.add_picture(db, owner, photo(800, 600), {}, actor="test")
    (picture,) = await picture_reads.of_owner(db, activity_id=slot.activity_id)
    examples = {
        "slot_id": str(slot.id),
        "token": booking.manage_token,
        "manage_token": booking.manage_token,
        "file_path": "site.css",
        "path": "openapi.yaml",
        "secret": "not-a-real-link",  # a farmer's private link: its 404 page
        "day": slot.starts_on.isoformat(),
        "filename": "provider.csv",  # a table of the season report
        "activity_id": str(slot.activity_id),  # the catalogue's pages
        "provider_id": "1",  # the provider of the first slot
        "booking_id": str(booking.booking.id),  # a booking's page in the back office
        "reference": booking.booking.reference,  # back from Stripe without a session: 404
        "picture_id": str(picture.id),  # one size of a picture
        "version": picture.version,
        "file": "640.webp",
        "product_id": str(slot.activity_id),  # the resellers' API: 401 without a key
        "booking_uuid": "0b5d6a52-7d3c-4b8e-9d0e-3f1c2a4b5c6d",
    }
    app = create_app(site_settings(db), database=db)
    paths = sorted(
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute) and "GET" in route.methods
    )
    assert {"/", "/visits/{slot_id:int}", "/kiosk", "/embed", "/api/v1/availability"} <= set(paths)
    extra = [f"/waitlist/{entry.token}", "/no/such/page", f"/visits/{full.id}"]

    checked = []
    for route in paths:
        names = re.findall(r"\{(\w+)(?::\w+)?\}", route)
        missing = [name for name in names if name not in examples]
        assert not missing, f"no example value for {missing} of {route}: add one above"
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda found: examples[found.group(1)], route)
        checked.append(path)
    for path in checked + extra:
        get_status, get_headers, get_body = await call(app, "GET", path)
        head_status, head_headers, head_body = await call(app, "HEAD", path)
        assert head_status == get_status, path
        assert head_status != 405, path
        assert head_body == b"", path
        assert comparable(head_headers) == comparable(get_headers), path
        if "content-length" in get_headers:
            assert get_headers["content-length"] == [str(len(get_body))], path
    assert get_status == 200 and len(get_body) > 0  # the last one, a visit's page, has a body


async def test_head_on_an_address_that_only_takes_posts_is_still_refused(db) -> None:
    app = create_app(site_settings(db), database=db)
    status, headers, body = await call(app, "HEAD", "/waitlist/join/1")
    assert status == 405 and body == b""
    assert "POST" in headers["allow"][0] and "GET" not in headers["allow"][0]
    status, _, body = await call(app, "HEAD", "/no/such/page")
    assert status == 404 and body == b""
