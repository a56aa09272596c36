"""Security headers on every answer, per audience, on each database: the visitors' pages, the
embed (framable by the office's origins), the kiosk, a farm's day sheet, the back office, the
API, static files, calendar feeds (their own caching and 304s kept), error pages and HEAD.

The expected values are written here from the issue (finding 9), never read from the module
under test; the templates are checked for what such a policy would block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from reservations.settings import PROJECT_ROOT
from tests.factories import make_slot
from tests.staff_support import log_in, make_staff
from tests.test_farmers import make_farm, slot_of
from tests.test_visitors import book_directly, form_token, site_settings, upcoming
from tests.test_waitlist_web import full_slot, join_directly

OFFICE = "https://www.cevennes-tourisme.example"
#: Every directive of the pages' policy, framing aside.
PAGE_DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
}
EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def policy(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The Content-Security-Policy as directive → sources (each directive once)."""
    [header] = response.headers.get_list("content-security-policy")
    directives = [d.split() for d in header.split(";") if d.strip()]
    names = [d[0] for d in directives]
    assert len(names) == len(set(names)), header
    return {d[0]: d[1:] for d in directives}


def assert_common(response) -> None:  # type: ignore[no-untyped-def]
    for name, value in EVERYWHERE.items():
        assert response.headers.get_list(name) == [value], name
    assert "strict-transport-security" not in response.headers  # the site is on http here


def assert_page(response, *, referrer: str = "same-origin") -> None:  # type: ignore[no-untyped-def]
    """A page nobody may frame."""
    assert_common(response)
    assert policy(response) == {**PAGE_DIRECTIVES, "frame-ancestors": ["'none'"]}
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.headers.get_list("referrer-policy") == [referrer]


def assert_private(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers.get_list("cache-control") == ["no-store"]


def assert_public(response) -> None:  # type: ignore[no-untyped-def]
    assert "no-store" not in response.headers.get("cache-control", "")


@pytest.fixture
async def client(db):  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


# --- the visitors ------------------------------------------------------------------------------


async def test_the_programme_and_a_visit_page_are_public_unframable_pages(client, db) -> None:
    slot = await make_slot(db, starts_at=upcoming())
    for path in ("/", f"/visits/{slot.id}", "/?lang=de"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert_page(response)
        assert_public(response)


async def test_a_visitors_private_pages_are_never_stored(client, db) -> None:
    slot = await make_slot(db, starts_at=upcoming())
    booking = await book_directly(db, slot.id)
    full, _ = await full_slot(db)
    entry = await join_directly(db, full.id)
    token = booking.manage_token
    for path in (f"/manage/{token}", f"/manage/{token}/confirmation", f"/waitlist/{entry.token}"):
        response = await client.get(path)
        assert response.status_code == 200, path
        # These pages keep their stricter referrer policy: the secret is in the address.
        assert_page(response, referrer="no-referrer")
        assert_private(response)
    ics = await client.get(f"/manage/{token}/calendar.ics")
    assert ics.status_code == 200
    assert_common(ics)
    assert_private(ics)


async def test_the_answer_to_a_booking_form_is_never_stored(client, db) -> None:
    """It repeats what was typed (name, email), or redirects to the secret manage link."""
    slot = await make_slot(db, starts_at=upcoming())
    token = await form_token(client, f"/visits/{slot.id}")
    fields = {"name": "Jan", "email": "jan@example.nl", "_csrf_token": token}
    wrong = await client.post(f"/visits/{slot.id}", data={**fields, "adults": "0"})
    assert wrong.status_code == 422
    assert_page(wrong)
    assert_private(wrong)
    booked = await client.post(
        f"/visits/{slot.id}", data={**fields, "adults": "2"}, follow_redirects=False
    )
    assert booked.status_code == 303
    assert "/manage/" in booked.headers["location"]
    assert_private(booked)


# --- the embed and the kiosk -------------------------------------------------------------------


async def test_the_embed_may_be_framed_by_any_site_without_configured_origins(client) -> None:
    response = await client.get("/embed")

    assert response.status_code == 200
    assert_common(response)
    assert policy(response) == {**PAGE_DIRECTIVES, "frame-ancestors": ["*"]}
    assert "x-frame-options" not in response.headers
    assert_public(response)


async def test_the_embed_may_be_framed_by_the_offices_origins_only(db) -> None:
    settings = site_settings(db, cors_origins=(OFFICE, "https://lodging.example"))
    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        response = await client.get("/embed", params={"lang": "nl"})
        programme = await client.get("/")

    framing = policy(response).pop("frame-ancestors")
    assert sorted(framing) == sorted(["'self'", OFFICE, "https://lodging.example"])
    assert {k: v for k, v in policy(response).items() if k != "frame-ancestors"} == (
        PAGE_DIRECTIVES
    )
    assert "x-frame-options" not in response.headers
    assert_page(programme)  # the rest of the site is still not framable by them


async def test_the_kiosk_is_a_public_unframable_page(client) -> None:
    response = await client.get("/kiosk")

    assert response.status_code == 200
    assert_page(response)
    assert_public(response)


# --- the farmers --------------------------------------------------------------------------------


async def test_a_farms_day_sheet_is_private(client, db) -> None:
    farm = await make_farm(db)
    slot = await slot_of(db, farm, upcoming(days=1))
    for path in (farm.path, f"{farm.path}/{slot.starts_on.isoformat()}"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert_page(response, referrer="no-referrer")
        assert_private(response)
    cancel = await client.get(f"{farm.path}/slots/{slot.id}/cancel")
    assert cancel.status_code == 200
    assert_private(cancel)


async def test_feeds_keep_their_caching_and_their_304(client, db) -> None:
    farm = await make_farm(db)
    await slot_of(db, farm, upcoming(days=1))
    for path, caching in (
        (f"{farm.path}/calendar.ics", "private, max-age=300"),
        ("/calendar.ics", "public, max-age=900"),
    ):
        first = await client.get(path)
        again = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert (first.status_code, again.status_code) == (200, 304), path
        for response in (first, again):
            assert_common(response)
            assert response.headers.get_list("cache-control") == [caching]


# --- the back office -------------------------------------------------------------------------


async def test_the_back_office_is_private_before_and_after_login(db) -> None:
    account = await make_staff(db)
    slot = await make_slot(db, starts_at=upcoming())
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        login_page = await client.get("/staff/login")
        assert login_page.status_code == 200
        assert_page(login_page)
        assert_private(login_page)
        asked = await client.get("/staff/", follow_redirects=False)  # no session yet
        assert asked.status_code in (302, 303)
        assert_private(asked)

        assert (await log_in(client, account.email)).status_code == 303
        for path in ("/staff/", "/staff/reports", f"/staff/slots/{slot.id}", "/staff/programme"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert_page(response)
            assert_private(response)
        pdf = await client.get("/staff/programme.pdf")
        assert pdf.status_code == 200
        assert_common(pdf)
        assert_private(pdf)


# --- the API and its documentation -----------------------------------------------------------


async def test_the_api_gets_the_headers_and_bookings_are_never_stored(client, db) -> None:
    slot = await make_slot(db, starts_at=upcoming())
    availability = await client.get("/api/v1/availability")
    assert availability.status_code == 200
    assert_page(availability)
    assert_public(availability)

    made = await client.post(
        "/api/v1/bookings",
        json={"slot_id": slot.id, "adults": 1, "name": "Jan", "email": "jan@example.nl"},
    )
    assert made.status_code == 201, made.text
    assert_private(made)
    read = await client.get(f"/api/v1/bookings/{made.json()['manage_token']}")
    assert read.status_code == 200
    assert_page(read)
    assert_private(read)
    unknown = await client.get("/api/v1/bookings/nothing-here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert_page(unknown)
    assert_private(unknown)


async def test_the_api_documentation_loads_its_own_viewer_and_nothing_frames_it(client) -> None:
    page = await client.get("/schema")
    document = await client.get("/schema/openapi.json")

    assert (page.status_code, document.status_code) == (200, 200)
    for response in (page, document):
        assert_common(response)
        assert response.headers.get_list("x-frame-options") == ["DENY"]
        directives = policy(response)
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["script-src"] == ["'self'"]  # no inline script, no other origin
    assert "/static/vendor/redoc-2.5.4.standalone.js" in page.text  # the app's own copy
    assert "https://" not in page.text and "http://" not in page.text
    viewer = await client.get("/static/vendor/redoc-2.5.4.standalone.js")
    assert viewer.status_code == 200 and b"Redoc" in viewer.content


# --- static files, errors, HEAD, https ---------------------------------------------------------


async def test_static_files_keep_their_caching_and_a_declared_type(client) -> None:
    for name in ("site.css", "kiosk.css", "embed.css", "farm.css"):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert_page(response)
        assert response.headers["content-type"].startswith("text/css")  # nosniff needs it
        assert response.headers.get_list("cache-control") == ["max-age=3600, public"]


async def test_error_pages_get_the_headers(client, db) -> None:
    farm = await make_farm(db)
    missing = await client.get("/no-such-page")
    assert missing.status_code == 404
    assert_page(missing)
    unknown_link = await client.get("/farm/not-a-real-link")
    assert unknown_link.status_code == 404
    assert_private(unknown_link)
    missing_static = await client.get("/static/nothing.css")
    assert missing_static.status_code == 404
    assert_page(missing_static)

    slot = await slot_of(db, farm, upcoming(days=1))
    forged = await client.post(f"/visits/{slot.id}", data={"adults": "2"})  # no CSRF token
    assert forged.status_code == 403
    assert_page(forged)
    assert_private(forged)
    not_allowed = await client.delete("/")
    assert not_allowed.status_code == 405
    assert_page(not_allowed)


async def test_head_gets_the_same_headers_as_get(client, db) -> None:
    farm = await make_farm(db)
    await slot_of(db, farm, upcoming(days=1))
    names = [*EVERYWHERE, "content-security-policy", "x-frame-options", "referrer-policy"]
    for path in ("/", "/embed", "/kiosk", farm.path, "/static/site.css", "/api/v1/availability"):
        get = await client.get(path)
        head = await client.head(path)
        assert (get.status_code, head.status_code, head.content) == (200, 200, b""), path
        for name in [*names, "cache-control"]:
            assert head.headers.get_list(name) == get.headers.get_list(name), (path, name)


async def test_hsts_only_when_the_site_is_public_over_https(db) -> None:
    settings = site_settings(db, public_url="https://reservations.cevennes.example")
    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        for path in ("/", "/embed", "/api/v1/availability", "/no-such-page"):
            response = await client.get(path)
            assert response.headers.get_list("strict-transport-security") == ["max-age=31536000"], (
                path
            )


# --- what the policy would block ---------------------------------------------------------------

TEMPLATES = PROJECT_ROOT / "templates"
#: Inline code the policy refuses: <style>, style="", <script> without src, onclick="" and
#: the like, javascript: addresses.
BLOCKED = re.compile(
    r"<style\b|\sstyle\s*=|<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.I
)


def served_templates() -> list[Path]:
    """Every page template (emails are read in mail clients, not under the site's policy)."""
    return sorted(p for p in TEMPLATES.rglob("*.html") if "emails" not in p.parts)


def test_no_page_template_has_inline_script_or_style() -> None:
    templates = served_templates()
    assert len(templates) >= 30
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
        for path in templates
        for match in BLOCKED.finditer(path.read_text())
    ]
    assert found == []


@pytest.mark.parametrize(
    "markup",
    [
        "<style>b{}</style>",
        '<p style="color:red">',
        "<script>alert(1)</script>",
        '<button onclick="go()">',
        '<a href="javascript:void(0)">',
    ],
)
def test_the_template_check_sees_inline_code(markup: str) -> None:
    assert BLOCKED.search(markup)


def test_the_template_check_lets_a_static_script_and_data_attributes_pass() -> None:
    markup = '<script src="/static/x.js" defer></script><li data-slot="3" class="one">'
    assert not BLOCKED.search(markup)
