"""Back-office accounts on each database: argon2 hashes, login and logout through the form with
Litestar's session, the lock after repeated failures (also under parallel guesses), the rate
limit on the login, and every /staff route refused to an anonymous request (enumerated from the
app, so a new route is covered by itself)."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE, STDOUT
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from reservations.app import create_app
from reservations.base import clock
from reservations.base.errors import (
    AccountLocked,
    LoginFailed,
    PasswordTooShort,
    StaffAlreadyExists,
)
from reservations.base.models import StaffRole, StaffUser
from reservations.base.rules import accounts
from reservations.base.rules.accounts import LOCK_DURATION, MAX_FAILED_LOGINS
from tests.staff_support import PASSWORD, log_in, make_staff
from tests.test_visitors import site_settings, text_of


@pytest.fixture
async def client(db):  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


async def test_passwords_are_kept_as_argon2_hashes_only(db):
    account = await make_staff(db)
    async with db.reading() as session:
        stored = await session.scalar(
            select(StaffUser.password_hash).where(StaffUser.id == account.id)
        )
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(StaffAlreadyExists):
        await accounts.add_staff(db, account.email.upper(), PASSWORD, actor="t")
    with pytest.raises(PasswordTooShort):
        await accounts.add_staff(db, "new@office.example", "short", actor="t")
    assert (await accounts.authenticate(db, account.email.upper(), PASSWORD)).id == account.id


async def test_log_in_reach_a_page_and_log_out(client, db):
    account = await make_staff(db)
    assert (await client.get("/staff/", follow_redirects=False)).status_code == 303
    answer = await log_in(client, account.email)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/"
    session_cookie = answer.cookies.get("staff_session") or client.cookies.get("staff_session")
    assert session_cookie
    home = await client.get("/staff/")
    assert home.status_code == 200 and account.email in home.text
    out = await client.post(
        "/staff/logout", data={"_csrf_token": client.cookies["csrftoken"]}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/staff/login"
    assert (await client.get("/staff/", follow_redirects=False)).status_code == 303


async def test_a_page_asked_before_login_is_reached_after_it(client, db):
    account = await make_staff(db)
    first = await client.get("/staff/?day=2026-07-14", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/staff/login?next_path=%2Fstaff%3Fday%3D2026-07-14"
    form = await client.get(first.headers["location"])
    assert 'name="next_path" value="/staff?day=2026-07-14"' in form.text
    back = await client.post(
        "/staff/login",
        data={
            "email": account.email,
            "password": PASSWORD,
            "next_path": "/staff?day=2026-07-14",
            "_csrf_token": client.cookies["csrftoken"],
        },
        follow_redirects=False,
    )
    assert back.headers["location"] == "/staff?day=2026-07-14"
    await client.post("/staff/logout", data={"_csrf_token": client.cookies["csrftoken"]})
    answer = await client.post(
        "/staff/login",
        data={
            "email": account.email,
            "password": PASSWORD,
            "next_path": "https://evil.example/",
            "_csrf_token": client.cookies["csrftoken"],
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/staff/"  # never sent to another site


async def test_a_wrong_password_keeps_the_email_and_says_nothing_of_the_account(client, db):
    account = await make_staff(db)
    wrong = await log_in(client, account.email, "not the password")
    unknown = await log_in(client, "nobody@office.example", "not the password")
    assert wrong.status_code == unknown.status_code == 422
    assert text_of(wrong).count("Mauvaise adresse e-mail ou mot de passe") == 1
    assert f'value="{account.email}"' in wrong.text
    assert text_of(unknown).replace("nobody@office.example", account.email) == text_of(wrong)
    assert "staff_session" not in client.cookies


async def test_repeated_failures_lock_the_account_for_a_while(db):
    account = await make_staff(db)
    now = clock.now()
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(LoginFailed):
            await accounts.authenticate(db, account.email, "guess", now=now)
    with pytest.raises(AccountLocked):  # even the right password, while locked
        await accounts.authenticate(db, account.email, PASSWORD, now=now)
    later = now + LOCK_DURATION + timedelta(seconds=1)
    assert (await accounts.authenticate(db, account.email, PASSWORD, now=later)).id == account.id


async def test_parallel_guesses_cannot_pass_the_limit(db):
    """Twenty guesses at once: the failures are counted in the database one by one, so the
    account ends locked, and the right password is then refused."""
    account = await make_staff(db)

    async def guess(number: int) -> None:
        with pytest.raises((LoginFailed, AccountLocked)):
            await accounts.authenticate(db, account.email, f"guess {number}")

    await asyncio.gather(*(guess(n) for n in range(4 * MAX_FAILED_LOGINS)))
    with pytest.raises(AccountLocked):
        await accounts.authenticate(db, account.email, PASSWORD)


async def test_the_login_page_says_until_when_an_account_is_locked(client, db):
    account = await make_staff(db)
    for _ in range(MAX_FAILED_LOGINS):
        await log_in(client, account.email, "guess")
    locked = await log_in(client, account.email)
    assert locked.status_code == 403
    assert "ce compte est verrouillé jusqu’au" in text_of(locked)


async def test_the_login_is_rate_limited(db):
    settings = site_settings(db, booking_rate_limit=3)
    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        codes = [(await log_in(client, "x@office.example", "guess")).status_code for _ in range(5)]
    assert codes[:3] == [422, 422, 422] and 429 in codes[3:]


def staff_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = []
    for route in app.routes:
        if route.path == "/staff" or route.path.startswith("/staff/"):
            for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
                found.append((method, route.path))
    return found


def example_path(template: str) -> str:
    """A route's path with every parameter filled with something plausible."""
    import re

    def value(match: re.Match[str]) -> str:
        kind = match.group(2) or "str"
        return {"int": "1", "date": "2026-07-14", "str": "x"}.get(kind, "1")

    return re.sub(r"\{(\w+)(?::(\w+))?\}", value, template)


async def test_every_staff_route_refuses_an_anonymous_request(client, db):
    routes = staff_routes(client.app)
    assert len(routes) >= 3
    await client.get("/")  # a CSRF cookie, as a browser would have
    open_routes = {("GET", "/staff/login"), ("POST", "/staff/login")}
    for method, template in routes:
        if (method, template) in open_routes:
            continue
        path = example_path(template)
        answer = await client.request(
            method,
            path,
            data={"_csrf_token": client.cookies.get("csrftoken", "")},
            follow_redirects=False,
        )
        assert answer.status_code in (303, 401, 403), (method, path, answer.status_code)
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/staff/login"), (method, path)
        assert "staff_session" not in answer.headers.get("set-cookie", "")


async def test_a_session_of_a_disabled_account_stops_working(client, db):
    account = await make_staff(db)
    await log_in(client, account.email)
    assert (await client.get("/staff/")).status_code == 200
    async with db.writing() as session:
        user = await session.get(StaffUser, account.id)
        user.disabled_at = clock.now()  # type: ignore[union-attr]
    assert (await client.get("/staff/", follow_redirects=False)).status_code == 303


async def test_the_cli_creates_an_account_asking_for_the_password(db):
    environment = {**os.environ, "RESERVATIONS_DATABASE_URL": db.url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reservations", "staff", "add", "Claire@Office.example", "--admin",
        env=environment, stdin=PIPE, stdout=PIPE, stderr=STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate(b"un mot de passe long\nun mot de passe long\n")
    assert await process.wait() == 0, output.decode()
    account = await accounts.authenticate(db, "claire@office.example", "un mot de passe long")
    assert account.role == StaffRole.ADMIN


async def test_staff_error_pages_keep_the_back_office_layout(staff, db):
    client, account = staff
    missing = await client.get("/staff/bookings/999999")
    assert missing.status_code == 404
    assert account.email in missing.text and 'href="/staff/planning"' in missing.text
    assert "Retour à l’espace de l’office" in missing.text
