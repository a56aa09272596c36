"""Secure defaults of a real deployment, tried with the real server process (``serve``):

- several workers share one secret key, so no form or session is refused because the request
  reached another worker (``serve --workers 2`` refuses to start without a key; the demo keeps
  a generated key in a file and reuses it after a restart);
- the client's address comes from ``X-Forwarded-For`` / ``Forwarded`` only when the peer is a
  trusted proxy: the booking rate limit counts each visitor behind the office's reverse proxy
  apart, and a client that is not a proxy cannot pick its own bucket.
"""

from __future__ import annotations

import html
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.factories import make_slot
from tests.live_server import live_server, serve_command
from tests.staff_support import PASSWORD, make_staff

HIDDEN = re.compile(r"<input\b[^>]*\btype=\"hidden\"[^>]*>")
ATTRIBUTE = re.compile(r'\b(name|value)="([^"]*)"')
VISITOR = {"adults": "1", "children": "0", "name": "Anne Martin", "email": "anne@example.org"}


def hidden_fields(page: str, action: str) -> dict[str, str]:
    """The hidden inputs of the form posting to ``action`` (the CSRF token, a form token...)."""
    start = page.index(f'action="{action}"')
    form = page[start : page.index("</form>", start)]
    fields = {}
    for tag in HIDDEN.findall(form):
        attributes = dict(ATTRIBUTE.findall(tag))
        fields[attributes["name"]] = html.unescape(attributes.get("value", ""))
    return fields


async def book_through_the_form(base_url: str, slot_id: int) -> int:
    """A new visitor (no cookie yet) opens the visit page and books: the final status."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=True) as visitor:
        page = await visitor.get(f"/visits/{slot_id}")
        assert page.status_code == 200, page.text[:300]
        data = {**hidden_fields(page.text, f"/visits/{slot_id}"), **VISITOR}
        answer = await visitor.post(f"/visits/{slot_id}", data=data)
        return answer.status_code


async def test_two_workers_on_one_key_refuse_no_form_and_no_session(db, database_url):
    slot = await make_slot(db, capacity=200)
    account = await make_staff(db)
    command = [*serve_command(0)[:-1], "{port}", "--workers", "2"]
    with live_server(database_url, command=command) as server:
        statuses = [await book_through_the_form(server.base_url, slot.id) for _ in range(24)]
        assert statuses == [200] * 24  # confirmation page, after the redirect

        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=30, follow_redirects=True
        ) as clerk:
            page = await clerk.get("/staff/login")
            login = hidden_fields(page.text, "/staff/login")
            answer = await clerk.post(
                "/staff/login", data={**login, "email": account.email, "password": PASSWORD}
            )
            assert answer.url.path == "/staff/", answer.text[:300]
            pages = ["/staff/", "/staff/bookings", "/staff/catalogue", "/staff/reports"] * 6
            seen = [(await clerk.get(path)) for path in pages]
        assert [(r.status_code, r.url.path) for r in seen] == [(200, p) for p in pages]


def test_several_workers_without_a_key_do_not_start(tmp_path: Path):
    env = {
        **os.environ,
        "RESERVATIONS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}",
        "RESERVATIONS_SECRET_KEY": "",
        "RESERVATIONS_SECRET_KEY_FILE": str(tmp_path / "no-such-key"),
    }
    started = subprocess.run(
        [sys.executable, "-m", "reservations", "serve", "--port", "1", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "RESERVATIONS_SECRET_KEY is not set" in started.stderr


def test_the_demo_keeps_its_generated_key_across_restarts(tmp_path: Path):
    """A form page opened before a restart of the demo is still accepted after it."""
    key_file = tmp_path / "var" / "secret_key"
    env = {"RESERVATIONS_SECRET_KEY": "", "RESERVATIONS_SECRET_KEY_FILE": str(key_file)}
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    command = [*serve_command(0)[:-1], "{port}", "--demo"]
    with live_server(url, env=env, command=command, startup_timeout=120) as server:
        written = key_file.read_text()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        with httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=True) as visitor:
            programme = visitor.get("/")
            slot_id = re.search(r'href="/visits/(\d+)', programme.text).group(1)  # type: ignore[union-attr]
            form = hidden_fields(visitor.get(f"/visits/{slot_id}").text, f"/visits/{slot_id}")
            cookies = dict(visitor.cookies)
    with live_server(url, env=env, command=command, startup_timeout=120) as server:
        assert key_file.read_text() == written
        with httpx.Client(
            base_url=server.base_url, timeout=30, cookies=cookies, follow_redirects=True
        ) as visitor:
            answer = visitor.post(f"/visits/{slot_id}", data={**form, **VISITOR})
        assert answer.status_code == 200, answer.text[:300]


async def test_the_rate_limit_counts_each_visitor_behind_a_trusted_proxy(database_url):
    """Two bookings a minute per client: behind the proxy (loopback, trusted by default) each
    forwarded visitor has their own two; a forged header from a peer that is not a trusted
    proxy changes nothing."""
    limited = {"RESERVATIONS_BOOKING_RATE_LIMIT": "2"}

    def statuses(server, forwarded_for: list[str]) -> list[int]:  # type: ignore[no-untyped-def]
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            return [
                client.post(
                    "/api/v1/bookings", json={}, headers={"X-Forwarded-For": address}
                ).status_code
                for address in forwarded_for
            ]

    with live_server(database_url, env=limited) as server:
        behind_proxy = statuses(server, ["203.0.113.1"] * 3 + ["203.0.113.2"] * 2)
        assert [s == 429 for s in behind_proxy] == [False, False, True, False, False]
        assert "203.0.113.1" in server.output()  # the access log shows the visitor's address
    with live_server(
        database_url, env={**limited, "RESERVATIONS_TRUSTED_PROXIES": "10.9.9.9"}
    ) as server:
        forged = statuses(server, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
        assert [s == 429 for s in forged] == [False, False, True]
        assert "203.0.113.1" not in server.output()


async def test_without_a_public_url_the_links_point_at_the_server_itself(db, database_url):
    """``serve --port P`` with no RESERVATIONS_PUBLIC_URL: the feed's links (as the emails' and
    QR codes') name port P, not the default 8000."""
    from tests.test_visitors import upcoming

    slot = await make_slot(db, starts_at=upcoming(5))
    environment = {"RESERVATIONS_PUBLIC_URL": ""}
    with live_server(database_url, env=environment) as server:
        feed = httpx.get(server.url("/calendar.ics"), timeout=10).text.replace("\r\n ", "")
    assert f"{server.base_url}/visits/{slot.id}" in feed
    assert ":8000" not in feed
