"""The staff login against a real server (``reservations serve``), where requests really overlap
(Litestar's test client serialises them): twenty guesses at once are not twenty checks, an
unknown email is answered like a real one, guesses from another address lock only that address,
and a logout ends the session in every worker process."""

from __future__ import annotations

import sys

import httpx
import pytest

from reservations.base.rules.accounts import MAX_FAILED_LOGINS
from tests.live_server import HOST, live_server
from tests.staff_support import PASSWORD, make_staff
from tests.test_crowd import all_at_once
from tests.test_visitors import text_of

WRONG = "Mauvaise adresse e-mail ou mot de passe"
LOCKED = "ce compte est verrouillé jusqu’au"
#: Another address of the loopback network: the server sees another client.
ELSEWHERE = "127.0.0.2"


def browser(server, local_address: str | None = None) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    transport = httpx.AsyncHTTPTransport(local_address=local_address) if local_address else None
    return httpx.AsyncClient(base_url=server.base_url, timeout=120, transport=transport)


async def post_login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post(
        "/staff/login",
        data={"email": email, "password": password, "_csrf_token": http.cookies["csrftoken"]},
    )


def outcome(answer: httpx.Response) -> str:
    """What a person sees: logged in, told wrong, or told locked (and nothing else)."""
    if answer.status_code == 303:
        return "logged in"
    text = text_of(answer)
    if answer.status_code == 422 and WRONG in text and LOCKED not in text:
        return "wrong"
    if answer.status_code == 403 and LOCKED in text and WRONG not in text:
        return "locked"
    return f"unexpected {answer.status_code}: {text[:300]}"


@pytest.mark.parametrize("known", [True, False], ids=["account", "unknown-email"])
async def test_twenty_parallel_guesses_are_five_checks_then_locked(database_url, db, known):
    """Twenty wrong passwords posted at once: exactly five are checked ("wrong"), fifteen are
    refused as locked; then the right password is refused too. The same answers for an email
    with no account. From another address the account still opens."""
    email = (await make_staff(db)).email if known else "nobody@office.example"
    guesses = 4 * MAX_FAILED_LOGINS
    with live_server(database_url) as server:
        async with browser(server) as http, browser(server, ELSEWHERE) as counter:
            await http.get("/staff/login")
            answers = await all_at_once(
                [
                    lambda number=number: post_login(http, email, f"guess {number}")
                    for number in range(guesses)
                ]
            )
            right_during_lock = await post_login(http, email, PASSWORD)
            await counter.get("/staff/login")
            from_elsewhere = await post_login(counter, email, PASSWORD)
        output = server.output()
    assert "Traceback" not in output, output
    outcomes = [outcome(answer) for answer in answers]
    assert sorted(outcomes) == sorted(
        ["wrong"] * MAX_FAILED_LOGINS + ["locked"] * (guesses - MAX_FAILED_LOGINS)
    ), outcomes
    assert outcome(right_during_lock) == "locked"
    assert outcome(from_elsewhere) == ("logged in" if known else "wrong")


@pytest.mark.parametrize("workers", [2])
async def test_a_logout_ends_the_session_in_every_worker(database_url, db, workers):
    """Two server processes share no memory: the session is in the database, so a cookie opens
    the back office whichever process answers, and a copy of it opens nothing after the logout,
    whichever process answers."""
    account = await make_staff(db)
    command = [sys.executable, "-m", "reservations", "serve", "--host", HOST, "--port", "{port}"]
    with live_server(database_url, command=[*command, "--workers", str(workers)]) as server:
        # No keep-alive: each request is a new connection, which either process may accept.
        fresh = httpx.Limits(max_keepalive_connections=0)
        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=fresh) as http,
            httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=fresh) as thief,
        ):
            await http.get("/staff/login")
            assert (await post_login(http, account.email, PASSWORD)).status_code == 303
            thief.cookies.set("staff_session", http.cookies["staff_session"], path="/staff")
            before = [(await thief.get("/staff/")).status_code for _ in range(3 * workers)]
            out = await http.post("/staff/logout", data={"_csrf_token": http.cookies["csrftoken"]})
            assert out.status_code == 303
            after = [await thief.get("/staff/") for _ in range(3 * workers)]
        output = server.output()
    assert "Traceback" not in output, output
    assert before == [200] * (3 * workers)
    assert [(a.status_code, a.headers.get("location", "")[:12]) for a in after] == [
        (303, "/staff/login")
    ] * (3 * workers)
