"""Every HTML form of the site, each field in turn, sent what careless or hostile people send:
superscript digits, a 5,000-digit number, 2**31 (past PostgreSQL's integer), a NUL, invalid
UTF-8 and a 1 MB value. None is answered 5xx; a form shown again keeps what was typed (without
the characters refused), and a 1 MB body gets the friendly 413 page.

The forms come from the application: every route taking a POST outside the JSON API must be a
case in ``CASES`` (a new form without one fails here), and each case's fields are read from the
form its page shows, so a field added to a form is fuzzed too. The GET forms of those pages
(searches, filters) are sent the same values."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import Payment, PaymentMethod, PaymentStatus, StaffRole
from reservations.base.rules import activities, pictures, providers
from reservations.base.rules.resellers import add_reseller
from reservations.web import inputs
from tests.factories import make_activity, make_slot
from tests.staff_support import log_in, make_staff
from tests.test_accessibility import Document, Element
from tests.test_consolidation import book as book_party
from tests.test_csrf_forms import booking_form as visitor_booking_form
from tests.test_csrf_forms import cancel_form as visitor_cancel_form
from tests.test_csrf_forms import (
    claim_form,
    join_form,
    move_form,
    party_form,
    pay_form,
    route_of,
    unsafe_routes,
    withdraw_form,
)
from tests.test_farmers import at_local, make_farm, slot_of
from tests.test_farmers import book as farm_book
from tests.test_pictures import photo
from tests.test_staff_payments import counter_booking, paid_slot, stripe_settings
from tests.test_staff_slots import full_slot_with_waiting
from tests.test_visitors import site_settings, upcoming

API = ("/api/", "/octo/")  # the JSON APIs: no forms, no cookies
MEGABYTE = 1_000_000
#: What is sent, and what a form shown again must show of it. Invalid UTF-8 is sent as bytes
#: in the body (percent-encoded, as a browser would send them).
INVALID_UTF8 = "%FF%FE%C3%28"
HOSTILE: dict[str, tuple[str, str]] = {
    "superscript digits": (quote("²"), "²"),
    "5,000 digits": ("9" * 5000, "9" * 5000),
    "2**31": ("2147483648", "2147483648"),
    "a NUL": ("An%00ne", "Anne"),
    "invalid UTF-8": (f"An{INVALID_UTF8}ne", "An\ufffd\ufffd\ufffd(ne"),
    "1 MB": ("x" * MEGABYTE, "x" * MEGABYTE),
}
#: Fields whose value the page shows as typed when it comes back (others are choices).
TYPED = {"text", "email", "tel", "number", "date", "time", "search", "url", ""}
#: A field that no form has: a form must shrug it off.
UNEXPECTED = "unexpected"


@dataclass
class Setup:
    """A form ready to send: who sends it, the page that shows it, what it sends on top of the
    page's own values."""

    client: AsyncTestClient
    page: str
    overrides: dict[str, str] = field(default_factory=dict)


class Clients:
    """The one test client of a test (one application, closed at the test's end), handed out
    anonymous or logged in afresh each time a case brings its page about again."""

    def __init__(self, db: Any, client: AsyncTestClient) -> None:
        self.db, self.client = db, client
        self.account: Any = None

    async def anonymous(self) -> AsyncTestClient:
        self.client.cookies.clear()
        return self.client

    async def admin(self) -> AsyncTestClient:
        client = await self.anonymous()
        self.account = self.account or await make_staff(self.db, StaffRole.ADMIN)
        assert (await log_in(client, self.account.email)).status_code == 303
        return client


Prepare = Callable[[Clients], Awaitable[Setup]]


def _visitor(prepare: Callable[[Any], Awaitable[Any]]) -> Prepare:
    """A case of the CSRF test's visitors' forms: its page and genuine values."""

    async def made(clients: Clients) -> Setup:
        setup = await prepare(clients.db)
        return Setup(await clients.anonymous(), setup.page, dict(setup.fields))

    return made


async def _staff_booking_new(clients: Clients) -> Setup:
    slot = await make_slot(clients.db, capacity=10, starts_at=upcoming(5))
    fields = {"adults": "2", "name": "Familie Schmidt", "email": "schmidt@example.de"}
    return Setup(await clients.admin(), f"/staff/bookings/new?slot_id={slot.id}", fields)


async def _staff_paid_booking_new(clients: Clients) -> Setup:
    slot = await paid_slot(clients.db, starts_at=upcoming(5))
    fields = {"adults": "2", "name": "Familie Schmidt", "email": "s@example.de", "payment": "cash"}
    return Setup(await clients.admin(), f"/staff/bookings/new?slot_id={slot.id}", fields)


async def _staff_paid_booking(clients: Clients) -> Setup:
    """A phone booking of a paid visit, not paid yet: its page records a payment or sends a
    link."""
    slot = await paid_slot(clients.db, starts_at=upcoming(5))
    booking = await counter_booking(clients.db, slot.id)
    return Setup(await clients.admin(), f"/staff/bookings/{booking.id}")


async def _staff_booking_paid_online(clients: Clients) -> Setup:
    """A booking paid online (its payment written as Stripe's event leaves it): its page takes
    a partial refund."""
    slot = await paid_slot(clients.db, starts_at=upcoming(5))
    booking = await counter_booking(clients.db, slot.id)
    async with clients.db.writing() as session:
        session.add(
            Payment(
                booking_id=booking.id,
                method=PaymentMethod.STRIPE,
                status=PaymentStatus.PAID,
                amount_cents=1300,
                stripe_payment_intent=f"pi_fuzz_{booking.id}",
                paid_at=clock.now(),
                recorded_by="test",
            )
        )
    return Setup(await clients.admin(), f"/staff/bookings/{booking.id}")


async def _staff_booking(clients: Clients) -> Setup:
    slot, (first, _), _ = await full_slot_with_waiting(clients.db)
    return Setup(await clients.admin(), f"/staff/bookings/{first.id}")


async def _staff_slot(clients: Clients) -> Setup:
    slot, _, _ = await full_slot_with_waiting(clients.db)
    return Setup(await clients.admin(), f"/staff/slots/{slot.id}")


async def _staff_merge(clients: Clients) -> Setup:
    """Two dates of one activity short of their minimum 5, 2 and 3 people: the board proposes
    to merge them."""
    activity = await make_activity(clients.db, capacity=8, min_participants=5)
    for days, party in ((2, 2), (3, 3)):
        slot = await make_slot(
            clients.db, activity=activity, capacity=8, min_participants=5, starts_at=upcoming(days)
        )
        await book_party(clients.db, slot.id, party)
    return Setup(await clients.admin(), "/staff/")


async def _provider(clients: Clients) -> Setup:
    activity = await make_activity(clients.db)
    await providers.add_days_off(
        clients.db, activity.provider_id, clock.today() + timedelta(days=30), note="x", actor="t"
    )
    return Setup(await clients.admin(), f"/staff/catalogue/providers/{activity.provider_id}")


async def _resellers(clients: Clients) -> Setup:
    await add_reseller(clients.db, f"Marketplace {uuid.uuid4()}")  # a key to revoke
    return Setup(await clients.admin(), "/staff/resellers")


async def _new_provider(clients: Clients) -> Setup:
    return Setup(await clients.admin(), "/staff/catalogue/providers/new")


async def _new_activity(clients: Clients) -> Setup:
    activity = await make_activity(clients.db)
    path = f"/staff/catalogue/providers/{activity.provider_id}/activities/new"
    return Setup(await clients.admin(), path)


async def _activity(clients: Clients) -> Setup:
    activity = await make_activity(clients.db)
    return Setup(await clients.admin(), f"/staff/catalogue/activities/{activity.id}")


async def _activity_picture(clients: Clients) -> Setup:
    """An activity with a picture: its page describes, orders and deletes it."""
    activity = await make_activity(clients.db)
    owner = pictures.Owner(activity_id=activity.id)
    await pictures.add_picture(clients.db, owner, photo(400, 300), {"fr": "x"}, actor="t")
    return Setup(await clients.admin(), f"/staff/catalogue/activities/{activity.id}")


async def _provider_picture(clients: Clients) -> Setup:
    activity = await make_activity(clients.db)
    owner = pictures.Owner(provider_id=activity.provider_id)
    await pictures.add_picture(clients.db, owner, photo(400, 300), {}, actor="t")
    return Setup(await clients.admin(), f"/staff/catalogue/providers/{activity.provider_id}")


async def _archived_activity(clients: Clients) -> Setup:
    activity = await make_activity(clients.db)
    await activities.set_archived(clients.db, activity.id, True, actor="test")
    return Setup(await clients.admin(), f"/staff/catalogue/activities/{activity.id}")


async def _planning(clients: Clients) -> Setup:
    activity = await make_activity(clients.db)
    return Setup(await clients.admin(), f"/staff/planning?activity_id={activity.id}")


async def _planning_slots(clients: Clients) -> Setup:
    await make_slot(clients.db, starts_at=upcoming(2))
    return Setup(await clients.admin(), "/staff/planning/slots")


async def _login(clients: Clients) -> Setup:
    account = await make_staff(clients.db)
    fields = {"email": account.email, "password": "not the password"}
    return Setup(await clients.anonymous(), "/staff/login", fields)


async def _logout(clients: Clients) -> Setup:
    return Setup(await clients.admin(), "/staff/")


async def _farm_day(clients: Clients) -> Setup:
    farm = await make_farm(clients.db)
    now = clock.now()
    slot = await slot_of(clients.db, farm, now.replace(microsecond=0) - timedelta(hours=1))
    await farm_book(clients.db, slot, "Anne Martin", 2, 1)
    day = clock.local_date(slot.starts_at)
    return Setup(await clients.anonymous(), f"{farm.path}/{day.isoformat()}")


async def _farm_cancel(clients: Clients) -> Setup:
    farm = await make_farm(clients.db)
    slot = await slot_of(clients.db, farm, at_local(clock.today() + timedelta(days=4), 10))
    await farm_book(clients.db, slot, "Anne Martin", 2)
    fields = {"reason": "weather", "confirm": "yes"}
    return Setup(await clients.anonymous(), f"{farm.path}/slots/{slot.id}/cancel", fields)


@dataclass(frozen=True)
class Case:
    """One form: its route as the application names it, the ``action`` field that tells it from
    another form of the same route, and how to bring its page about."""

    route: str
    action: str | None
    prepare: Prepare


CASES = {
    "book": Case("/visits/{slot_id:int}", None, _visitor(visitor_booking_form)),
    "change party": Case("/manage/{token:str}", "party", _visitor(party_form)),
    "cancel booking": Case("/manage/{token:str}", "cancel", _visitor(visitor_cancel_form)),
    "pay now": Case("/manage/{token:str}", "pay", _visitor(pay_form)),
    "join waiting list": Case("/waitlist/join/{slot_id:int}", None, _visitor(join_form)),
    "claim": Case("/waitlist/{token:str}", "claim", _visitor(claim_form)),
    "leave waiting list": Case("/waitlist/{token:str}", "withdraw", _visitor(withdraw_form)),
    "move to another date": Case("/move/{token:str}", None, _visitor(move_form)),
    "farmer attendance": Case("/farm/{secret:str}/slots/{slot_id:int}/attendance", None, _farm_day),
    "farmer cancel": Case("/farm/{secret:str}/slots/{slot_id:int}/cancel", None, _farm_cancel),
    "staff login": Case("/staff/login", None, _login),
    "staff logout": Case("/staff/logout", None, _logout),
    "counter booking": Case("/staff/bookings/new", None, _staff_booking_new),
    "paid counter booking": Case("/staff/bookings/new", None, _staff_paid_booking_new),
    "record payment": Case("/staff/bookings/{booking_id:int}/payments", None, _staff_paid_booking),
    "payment link": Case(
        "/staff/bookings/{booking_id:int}/payment-link", None, _staff_paid_booking
    ),
    "partial refund": Case(
        "/staff/bookings/{booking_id:int}/refunds", None, _staff_booking_paid_online
    ),
    "staff cancel": Case("/staff/bookings/{booking_id:int}/cancel", None, _staff_booking),
    "staff move": Case("/staff/bookings/{booking_id:int}/move", None, _staff_booking),
    "merge two dates": Case("/staff/merge", None, _staff_merge),
    "offer": Case("/staff/slots/{slot_id:int}/waitlist/{entry_id:int}/offer", None, _staff_slot),
    "remove": Case("/staff/slots/{slot_id:int}/waitlist/{entry_id:int}/remove", None, _staff_slot),
    "new provider": Case("/staff/catalogue/providers", None, _new_provider),
    "new reseller key": Case("/staff/resellers", None, _resellers),
    "revoke reseller key": Case("/staff/resellers/{reseller_id:int}/revoke", None, _resellers),
    "edit provider": Case("/staff/catalogue/providers/{provider_id:int}", None, _provider),
    "add days off": Case("/staff/catalogue/providers/{provider_id:int}/days-off", None, _provider),
    "remove day off": Case(
        "/staff/catalogue/providers/{provider_id:int}/days-off/{day_off_id:int}/remove",
        None,
        _provider,
    ),
    "new activity": Case(
        "/staff/catalogue/providers/{provider_id:int}/activities", None, _new_activity
    ),
    "edit activity": Case("/staff/catalogue/activities/{activity_id:int}", None, _activity),
    "add picture": Case("/staff/catalogue/activities/{activity_id:int}/pictures", None, _activity),
    "describe picture": Case(
        "/staff/catalogue/activities/{activity_id:int}/pictures/{picture_id:int}/{action:str}",
        None,
        _activity_picture,
    ),
    "add portrait": Case("/staff/catalogue/providers/{provider_id:int}/pictures", None, _provider),
    "describe portrait": Case(
        "/staff/catalogue/providers/{provider_id:int}/pictures/{picture_id:int}/{action:str}",
        None,
        _provider_picture,
    ),
    "archive": Case("/staff/catalogue/activities/{activity_id:int}/archive", None, _activity),
    "restore": Case(
        "/staff/catalogue/activities/{activity_id:int}/restore", None, _archived_activity
    ),
    "plan": Case("/staff/planning", None, _planning),
    "bulk edit": Case("/staff/planning/slots", None, _planning_slots),
}


# --- reading a page's forms -------------------------------------------------------------------


def forms_of(markup: str, page: str) -> list[Element]:
    """The page's forms, each with its action made absolute (no action: the page itself)."""
    found = []
    for form in Document(markup).all("form"):
        form.attrs["action"] = form.get("action") or urlsplit(page).path
        found.append(form)
    return found


def method_of(form: Element) -> str:
    return (form.get("method") or "get").lower()


def controls(form: Element) -> dict[str, Element]:
    """The form's named controls (a radio group or ticked boxes: the first of them)."""
    found: dict[str, Element] = {}
    for element in form.walk():
        if element.tag in {"input", "select", "textarea"} and element.get("name"):
            found.setdefault(element.get("name") or "", element)
    return found


def values_of(form: Element) -> list[tuple[str, str]]:
    """What a browser sends for the form as shown (submit buttons aside)."""
    sent: list[tuple[str, str]] = []
    for element in form.walk():
        name = element.get("name")
        if not name:
            continue
        if element.tag == "textarea":
            sent.append((name, element.text))
        elif element.tag == "select":
            options = [e for e in element.walk() if e.tag == "option"]
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            sent += [(name, o.get("value", o.text) or "") for o in chosen]
        elif element.tag == "input":
            kind = element.get("type", "text")
            if kind in {"submit", "button", "image", "reset"}:
                continue
            if kind in {"checkbox", "radio"} and "checked" not in element.attrs:
                continue
            sent.append((name, element.get("value", "on" if kind == "checkbox" else "") or ""))
    return sent


def shown_value(form: Element, name: str) -> str | None:
    """What a typed field shows, or None when it is not one."""
    element = controls(form).get(name)
    if element is None:
        return None
    if element.tag == "textarea":
        return "\n".join(element.texts)
    if element.tag == "input" and element.get("type", "text") in TYPED:
        return element.get("value", "")
    return None


def encoded(pairs: list[tuple[str, str]], name: str, raw: str) -> bytes:
    """An urlencoded body: the pairs as a browser encodes them, ``name`` set to ``raw`` (already
    encoded: it may hold bytes that are not UTF-8)."""
    kept = [f"{quote(k)}={quote(v)}" for k, v in pairs if k != name]
    return "&".join([*kept, f"{quote(name)}={raw}"]).encode("ascii")


# --- the fuzzing ------------------------------------------------------------------------------


def the_form(forms: list[Element], route: str, action: str | None, routes: list[str]) -> Element:
    """The case's form on its page (the first, when a page shows one per row)."""
    form, *_ = [
        f
        for f in forms
        if method_of(f) == "post"
        and route_of(f.get("action") or "", routes) == route
        and (action is None or dict(values_of(f)).get("action") == action)
    ]
    return form


def check_answer(answer: Any, what: str, name: str, kept: str, action: str) -> None:
    """No server error; a 1 MB body may be refused whole (413, a page); a form shown again keeps
    the value typed, without what cannot be used."""
    where = f"{what} in {name!r} to {action}"
    assert answer.status_code < 500, (where, answer.status_code, answer.text[:2000])
    assert "Traceback" not in answer.text, where
    if answer.status_code == 413:
        assert what == "1 MB", where
        assert answer.headers["content-type"].startswith("text/html"), where
        return
    if answer.status_code >= 300 and answer.status_code < 400:
        return
    again = [
        f
        for f in forms_of(answer.text, action)
        if method_of(f) == "post" and f.get("action") == action
    ]
    for form in again:
        shown = shown_value(form, name)
        if shown is not None and shown != "":
            assert shown == inputs.usable_part(kept), (where, shown[:80])


def generic(name: str) -> str:
    """A field's name without the ids in it (``adults_12``: one field per booking), so that a
    case brought about again with new rows goes on where it stopped."""
    return re.sub(r"[0-9]+", "#", name)


async def fuzz_form(
    client: AsyncTestClient, form: Element, overrides: dict[str, str], done: set[tuple[str, str]]
) -> bool:
    """Each field (and one no form has) sent each hostile value not ``done`` yet; False when a
    post took effect (a redirect: the page's state is not what it was), True once all are."""
    sent = values_of(form)
    names = [n for n in dict.fromkeys(n for n, _ in sent) if n != "_csrf_token"]
    base = [(n, overrides.get(n, v)) for n, v in sent]
    base += [(n, v) for n, v in overrides.items() if n not in dict(sent)]
    action = form.get("action") or ""
    for name in [*names, UNEXPECTED]:
        for what, (raw, kept) in HOSTILE.items():
            if what == "1 MB" and method_of(form) == "get":
                continue  # a server refuses a request line that long before the application
            if (generic(name), what) in done:
                continue
            done.add((generic(name), what))
            token = client.cookies.get("csrftoken", "")
            pairs = [(n, token if n == "_csrf_token" else v) for n, v in base]
            body = encoded(pairs, name, raw)
            if method_of(form) == "post":
                answer = await client.post(
                    action,
                    content=body,
                    headers={"content-type": "application/x-www-form-urlencoded"},
                    follow_redirects=False,
                )
            else:
                answer = await client.get(f"{action}?{body.decode()}", follow_redirects=False)
            check_answer(answer, what, name, kept, action)
            if answer.status_code in (302, 303):
                return False
    return True


@pytest.fixture
async def clients(db, fake_stripe) -> AsyncIterator[Clients]:  # type: ignore[no-untyped-def]
    """The site with (the fake) Stripe configured, so that every payment form is shown."""
    settings = stripe_settings(db, fake_stripe)
    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        yield Clients(db, client)


#: Not a form: Stripe's signed events (tests/test_payments.py sends it good and bad ones).
WEBHOOK = "/payments/stripe/webhook"


def form_routes(app: Any) -> list[str]:
    return sorted(
        {
            path
            for (_, path), _ in unsafe_routes(app).items()
            if not path.startswith(API) and path != WEBHOOK
        }
    )


async def test_every_form_route_is_a_case_here(db) -> None:  # type: ignore[no-untyped-def]
    """Every unsafe route outside the JSON API is fuzzed below, and takes only POST."""
    app = create_app(site_settings(db), database=db)
    routes = unsafe_routes(app)
    assert {m for (m, p) in routes if not p.startswith(API)} == {"POST"}
    assert set(form_routes(app)) == {case.route for case in CASES.values()}


@pytest.mark.parametrize("name", CASES)
async def test_no_form_field_makes_a_server_error(clients, db, name: str) -> None:  # type: ignore[no-untyped-def]
    case = CASES[name]
    routes = form_routes(create_app(site_settings(db), database=db))
    setup = await case.prepare(clients)
    page = await setup.client.get(setup.page)
    assert page.status_code == 200, page.text[:500]
    forms = forms_of(page.text, setup.page)
    form = the_form(forms, case.route, case.action, routes)
    done: set[tuple[str, str]] = set()
    while not await fuzz_form(setup.client, form, setup.overrides, done):
        # A post took effect: a fresh page (and state) for the rest.
        setup = await case.prepare(clients)
        page = await setup.client.get(setup.page)
        form = the_form(forms_of(page.text, setup.page), case.route, case.action, routes)
    fields = {generic(n) for n, _ in values_of(form) if n != "_csrf_token"}
    assert {n for n, _ in done} == fields | {UNEXPECTED}
    # The page's GET forms (filters, searches) take the same values.
    for other in forms:
        if method_of(other) == "get" and (other.get("action") or "").startswith("/"):
            while not await fuzz_form(setup.client, other, {}, set()):
                pass


def test_hostile_values_are_what_they_say() -> None:
    assert len(HOSTILE["1 MB"][0]) == MEGABYTE
    assert not "²".isascii() and "²".isdigit()
    assert int(HOSTILE["2**31"][0]) == 2**31
    assert date.max.year == 9999 and re.fullmatch("[0-9]{5000}", HOSTILE["5,000 digits"][0])


@pytest.mark.parametrize("path", ["/visits/2147483648", "/visits/99999999999999999999"])
async def test_an_id_in_a_path_beyond_the_database_is_not_found(db, path: str) -> None:
    """``{slot_id:int}`` takes any whole number; one PostgreSQL's integer cannot hold names
    nothing (a 404 page), never a refused query (a 500)."""
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        answer = await client.get(path)
    assert answer.status_code == 404


async def test_a_staff_path_id_beyond_the_database_is_not_found(staff) -> None:
    client, _ = staff
    for path in ("/staff/bookings/2147483648", "/staff/slots/99999999999"):
        assert (await client.get(path)).status_code == 404, path
