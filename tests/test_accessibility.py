"""WCAG 2.1 AA basics, checked on what visitors really get, in each language and on each database:
every page of the site in its states (forms refused with their errors, a full visit with its
waiting list, the manage and waiting-list links, an invitation to move, /embed, /kiosk, error pages) and the HTML of
every email, parsed with the standard library's ``html.parser``; and the contrast of the text
colours of ``site.css`` (and of the kiosk's and embed's own styles) against the backgrounds they
are laid on, computed with WCAG's formula.

What is checked on each document: ``<html lang>`` is the visitor's language, a title, one ``h1``
and no skipped heading level, a label for every form control, errors tied to their fields
(``aria-invalid`` with ``aria-describedby``) and an error summary announced and focused, ids
unique and every id reference resolving, images and QR codes named, links and buttons with
meaningful text, tables with header cells, a skip link where there is navigation, and no block
inside a paragraph (a browser would break the paragraph and what it holds apart).
Touch-target sizes are measured in real Chromium (``tests/test_browser.py``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from html.parser import HTMLParser
from itertools import pairwise

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import (
    CancelReason,
    OutboxMessage,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    Slot,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules import consolidation, slots
from reservations.notices import cancellation_emails, followups, refund_emails
from reservations.notices.move_invitation_emails import invitation_notifier
from reservations.settings import PROJECT_ROOT
from tests.factories import make_activity, make_slot
from tests.outbox_support import as_sent
from tests.payment_support import (
    RETURN_COOKIE,
    booking_named,
    lapsed_hold,
    pay,
    priced_slot,
    return_path,
    session_of,
    stripe_settings,
)
from tests.test_visitors import LOCALES, book_directly, form_token, site_settings, upcoming
from tests.test_waitlist_web import full_slot, join_directly

TEMPLATES = PROJECT_ROOT / "templates"
SOURCE = PROJECT_ROOT / "src" / "reservations"
SITE_CSS = SOURCE / "static" / "site.css"

# --- a small document model over html.parser --------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
#: Elements a paragraph cannot hold: the browser would close the paragraph before them.
BLOCKS = {
    "address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol",
    "p", "section", "table", "ul",
}  # fmt: skip
HEADINGS = {f"h{level}": level for level in range(1, 7)}
#: Link texts that say nothing out of context, in the four languages.
VAGUE_LINKS = {
    "here", "click here", "more", "read more", "link", "this link",
    "ici", "cliquez ici", "plus", "lire la suite", "lien",
    "hier", "klicken sie hier", "mehr", "weiterlesen",
    "klik hier", "meer", "lees meer",
}  # fmt: skip
CONTROLS = {"input", "select", "textarea"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    children: list[Element] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # own text and descendants', in order

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def walk(self) -> Iterator[Element]:
        for child in self.children:
            yield child
            yield from child.walk()


class Document(HTMLParser):
    """Elements in document order, each with its parent and its text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.elements: list[Element] = []
        self.nesting: list[str] = []  # what a browser would not build as written
        self._open = [self.root]
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self._open[-1]
        if tag in BLOCKS and any(node.tag == "p" for node in [parent, *parent.ancestors()]):
            self.nesting.append(f"<{tag}> inside a <p>")
        element = Element(tag, {k: v or "" for k, v in attrs}, parent)
        parent.children.append(element)
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        for node in self._open:
            node.texts.append(data)

    def all(self, *tags: str) -> list[Element]:
        return [e for e in self.elements if e.tag in tags]

    def by_id(self) -> dict[str, Element]:
        return {e.attrs["id"]: e for e in self.elements if e.get("id")}


# --- the checks --------------------------------------------------------------------------------


def accessible_name(element: Element, document: Document) -> str:
    """What a screen reader announces for a link, a button or an image (simplified)."""
    if element.get("aria-label"):
        return element.attrs["aria-label"].strip()
    if element.get("aria-labelledby"):
        ids = document.by_id()
        return " ".join(ids[i].text for i in element.attrs["aria-labelledby"].split() if i in ids)
    images = " ".join(img.get("alt") or "" for img in element.walk() if img.tag == "img")
    return " ".join(f"{element.text} {images}".split())


def labelled(control: Element, document: Document) -> bool:
    if control.get("aria-label", "").strip() or control.get("aria-labelledby"):
        return True
    if any(node.tag == "label" for node in control.ancestors()):
        return True
    for_ids = {label.get("for") for label in document.all("label") if label.text}
    return bool(control.get("id")) and control.get("id") in for_ids


def heading_problems(document: Document) -> list[str]:
    levels = [HEADINGS[e.tag] for e in document.elements if e.tag in HEADINGS]
    found = []
    if levels.count(1) != 1:
        found.append(f"{levels.count(1)} h1 instead of one")
    if levels and levels[0] != 1:
        found.append(f"the first heading is an h{levels[0]}, not the h1")
    for before, after in pairwise(levels):
        if after > before + 1:
            found.append(f"heading level skipped: h{before} then h{after}")
    for heading in document.all(*HEADINGS):
        if not heading.text:
            found.append(f"an empty <{heading.tag}>")
    return found


def reference_problems(document: Document) -> list[str]:
    found = []
    ids = [e.attrs["id"] for e in document.elements if e.get("id")]
    found += [f"id {i!r} used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    known = set(ids)
    for element in document.elements:
        for attribute in ("aria-describedby", "aria-labelledby"):
            for target in (element.get(attribute) or "").split():
                if target not in known:
                    found.append(f"{attribute}={target!r} of <{element.tag}> points at no id")
        if element.tag == "label" and element.get("for") and element.attrs["for"] not in known:
            found.append(f"<label for={element.attrs['for']!r}> labels nothing")
        href = element.get("href") or ""
        if element.tag == "a" and href.startswith("#") and href[1:] not in known:
            found.append(f"link to {href} goes nowhere")
    return found


def control_problems(document: Document) -> list[str]:
    found = []
    ids = document.by_id()
    invalid = []
    for control in document.all(*CONTROLS):
        if control.tag == "input" and control.get("type", "text") in UNLABELLED_INPUTS:
            continue
        name = control.get("id") or control.get("name")
        if not labelled(control, document):
            found.append(f"<{control.tag} {name}> has no label")
        if control.get("aria-invalid") == "true":
            invalid.append(control)
            described = [
                ids[i].text for i in control.get("aria-describedby", "").split() if i in ids
            ]
            if not any(described):
                found.append(f"<{control.tag} {name}> is invalid but says not why")
    for fieldset in document.all("fieldset"):
        if not any(child.tag == "legend" and child.text for child in fieldset.children):
            found.append("a <fieldset> without a legend")
    alerts = [e for e in document.elements if e.get("role") == "alert"]
    if invalid and not alerts:
        found.append("fields are invalid but no error summary is announced (role=alert)")
    for alert in alerts:
        if "autofocus" not in alert.attrs or alert.get("tabindex") != "-1":
            found.append("an error summary that does not take the focus")
    for form in document.all("form"):
        if form.get("method", "get").lower() == "post":
            tokens = [e for e in form.walk() if e.tag == "input" and e.get("name") == "_csrf_token"]
            if not tokens or not tokens[0].get("value"):
                found.append(f"a form posting to {form.get('action')} without a CSRF token")
    return found


def content_problems(document: Document) -> list[str]:
    found = []
    for image in document.all("img"):
        if "alt" not in image.attrs:
            found.append(f"<img src={image.get('src')!r}> without alt")
    for svg in document.all("svg"):
        if svg.get("aria-hidden") == "true":
            continue
        titled = any(child.tag == "title" and child.text for child in svg.children)
        if svg.get("role") != "img" or not (titled or svg.get("aria-label")):
            found.append("an <svg> image without role=img and a name")
    for link in document.all("a"):
        name = accessible_name(link, document)
        if not link.get("href"):
            found.append(f"a link without href: {name!r}")
        if not name:
            found.append(f"a link without text to {link.get('href')}")
        elif name.lower().strip(" .:!…»›") in VAGUE_LINKS:
            found.append(f"a link saying only {name!r}")
    for button in document.all("button"):
        if not accessible_name(button, document):
            found.append("a button without text")
    for table in document.all("table"):
        headers = [e for e in table.walk() if e.tag == "th"]
        if table.get("role") in ("presentation", "none"):
            if headers:
                found.append("a layout table (role=presentation) with header cells")
        elif not headers:
            found.append("a table without header cells")
        found += ["<th> without scope" for th in headers if not th.get("scope")]
    return found


def problems(markup: str, lang: str) -> list[str]:
    """Everything that falls short in one page or email."""
    document = Document(markup)
    found = list(document.nesting)
    [html] = document.all("html") or [Element("html", {}, None)]
    if html.get("lang") != lang:
        found.append(f"<html lang={html.get('lang')!r}>, not {lang!r}")
    titles = [t for t in document.all("title") if not any(a.tag == "svg" for a in t.ancestors())]
    if len(titles) != 1 or not titles[0].text:
        found.append("no title")
    if document.all("nav"):  # repeated blocks before the content: a way past them
        links = document.all("a")
        main = document.by_id().get("main")
        if not links or links[0].get("href") != "#main" or main is None or main.tag != "main":
            found.append("navigation without a skip link to <main id=main> first")
    return (
        found
        + heading_problems(document)
        + reference_problems(document)
        + control_problems(document)
        + content_problems(document)
    )


# --- the self-checks: each check catches what it is for ----------------------------------------

PAGE = """<!doctype html><html lang="{lang}"><head><title>T</title></head><body>
<a href="#main">Skip</a><nav><a href="/">Home</a></nav><main id="main">{body}</main></body></html>"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<h1>A</h1>", []),
        ("<h2>A</h2>", ["0 h1 instead of one", "the first heading is an h2, not the h1"]),
        ("<h1>A</h1><h1>B</h1>", ["2 h1 instead of one"]),
        ("<h1>A</h1><h3>B</h3>", ["heading level skipped: h1 then h3"]),
        ("<h1>A</h1><input id=x name=x>", ["<input x> has no label"]),
        ("<h1>A</h1><label for=x>X</label><input id=x name=x>", []),
        ("<h1>A</h1><label>X <select name=s></select></label>", []),
        (
            '<h1>A</h1><label for=x>X</label><input id=x aria-invalid="true">',
            [
                "<input x> is invalid but says not why",
                "fields are invalid but no error summary is announced (role=alert)",
            ],
        ),
        ('<h1>A</h1><p>x<div>y</div></p>', ["<div> inside a <p>"]),
        ('<h1>A</h1><img src="a.png">', ["<img src='a.png'> without alt"]),
        ("<h1>A</h1><svg><path/></svg>", ["an <svg> image without role=img and a name"]),
        ('<h1>A</h1><a href="/x">click here</a>', ["a link saying only 'click here'"]),
        ('<h1>A</h1><a href="#nowhere">x</a>', ["link to #nowhere goes nowhere"]),
        ("<h1>A</h1><table><tr><td>1</td></tr></table>", ["a table without header cells"]),
        ('<h1>A</h1><form method="post"><button>Go</button></form>',
         ["a form posting to None without a CSRF token"]),
        ('<h1>A</h1><div role="alert">Wrong</div>', ["an error summary that does not take the focus"]),
    ],
)  # fmt: skip
def test_the_checks_find_what_they_look_for(body: str, expected: list[str]) -> None:
    assert problems(PAGE.format(lang="de", body=body), "de") == expected
    assert "<html lang='de'>, not 'fr'" in problems(PAGE.format(lang="de", body=body), "fr")


def test_a_navigation_needs_a_skip_link() -> None:
    markup = '<html lang="en"><title>T</title><nav><a href="/">Home</a></nav><main><h1>A</h1>'
    assert problems(markup, "en") == ["navigation without a skip link to <main id=main> first"]


# --- every page, in each language --------------------------------------------------------------

#: Every page template, and the pages below that show it (a new page must be added here).
TEMPLATE_PAGES = {
    "base.html": "programme",
    "programme.html": "programme",
    "slot.html": "visit",
    "waitlist_form.html": "visit, full",
    "confirmation.html": "confirmation",
    "manage.html": "manage",
    "payment_return.html": "payment return, confirmed",
    "waitlist.html": "waiting list",
    "move_invitation.html": "move invitation",
    "embed.html": "embed",
    "kiosk.html": "kiosk",
    "error.html": "not found",
}
#: Each email, by the start of its outbox key.
EMAIL_KEYS = {
    "booking-confirmed:": "booking_confirmed.html",
    "waitlist-joined:": "waitlist_joined.html",
    "waitlist-offer:": "waitlist_offer.html",
    "slot-cancelled:": "slot_cancelled.html",
    "late-payment-refunded:": "late_payment_refunded.html",
    "booking-cancelled-by-visitor:": "slot_cancelled.html",
    "move-invitation:": "move_invitation.html",
    "booking-moved:": "booking_moved.html",
}


#: The notices that are not the visitors' site's own (a payment link is sent by staff, and
#: checked in ``test_staff_payments``; the morning email goes to farms). A move is: a visitor
#: accepting an invitation to move is told of it as after a move by the office.
VISITORS_NOT_TOLD = {"morning.py", "payment_emails.py"}


def visitor_emails() -> set[str]:
    """The HTML emails the visitors' site sends: those its code names (the visitors' pages and
    the notices they send; a payment link is sent by staff, the morning email goes to
    farms)."""
    modules = [*(SOURCE / "visitors").glob("*.py"), *(SOURCE / "notices").glob("*.py")]
    source = "\n".join(p.read_text() for p in modules if p.name not in VISITORS_NOT_TOLD)
    return {
        template.name
        for template in (TEMPLATES / "emails").glob("*.html")
        if re.search(rf"[\"/]{template.stem}[\".]", source)
    }


@pytest.fixture
async def client(db, fake_stripe) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    """The site with online payments (the fake Stripe), so that its paid pages are seen too."""
    app = create_app(stripe_settings(db, fake_stripe), database=db)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def post_form(client, page: str, to: str, lang: str, **fields: str):  # type: ignore[no-untyped-def]
    token = await form_token(client, f"{page}?lang={lang}")
    return await client.post(to, data={**fields, "_csrf_token": token}, follow_redirects=False)


async def visitor_pages(client, db, lang: str, fake) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    """Every page of the site in one of its states (expected status, markup), and the emails
    they send, in ``lang``."""
    settings = site_settings(db)
    bookable = await make_slot(db, capacity=8, min_participants=3, starts_at=upcoming())
    booked = await book_directly(db, bookable.id, locale=lang)  # 3 of 8
    gone = await book_directly(db, bookable.id, locale=lang)
    await booking_service.cancel_by_visitor(db, gone.manage_token)
    full, _ = await full_slot(db)
    waiting = await join_directly(db, full.id, locale=lang)
    offered_slot, first = await full_slot(db)
    await join_directly(db, offered_slot.id, locale=lang)
    await booking_service.cancel_by_visitor(db, first.manage_token)
    [offer] = await followups.offer_freed_places(db, offered_slot.id, settings)
    called_off = await make_slot(db, capacity=5, starts_at=upcoming(days=4))
    await book_directly(db, called_off.id, locale=lang)
    await slots.cancel_slot(db, called_off.id, CancelReason.WEATHER, actor="test")
    for slot_id, bookings in (await cancellation_emails.untold_cancellations(db)).items():
        await cancellation_emails.notify_slot_cancelled(db, slot_id, bookings, settings)
    late = await make_slot(db, capacity=5, starts_at=upcoming(days=1, at=time(23, 0)))
    too_late = await book_directly(db, late.id, locale=lang)
    async with db.writing() as session:
        past = clock.now() - timedelta(hours=1)
        await session.execute(update(Slot).where(Slot.id == late.id).values(booking_cutoff_at=past))
    await make_slot(db, capacity=6, starts_at=upcoming(days=1, at=time(10, 0)))  # on the kiosk
    # A payment that came too late for its places, refunded: the email that tells it.
    refused = await book_directly(db, bookable.id, locale=lang)
    async with db.writing() as session:
        paid = Payment(
            booking_id=refused.booking.id,
            method=PaymentMethod.STRIPE,
            status=PaymentStatus.PAID,
            amount_cents=1300,
            recorded_by="test",
        )
        session.add(paid)
        await session.flush()
        session.add(
            Refund(
                booking_id=refused.booking.id,
                payment_id=paid.id,
                amount_cents=1300,
                status=RefundStatus.SUCCEEDED,
                reason=RefundReason.NO_PLACES,
                idempotency_key=f"refund-{refused.booking.id}",
                requested_by="test",
            )
        )
    await refund_emails.queue_late_payment_refunded(db, refused.booking.id, settings)

    token = booked.manage_token
    pages: dict[str, tuple[int, object]] = {}

    async def get(name: str, path: str, status: int = 200) -> None:
        separator = "&" if "?" in path else "?"
        pages[name] = (status, await client.get(f"{path}{separator}lang={lang}"))

    await get("programme", "/")
    await get("programme, filtered", "/?kind=farm_visit&age=5")
    await get("visit", f"/visits/{bookable.id}")
    await get("visit, full", f"/visits/{full.id}")
    await get("visit, cancelled", f"/visits/{called_off.id}")
    await get("visit, closed", f"/visits/{late.id}")
    visit = f"/visits/{bookable.id}"
    pages["visit, form refused"] = (
        422,
        await post_form(client, visit, visit, lang, adults="deux", name="", email=""),
    )
    party = {"adults": "6", "children": "0", "name": "Anne Martin", "email": "anne@example.org"}
    pages["visit, party does not fit"] = (422, await post_form(client, visit, visit, lang, **party))
    join = f"/waitlist/join/{full.id}"
    pages["visit, waiting list refused"] = (
        422,
        await post_form(client, f"/visits/{full.id}", join, lang, adults="1", name="A", email=""),
    )
    await get("confirmation", f"/manage/{token}/confirmation")
    await get("manage", f"/manage/{token}")
    await get("manage, changed", f"/manage/{token}?done=changed")
    pages["manage, refused"] = (
        422,
        await post_form(client, f"/manage/{token}", f"/manage/{token}", lang, action="cancel"),
    )
    await get("manage, cancelled", f"/manage/{gone.manage_token}?done=cancelled")
    await get("manage, too late", f"/manage/{too_late.manage_token}")
    await get("waiting list", f"/waitlist/{waiting.token}?done=joined")
    await get("waiting list, offered", f"/waitlist/{offer.claim_token}")
    move_token = await invited_to_move(db, lang, settings)
    await get("move invitation", f"/move/{move_token}")
    moved = f"/move/{move_token}"
    pages["move invitation, accepted"] = (303, await post_form(client, moved, moved, lang))
    await get("move invitation, moved", moved)
    await get("embed", "/embed")
    await get("kiosk", "/kiosk")
    await get("not found", "/no/such/page", 404)
    await get("unknown booking", "/manage/not-a-token", 404)
    # A paid visit, paid online: the hold and its manage page, the return from the checkout in
    # each of its states, and Stripe unreachable.
    paid = await priced_slot(db)
    paid_visit = f"/visits/{paid.id}"
    await get("visit, paid", paid_visit)
    payer = {**party, "adults": "2", "name": "Paula Payer"}
    held = await post_form(client, paid_visit, paid_visit, lang, **payer)
    assert held.status_code == 303 and held.headers["location"].startswith(fake.base_url)
    checkout = session_of(fake, (await booking_named(db, paid.id, "Paula Payer")).reference)
    back = return_path(checkout["client_reference_id"], checkout["id"])
    payer_token = client.cookies.get(RETURN_COOKIE)
    await get("payment return, waiting", back)
    await get("manage, waiting for payment", f"/manage/{payer_token}")
    await pay(client, fake, checkout["id"])
    await get("payment return, confirmed", back)
    await get("manage, paid", f"/manage/{payer_token}")
    ended = await lapsed_hold(db, fake, paid.id, locale=lang, name="Late Larry")
    ended_checkout = session_of(fake, ended.booking.reference)
    await get("payment return, ended", return_path(ended.booking.reference, ended_checkout["id"]))
    await get("manage, hold ran out", f"/manage/{ended.manage_token}")
    small = await priced_slot(db, capacity=3)
    too_late = await lapsed_hold(db, fake, small.id, locale=lang)
    await book_directly(db, small.id, locale=lang)  # the 3 places it gave back, taken
    late_checkout = session_of(fake, too_late.booking.reference)
    await pay(client, fake, late_checkout["id"])
    late_back = return_path(too_late.booking.reference, late_checkout["id"])
    await get("payment return, refunded", late_back)
    fake.fail_next("/v1/checkout/sessions", times=1, status=503)
    pages["visit, payment unavailable"] = (
        503,
        await post_form(client, paid_visit, paid_visit, lang, **payer),
    )
    pages["form expired"] = (403, await client.post(visit, data=party))
    # Emails: a booking and a waiting-list entry made through the site, in this language.
    pages["booking, made"] = (
        303,
        await post_form(client, visit, visit, lang, **party | {"adults": "1"}),
    )
    join_fields = {"adults": "2", "children": "0", "name": "Jan", "email": "jan@example.nl"}
    pages["waiting list, joined"] = (
        303,
        await post_form(client, f"/visits/{full.id}", join, lang, **join_fields),
    )

    shown = {}
    for name, (status, response) in pages.items():
        assert response.status_code == status, (name, response.text[:2000])  # type: ignore[attr-defined]
        if status != 303:
            shown[name] = (status, response.text)  # type: ignore[attr-defined]
    async with db.reading() as session:
        for message in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
            kinds = [t for key, t in EMAIL_KEYS.items() if message.dedup_key.startswith(key)]
            assert len(kinds) == 1, f"an email this test does not know: {message.dedup_key}"
            shown.setdefault(f"email {kinds[0]}", (0, message.html_body or ""))
    return shown


async def invited_to_move(db, lang: str, settings) -> str:  # type: ignore[no-untyped-def]
    """Two dates of one activity short of their minimum 5, 3 people on each: the first's
    booking invited to the second (consolidation); the link's secret, from its (latest) email."""
    activity = await make_activity(db, capacity=8, min_participants=5)
    first, second = [
        await make_slot(
            db, activity=activity, capacity=8, min_participants=5, starts_at=upcoming(days)
        )
        for days in (2, 3)
    ]
    await book_directly(db, first.id, locale=lang)
    await book_directly(db, second.id, locale=lang)
    await consolidation.invite_to_merge(
        db, first.id, second.id, actor="test", notify=invitation_notifier(settings)
    )
    async with db.reading() as session:
        message = await session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.dedup_key.startswith("move-invitation:"))
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    found = re.search(r"/move/([A-Za-z0-9_-]+)", as_sent(message).text)  # type: ignore[arg-type]
    assert found
    return found.group(1)


@pytest.mark.parametrize("lang", LOCALES)
async def test_every_page_and_email_meets_the_basics(client, db, fake_stripe, lang: str) -> None:
    pages = await visitor_pages(client, db, lang, fake_stripe)
    found = {name: problems(markup, lang) for name, (_, markup) in pages.items()}
    assert {name: issues for name, issues in found.items() if issues} == {}
    # Every page template and every email was looked at.
    templates = {p.name for p in (TEMPLATES / "visitors").glob("*.html")}
    assert {t for t in templates if not t.startswith("_")} == set(TEMPLATE_PAGES)
    assert set(TEMPLATE_PAGES.values()) <= set(pages)
    shown = {name.removeprefix("email ") for name in pages if name.startswith("email ")}
    assert visitor_emails() == set(EMAIL_KEYS.values()) == shown


async def test_errors_are_tied_to_their_fields_and_summarised(client, db) -> None:
    """The refused booking form: each message beside its field, the field pointing at it, the
    summary linking to the fields, focused and announced."""
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    path = f"/visits/{slot.id}"
    refused = await post_form(client, path, path, "en", adults="two", name="", email="")
    assert refused.status_code == 422
    document = Document(refused.text)
    ids = document.by_id()
    for field_id, error_id in (("adults", "party-error"), ("children", "party-error"),
                               ("name", "name-error"), ("email", "email-error")):  # fmt: skip
        control = ids[field_id]
        assert control.get("aria-invalid") == "true", field_id
        assert error_id in control.attrs["aria-describedby"].split(), field_id
        assert ids[error_id].text, error_id
    [summary] = [e for e in document.elements if e.get("role") == "alert"]
    assert "autofocus" in summary.attrs and summary.get("tabindex") == "-1"
    targets = {a.attrs["href"] for a in summary.walk() if a.tag == "a"}
    assert targets == {"#adults", "#name", "#email"}
    assert ids["phone"].get("aria-invalid") is None  # the field typed right is not flagged


# --- colour contrast ---------------------------------------------------------------------------

#: Elements that hold no text: their background is not a surface text is laid on.
MEDIA = {"svg", "img", "video", "canvas"}
NOT_A_COLOUR = {"inherit", "currentcolor", "transparent", "initial", "unset", "none"}


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of a #rgb or #rrggbb colour."""
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#fff", "#fff") == pytest.approx(1.0)
    assert contrast("#767676", "#fff") == pytest.approx(4.54, abs=0.01)  # the lightest AA grey
    assert contrast("#777", "#fff") < 4.5


@dataclass(frozen=True)
class Rule:
    selector: str  # one selector of a selector list
    color: str | None
    background: str | None

    @property
    def compounds(self) -> list[str]:
        return self.selector.replace(">", " ").split()

    @property
    def subject(self) -> str:
        return re.split(r"[.#:\[]", self.compounds[-1], maxsplit=1)[0]


def css_rules(css: str) -> list[Rule]:
    """The colours of each rule (custom properties resolved), ``@media`` blocks flattened."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    css = re.sub(r"@media[^{]*\{((?:[^{}]*\{[^{}]*\})*)\s*\}", r"\1", css)
    blocks = re.findall(r"([^{}]+)\{([^{}]*)\}", css)
    properties: dict[str, str] = {}
    for selector, body in blocks:
        if selector.strip() == ":root":
            properties |= dict(re.findall(r"(--[\w-]+)\s*:\s*([^;]+)", body))

    def resolve(found: re.Match[str]) -> str:
        assert found.group(1) in properties, f"{found.group(1)} is not defined"
        return properties[found.group(1)].strip()

    def colour(value: str | None) -> str | None:
        if value is None:
            return None
        value = re.sub(r"var\((--[\w-]+)\)", resolve, value).strip()
        found = re.search(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", value)
        if found:
            return found.group(0).lower()
        assert value.lower() in NOT_A_COLOUR, f"a colour this check cannot read: {value!r}"
        return None

    rules = []
    for selectors, body in blocks:
        if selectors.strip() == ":root":
            continue
        declared = dict(re.findall(r"([\w-]+)\s*:\s*([^;]+)", body))
        fg = colour(declared.get("color"))
        bg = colour(declared.get("background-color") or declared.get("background"))
        if fg or bg:
            rules += [Rule(s.strip(), fg, bg) for s in selectors.split(",")]
    return rules


@dataclass(frozen=True)
class Pair:
    text: str
    background: str
    where: str


def colour_pairs(css: str) -> list[Pair]:
    """Each text colour with each background it is laid on. A rule with both gives its pair; a
    background alone carries the colour of its element's rule (``button`` for ``button.danger``)
    or the body's; a colour alone sits on the background of the ancestor its selector names
    (``.site-header .brand``), else on every surface of the page (the body's, and each
    background of a rule without a colour of its own, hovered links included)."""
    rules = css_rules(css)
    [body] = [r for r in rules if r.selector == "body"]
    assert body.color and body.background
    backgrounds = {r.selector: r.background for r in rules if r.background}
    colours = {r.selector: r.color for r in rules if r.color}
    surfaces = {body.background} | {
        r.background
        for r in rules
        if r.background and not r.color and not colours.get(r.subject) and r.subject not in MEDIA
    }
    pairs = []
    for rule in rules:
        if rule.color and rule.background:
            pairs.append(Pair(rule.color, rule.background, rule.selector))
        elif rule.background and rule.subject not in MEDIA:
            text = colours.get(rule.subject) or body.color
            pairs.append(Pair(text, rule.background, rule.selector))
        elif rule.color:
            ancestors = [backgrounds[c] for c in rule.compounds[:-1] if c in backgrounds]
            under = ancestors[-1:] or sorted(surfaces)
            pairs += [Pair(rule.color, bg, rule.selector) for bg in under]
    return pairs


#: The visitors' stylesheets (the CSP allows no inline style, so the kiosk's and the embed's are
#: static files too). farm.css is left out: this parser flattens its print rules onto the screen.
STYLESHEETS = {
    name: (SOURCE / "static" / name).read_text for name in ("site.css", "kiosk.css", "embed.css")
}


@pytest.mark.parametrize("sheet", STYLESHEETS)
def test_text_contrast_is_at_least_4_5_to_1(sheet: str) -> None:
    pairs = colour_pairs(STYLESHEETS[sheet]())
    assert len(pairs) >= 8  # the parser found the palette
    low = [
        f"{p.where}: {p.text} on {p.background} is {contrast(p.text, p.background):.2f}:1"
        for p in pairs
        if contrast(p.text, p.background) < 4.5
    ]
    assert low == []


def test_the_contrast_check_sees_a_faint_text_and_a_band_of_colour() -> None:
    css = """:root { --paper: #fff; --grey: #999; --band: #0b5d3b; }
    body { color: #111; background: var(--paper); }
    .faint { color: var(--grey); }
    .band { background: var(--band); color: #fff; }
    .band .title { color: #fff; }
    .box { background: #f3f5f1; }"""
    pairs = {(p.where, p.text, p.background) for p in colour_pairs(css)}
    assert pairs == {
        ("body", "#111", "#fff"),
        (".faint", "#999", "#fff"),
        (".faint", "#999", "#f3f5f1"),
        (".band", "#fff", "#0b5d3b"),
        (".band .title", "#fff", "#0b5d3b"),
        (".box", "#111", "#f3f5f1"),
    }
    assert contrast("#999", "#fff") < 4.5  # what the test above would report


def test_focus_is_visible_on_every_background() -> None:
    """A ``:focus-visible`` ring (outline and a second ring) of which at least one part stands out
    by 3:1 on each background of the site (WCAG 1.4.11)."""
    css = re.sub(r"/\*.*?\*/", "", SITE_CSS.read_text(), flags=re.DOTALL)
    properties = dict(re.findall(r"(--[\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})", css))
    [focus] = re.findall(r"(?:^|\})\s*:focus-visible\s*\{([^}]*)\}", css)
    rings = [
        properties.get(token[4:-1], token)
        for token in re.findall(r"var\(--[\w-]+\)|#[0-9a-fA-F]{3,6}", focus)
    ]
    assert len(rings) >= 1
    backgrounds = {r.background for r in css_rules(css) if r.background}
    assert len(backgrounds) >= 4
    faint = [bg for bg in backgrounds if max(contrast(ring, bg) for ring in rings) < 3]
    assert faint == []
