"""Every kind of page in real Chromium, against a real server process, on each database, under
the site's Content-Security-Policy: the programme, a visit page and its booking form, the
confirmation and manage pages, the waiting list, the embed framed by a page of another origin,
the kiosk, a farm's day sheet (attendance sent), the back office (login, charts, reports,
catalogue...) and an error page. Not one CSP violation (neither a ``securitypolicyviolation``
event in any frame nor a console error), and what the pages do still works: the forms send,
and the stylesheets moved out of the templates are applied.

A page of another origin framing the programme is refused, and the watch sees it: the check
itself can fail."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reservations.base import clock
from reservations.base.infra.db import Database
from tests.factories import make_slot
from tests.live_server import HOST, LiveServer
from tests.smtp_server import SmtpServer
from tests.staff_support import PASSWORD, make_staff
from tests.test_browser import (
    GERMAN,
    PHONE,
    TIMEOUT_MS,
    book_adults,
    book_from_slot_page,
    goat_farm_visit,
    plain,
)
from tests.test_farmers import make_farm, visit_that_took_place
from tests.test_visitors import upcoming

#: Reports every CSP violation of any frame to the test (CDP scripts are outside the policy).
WATCH_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} in ${location.href}`
  );
});
"""


class Watch:
    """What went wrong in a browser context: violations, console errors and warnings, and
    uncaught script errors."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def violation(self, text: str) -> None:
        self.problems.append(f"violation: {text}")

    def console(self, message: Any) -> None:
        source = message.location.get("url", "")
        if source.endswith("/favicon.ico"):  # Chromium asks every site for one; none here
            return
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} ({source})")

    def page_error(self, error: Any) -> None:
        self.problems.append(f"script error: {error}")

    def take(self) -> list[str]:
        found, self.problems = self.problems, []
        return found


@asynccontextmanager
async def watched(browser: Any, locale: str) -> AsyncIterator[tuple[Any, Watch]]:
    """A phone-sized page whose every problem is noted."""
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale=locale
    )
    context.set_default_timeout(TIMEOUT_MS)
    watch = Watch()
    await context.expose_function("reportViolation", watch.violation)
    await context.add_init_script(WATCH_VIOLATIONS)
    try:
        page = await context.new_page()
        page.on("console", watch.console)
        page.on("pageerror", watch.page_error)
        yield page, watch
    finally:
        await context.close()


async def visit(page: Any, watch: Watch, url: str) -> None:
    """Open a page, let its subresources load, and find nothing wrong."""
    response = await page.goto(url)
    assert response is not None and response.status == 200, url
    await page.wait_for_load_state("load")
    assert watch.take() == [], url


async def style_of(frame: Any, selector: str, name: str) -> str:
    return str(
        await frame.eval_on_selector(
            selector, "(element, name) => getComputedStyle(element)[name]", name
        )
    )


@contextmanager
def partner_site(framed: str) -> Iterator[str]:
    """A partner's site (a lodging's page with the snippet) on another port of loopback, so
    another origin: its page frames ``framed``. Its address."""
    page = f'<!doctype html><title>Gîte</title><iframe src="{framed}"></iframe>'.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_the_visitors_pages_raise_no_violation_and_their_forms_work(
    browser: Any, site: LiveServer, db: Database, smtp: SmtpServer
) -> None:
    slot = await goat_farm_visit(db)
    full = await make_slot(db, capacity=2, starts_at=upcoming())
    await book_adults(db, full.id, 2, "jean@example.fr")
    await make_slot(db, starts_at=upcoming(days=1))  # on the kiosk (today and tomorrow)

    async with watched(browser, "de-DE") as (page, watch):
        await visit(page, watch, site.url("/"))
        assert await style_of(page, "body", "margin") == "0px"  # site.css applies

        await visit(page, watch, site.url(f"/visits/{slot.id}"))
        token = await book_from_slot_page(page, GERMAN, "de", "Erika Mustermann", "e@example.de")
        assert watch.take() == [], "the confirmation page"
        await visit(page, watch, site.url(f"/manage/{token}"))
        assert "Erika Mustermann" in plain(await page.locator("main").inner_text())

        await visit(page, watch, site.url(f"/visits/{full.id}"))
        await page.locator("#wl-adults").fill("2")
        await page.locator("#wl-name").fill("Els Peeters")
        await page.locator("#wl-email").fill("els@example.be")
        await page.locator("#wl-email").press("Enter")
        await page.wait_for_url(re.compile(r"/waitlist/[^/?]+\?done=joined$"))
        assert await page.get_by_role("status").count() == 1
        assert watch.take() == [], "the waiting-list page"

        await visit(page, watch, site.url("/kiosk"))
        assert await style_of(page, "body", "backgroundColor") == "rgb(0, 0, 0)"  # kiosk.css
        assert await page.locator("svg.qr").count() >= 1

        missing = site.url("/no-such-page")
        await page.goto(missing)
        assert await page.locator("h1").count() == 1
        assert await style_of(page, "body", "margin") == "0px"
        [status] = watch.take()  # Chromium logs the page's own 404 status, and nothing else
        assert status.startswith("console error: Failed to load resource") and missing in status


async def test_the_embed_works_in_another_sites_frame_and_other_pages_are_refused(
    browser: Any, site: LiveServer, db: Database
) -> None:
    slot = await goat_farm_visit(db)
    async with watched(browser, "fr-FR") as (page, watch):
        with partner_site(site.url("/embed?lang=fr")) as partner:
            await page.goto(partner)
            await page.wait_for_load_state("load")
        frame = page.frame_locator("iframe")
        link = frame.locator(f'a[href^="/visits/{slot.id}"]')
        await link.wait_for()
        assert await link.get_attribute("target") == "_top"
        embedded = page.frame(url=re.compile(r"/embed\?"))
        assert embedded is not None
        assert await style_of(embedded, "b", "color") == "rgb(26, 92, 46)"  # embed.css
        assert watch.take() == []

        await link.click()  # the booking page opens at the top, out of the partner's page
        await page.wait_for_url(site.url(f"/visits/{slot.id}?lang=fr"))
        assert watch.take() == []

    async with watched(browser, "fr-FR") as (page, watch):
        with partner_site(site.url("/")) as partner:
            await page.goto(partner)
            await page.wait_for_load_state("load")
        refused = [p for p in watch.take() if "frame-ancestors" in p or "X-Frame-Options" in p]
        assert refused, "the programme may not be framed, and the watch sees it"
        [framed] = page.main_frame.child_frames
        assert not framed.url.startswith(site.base_url), framed.url


async def test_a_farms_day_sheet_raises_no_violation_and_attendance_is_sent(
    browser: Any, site: LiveServer, db: Database
) -> None:
    farm = await make_farm(db)
    slot, *_ = await visit_that_took_place(db, farm)
    day = clock.local_date(slot.starts_at).isoformat()
    async with watched(browser, "fr-FR") as (page, watch):
        await visit(page, watch, site.url(f"{farm.path}/{day}"))
        assert await style_of(page, "header", "backgroundColor") == "rgb(47, 79, 47)"  # farm.css
        await page.get_by_role("button", name="Tout le monde est venu").click()
        await page.wait_for_url(re.compile(r"\?done=attendance"))
        assert "Présence enregistrée" in plain(await page.get_by_role("status").inner_text())
        assert watch.take() == [], "after the attendance"
        await visit(page, watch, site.url(f"{farm.path}/slots/{slot.id}/cancel"))


async def test_the_back_office_raises_no_violation(
    browser: Any, site: LiveServer, db: Database
) -> None:
    account = await make_staff(db)
    slot = await goat_farm_visit(db)
    booking = await book_adults(db, slot.id, 2, "jean@example.fr")
    async with watched(browser, "en-GB") as (page, watch):
        await visit(page, watch, site.url("/staff/login"))
        await page.locator("#email").fill(account.email)
        await page.locator("#password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(site.url("/staff/"))
        assert watch.take() == [], "the back office's home"

        pages = [
            "/staff/planning",
            "/staff/planning/slots",
            "/staff/bookings",
            "/staff/bookings/new",
            f"/staff/bookings/{booking.booking.id}",  # type: ignore[union-attr]
            f"/staff/slots/{slot.id}",
            "/staff/reports",
            "/staff/reports/advice",
            "/staff/programme",
            "/staff/catalogue",
            f"/staff/catalogue/activities/{slot.activity_id}",
        ]
        for path in pages:
            await visit(page, watch, site.url(path))
        await visit(page, watch, site.url("/staff/reports"))
        assert await page.locator("svg[role=img]").count() >= 1  # the charts are drawn


async def test_the_api_reference_works_offline(browser: Any, site: LiveServer) -> None:
    """``/schema`` in Chromium: the reference shows the API's operations, from the app's own
    files only (every request Chromium makes goes to the site's origin), with no violation."""
    async with watched(browser, "en") as (page, watch):
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        await visit(page, watch, site.url("/schema"))
        await page.get_by_role("heading", name="Book places on a slot").first.wait_for()
        assert watch.take() == []
        own = (site.base_url, f"blob:{site.base_url}")  # its search runs in a worker of a blob
        assert asked and all(url.startswith(own) for url in asked), asked
