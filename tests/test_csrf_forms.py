"""Every form of the visitors' site that changes something is refused without its CSRF token, on
each database and in each language: booking, changing the party, cancelling, joining the waiting
list, claiming places, leaving the list, moving to the date an invitation proposes. A post without the token, with a forged one, with
another visitor's or without the cookie gets the friendly 403 page in the visitor's language and
changes nothing in the database; the same post with the page's token does what it says.

The forms come from the application itself: the visitors' routes that take a POST (or any other
unsafe method) must all be in ``FORMS`` below, and so must every form their pages show, so a new
form without a case here fails. Elsewhere, only the cookieless JSON API may go without the
check."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from reservations.app import create_app
from reservations.base.models import (
    AuditEntry,
    Booking,
    BookingStatus,
    MoveInvitation,
    OutboxMessage,
    Slot,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules import waitlist
from reservations.base.rules.booking import BookingRequest
from tests.factories import make_slot
from tests.payment_support import HOLD_MINUTES, POLICY, priced_slot
from tests.test_accessibility import Document, Element
from tests.test_visitors import LOCALES, book_directly, site_settings, text_of, upcoming
from tests.test_waitlist_web import full_slot, join_directly

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
VISITORS = "reservations.visitors."
#: The JSON API takes no cookies (its bookings are bound to tokens and idempotency keys), so it
#: needs no CSRF token: it is the one part of the site excluded from the check.
API = ("/api/", "/octo/")  # the JSON APIs: no forms, no cookies
#: The friendly 403 page's title, from each catalogue.
EXPIRED = {
    "fr": "Ce formulaire a expiré",
    "en": "This form has expired",
    "de": "Dieses Formular ist abgelaufen",
    "nl": "Dit formulier is verlopen",
}


@dataclass(frozen=True)
class Setup:
    """A form ready to send: the page that shows it, where it posts, what it sends."""

    page: str
    action: str
    fields: dict[str, str]
    slot_id: int


async def _pending_slot(db) -> Slot:  # type: ignore[no-untyped-def]
    return await make_slot(db, capacity=8, starts_at=upcoming())


async def booking_form(db) -> Setup:  # type: ignore[no-untyped-def]
    slot = await _pending_slot(db)
    fields = {"adults": "2", "children": "1", "name": "Anne Martin", "email": "anne@example.org"}
    return Setup(f"/visits/{slot.id}", f"/visits/{slot.id}", fields, slot.id)


async def party_form(db) -> Setup:  # type: ignore[no-untyped-def]
    slot = await _pending_slot(db)
    receipt = await book_directly(db, slot.id)  # 2 adults, 1 child
    path = f"/manage/{receipt.manage_token}"
    return Setup(path, path, {"action": "party", "adults": "1", "children": "0"}, slot.id)


async def cancel_form(db) -> Setup:  # type: ignore[no-untyped-def]
    slot = await _pending_slot(db)
    receipt = await book_directly(db, slot.id)
    path = f"/manage/{receipt.manage_token}"
    return Setup(path, path, {"action": "cancel", "confirm": "yes"}, slot.id)


async def pay_form(db) -> Setup:  # type: ignore[no-untyped-def]
    """A booking of a paid visit on hold for its payment: "pay now" on its manage page."""
    slot = await priced_slot(db)
    request = BookingRequest(
        slot_id=slot.id, adults=2, children=0, name="Anne Martin", email="anne@example.org"
    )
    receipt = await booking_service.book(
        db, request, POLICY, actor="test", hold_minutes=HOLD_MINUTES
    )
    path = f"/manage/{receipt.manage_token}"
    return Setup(path, path, {"action": "pay"}, slot.id)


async def join_form(db) -> Setup:  # type: ignore[no-untyped-def]
    slot, _ = await full_slot(db)
    fields = {"adults": "2", "children": "0", "name": "Jonas Weber", "email": "jonas@example.de"}
    return Setup(f"/visits/{slot.id}", f"/waitlist/join/{slot.id}", fields, slot.id)


async def claim_form(db) -> Setup:  # type: ignore[no-untyped-def]
    slot, first = await full_slot(db)
    await join_directly(db, slot.id, adults=2)
    await booking_service.cancel_by_visitor(db, first.manage_token)

    async def no_email(session: Any, offer: Any) -> None:
        return None

    [offer] = await waitlist.offer_freed_places(db, slot.id, notify=no_email)
    path = f"/waitlist/{offer.claim_token}"
    return Setup(path, path, {"action": "claim"}, slot.id)


async def withdraw_form(db) -> Setup:  # type: ignore[no-untyped-def]
    slot, _ = await full_slot(db)
    joined = await join_directly(db, slot.id)
    path = f"/waitlist/{joined.token}"
    return Setup(path, path, {"action": "withdraw"}, slot.id)


async def move_form(db) -> Setup:  # type: ignore[no-untyped-def]
    """An invitation to move a booking to another date (consolidation): its one button."""
    from tests.test_accessibility import invited_to_move

    token = await invited_to_move(db, "fr", site_settings(db))
    async with db.reading() as session:
        invitation = await session.scalar(
            select(MoveInvitation).order_by(MoveInvitation.id.desc()).limit(1)
        )
    assert invitation is not None
    path = f"/move/{token}"
    return Setup(path, path, {}, invitation.target_slot_id)


async def bookings_of(db, slot_id: int) -> list[Booking]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        found = await session.scalars(
            select(Booking).where(Booking.slot_id == slot_id).order_by(Booking.id)
        )
        return list(found)


async def entries_of(db, slot_id: int) -> list[WaitlistEntry]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        found = await session.scalars(select(WaitlistEntry).where(WaitlistEntry.slot_id == slot_id))
        return list(found)


async def booked(db, slot_id: int) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return int(await session.scalar(select(Slot.booked).where(Slot.id == slot_id)) or 0)


async def booked_for_anne(db, setup: Setup) -> None:  # type: ignore[no-untyped-def]
    [booking] = await bookings_of(db, setup.slot_id)
    assert (booking.name, booking.adults, booking.children) == ("Anne Martin", 2, 1)
    assert await booked(db, setup.slot_id) == 3


async def party_changed(db, setup: Setup) -> None:  # type: ignore[no-untyped-def]
    [booking] = await bookings_of(db, setup.slot_id)
    assert (booking.adults, booking.children) == (1, 0)
    assert await booked(db, setup.slot_id) == 1


async def cancelled(db, setup: Setup) -> None:  # type: ignore[no-untyped-def]
    [booking] = await bookings_of(db, setup.slot_id)
    assert booking.status == BookingStatus.CANCELLED
    assert await booked(db, setup.slot_id) == 0


async def on_the_list(db, setup: Setup) -> None:  # type: ignore[no-untyped-def]
    [entry] = await entries_of(db, setup.slot_id)
    assert (entry.name, entry.adults, entry.status) == ("Jonas Weber", 2, WaitlistStatus.WAITING)


async def claimed(db, setup: Setup) -> None:  # type: ignore[no-untyped-def]
    [entry] = await entries_of(db, setup.slot_id)
    assert entry.status == WaitlistStatus.CLAIMED and entry.booking_id is not None
    assert await booked(db, setup.slot_id) == 2  # the waiting party of 2 in the freed places


async def sent_on(db, setup: Setup) -> None:  # type: ignore[no-untyped-def]
    """ "Pay now" only sends the visitor on (to the checkout, or back: nothing open to pay here,
    without Stripe): the hold is as it was."""
    [booking] = await bookings_of(db, setup.slot_id)
    assert booking.status == BookingStatus.PENDING_PAYMENT


async def moved_here(db, setup: Setup) -> None:  # type: ignore[no-untyped-def]
    """The invited party of 3 joined the 3 already on the target."""
    assert len(await bookings_of(db, setup.slot_id)) == 2
    assert await booked(db, setup.slot_id) == 6


async def withdrawn(db, setup: Setup) -> None:  # type: ignore[no-untyped-def]
    [entry] = await entries_of(db, setup.slot_id)
    assert entry.status == WaitlistStatus.WITHDRAWN


@dataclass(frozen=True)
class FormCase:
    """One form: its route (as the application names it), the ``action`` it sends (forms that
    share a route), how to bring it about, and what a genuine post does."""

    route: str
    action: str | None
    prepare: Callable[[Any], Awaitable[Setup]]
    took_effect: Callable[[Any, Setup], Awaitable[None]]
    #: False for a form that only sends the visitor on (it writes nothing).
    writes: bool = True

    @property
    def key(self) -> tuple[str, str | None]:
        return self.route, self.action


FORMS = {
    "book": FormCase("/visits/{slot_id:int}", None, booking_form, booked_for_anne),
    "change party": FormCase("/manage/{token:str}", "party", party_form, party_changed),
    "cancel": FormCase("/manage/{token:str}", "cancel", cancel_form, cancelled),
    "pay now": FormCase("/manage/{token:str}", "pay", pay_form, sent_on, writes=False),
    "join waiting list": FormCase("/waitlist/join/{slot_id:int}", None, join_form, on_the_list),
    "claim": FormCase("/waitlist/{token:str}", "claim", claim_form, claimed),
    "leave waiting list": FormCase("/waitlist/{token:str}", "withdraw", withdraw_form, withdrawn),
    "move to another date": FormCase("/move/{token:str}", None, move_form, moved_here),
}


def route_pattern(route: str) -> re.Pattern[str]:
    """``/visits/{slot_id:int}`` as a regular expression of the paths it serves."""
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/?]+", route) + "$")


def route_of(path: str, routes: list[str]) -> str:
    [route] = [r for r in routes if route_pattern(r).match(path.split("?")[0])]
    return route


def unsafe_routes(app: Any) -> dict[tuple[str, str], str]:
    """Each route taking an unsafe method, with the module of its handler."""
    return {
        (method, route.path): handler.fn.__module__
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in handler.http_methods - SAFE_METHODS
    }


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


async def snapshot(db) -> dict[str, list[tuple[Any, ...]]]:  # type: ignore[no-untyped-def]
    """Every row a form could change: slots, bookings, the waiting list, mail, the audit log."""
    tables = {}
    async with db.reading() as session:
        for model in (Slot, Booking, WaitlistEntry, OutboxMessage, AuditEntry):
            rows = await session.execute(select(model.__table__).order_by(model.__table__.c.id))
            tables[model.__tablename__] = [tuple(row) for row in rows]
    return tables


def post_forms(markup: str) -> list[Element]:
    return [
        form
        for form in Document(markup).all("form")
        if (form.get("method") or "get").lower() == "post"
    ]


def field(form: Element, name: str) -> str | None:
    for element in form.walk():
        if element.tag == "input" and element.get("name") == name:
            return element.get("value")
    return None


def form_for(markup: str, setup: Setup, action: str | None) -> Element:
    [form] = [
        f
        for f in post_forms(markup)
        if f.get("action") == setup.action and field(f, "action") == action
    ]
    return form


# --- every unsafe route, every form ------------------------------------------------------------


async def test_every_visitors_route_that_changes_something_is_a_case_here(db) -> None:
    app = create_app(site_settings(db), database=db)
    routes = unsafe_routes(app)
    assert any(path.startswith(API) for _, path in routes), "the API's routes are found"
    # Only the cookieless API and Stripe's signed webhook are excluded from the check.
    assert app.csrf_config is not None
    excluded = [re.compile(pattern) for pattern in app.csrf_config.exclude or []]
    for method, path in routes:
        if any(pattern.search(path) for pattern in excluded):
            assert path.startswith(API) or path == "/payments/stripe/webhook", (
                f"{method} {path} is excluded from the CSRF check"
            )
    visitors = {route for route, module in routes.items() if module.startswith(VISITORS)}
    assert visitors == {("POST", case.route) for case in FORMS.values()}


async def test_every_form_of_the_pages_is_a_case_here(client, db) -> None:
    """The page of each form shows no other form than those here, each with its token."""
    routes = sorted({case.route for case in FORMS.values()})
    seen = set()
    for case in FORMS.values():
        setup = await case.prepare(db)
        page = await client.get(setup.page)
        assert page.status_code == 200
        for form in post_forms(page.text):
            seen.add((route_of(form.get("action") or "", routes), field(form, "action")))
            assert field(form, "_csrf_token"), form.get("action")
    assert seen == {case.key for case in FORMS.values()}


# --- refused without the token, carried out with it -------------------------------------------


@pytest.mark.parametrize("lang", LOCALES)
@pytest.mark.parametrize("name", FORMS)
async def test_a_form_needs_its_own_token(client, db, name: str, lang: str) -> None:
    case = FORMS[name]
    setup = await case.prepare(db)
    # Another visitor's genuine token (what a forger can get for themselves).
    other = form_for((await client.get(setup.page)).text, setup, case.action)
    others_token = field(other, "_csrf_token")
    client.cookies.clear()

    page = await client.get(f"{setup.page}?lang={lang}")
    assert page.status_code == 200
    token = field(form_for(page.text, setup, case.action), "_csrf_token")
    assert token and others_token and token != others_token
    before = await snapshot(db)

    fields = dict(setup.fields)
    refused = {
        "no token": await client.post(setup.action, data=fields),
        "forged token": await client.post(setup.action, data={**fields, "_csrf_token": "0" * 128}),
        "another visitor's token": await client.post(
            setup.action, data={**fields, "_csrf_token": others_token}
        ),
    }
    jar = httpx.Cookies(client.cookies)
    client.cookies.delete("csrftoken")
    refused["no cookie"] = await client.post(setup.action, data={**fields, "_csrf_token": token})
    client.cookies = jar

    for why, answer in refused.items():
        assert answer.status_code == 403, (why, answer.text[:500])
        assert answer.headers["content-type"].startswith("text/html"), why
        document = Document(answer.text)
        assert document.all("html")[0].get("lang") == lang, why
        [title] = document.all("h1")
        assert title.text == EXPIRED[lang], why
        assert any(a.get("href") == "/" for a in document.all("a")), why  # a way back
        assert "Traceback" not in answer.text and "CSRF" not in text_of(answer), why
    assert await snapshot(db) == before, "a refused post changed something"

    accepted = await client.post(
        setup.action, data={**fields, "_csrf_token": token}, follow_redirects=False
    )
    assert accepted.status_code == 303, text_of(accepted)[:2000]
    await case.took_effect(db, setup)
    assert (await snapshot(db) != before) == case.writes
