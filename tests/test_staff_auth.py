"""Back-office accounts on each database: argon2 hashes, login and logout through the form with
Litestar's session, the lock after repeated failures per (email, client address) (also under
parallel guesses, and the same for an unknown email), argon2 in worker threads, sessions ended on
the server by a logout or a disabled account, the rate limit on the login, and every /staff route
refused to an anonymous request (enumerated from the app, so a new route is covered by itself).
Guesses against a real server are in test_staff_login_live.py."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
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
from reservations.base.infra import tokens
from reservations.base.models import LoginThrottle, StaffRole, StaffSession, StaffUser
from reservations.base.rules import accounts
from reservations.base.rules.accounts import HASHING_THREADS, LOCK_DURATION, MAX_FAILED_LOGINS
from tests.staff_support import PASSWORD, log_in, make_staff
from tests.test_visitors import site_settings, text_of

#: The client address of service-level logins, and another one.
COUNTER = "192.0.2.10"
ELSEWHERE = "198.51.100.7"


async def sign_in(db, email: str, password: str = PASSWORD, client: str = COUNTER, now=None):  # type: ignore[no-untyped-def]
    """``accounts.authenticate`` as the login page calls it (the test site's secret key)."""
    return await accounts.authenticate(
        db, email, password, client=client, secret_key="test", now=now
    )


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
    assert (await sign_in(db, account.email.upper())).id == account.id


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


@pytest.mark.parametrize("known", [True, False], ids=["account", "unknown-email"])
async def test_repeated_failures_lock_the_email_for_a_while(db, known):
    """The same answers whether the email has an account or not: five refusals, then locked
    (even the right password), then open again when the lock has passed."""
    email = (await make_staff(db)).email if known else "nobody@office.example"
    now = clock.now()
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(LoginFailed):
            await sign_in(db, email, "guess", now=now)
    with pytest.raises(AccountLocked) as locked:  # even the right password, while locked
        await sign_in(db, email, now=now + timedelta(minutes=1))
    assert locked.value.params["until"] == now + LOCK_DURATION
    later = now + LOCK_DURATION + timedelta(seconds=1)
    if known:
        assert (await sign_in(db, email, now=later)).email == email
    else:
        with pytest.raises(LoginFailed):
            await sign_in(db, email, now=later)


async def test_old_failures_are_forgotten_and_a_login_resets_the_count(db):
    account = await make_staff(db)
    start = clock.now()
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(LoginFailed):
            await sign_in(db, account.email, "guess", now=start)
    assert (await sign_in(db, account.email, now=start)).id == account.id
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(LoginFailed):
            await sign_in(db, account.email, "guess", now=start)
    # Four failures a quarter of an hour ago, four now: no lock.
    now = start + LOCK_DURATION
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(LoginFailed):
            await sign_in(db, account.email, "guess", now=now)
    assert (await sign_in(db, account.email, now=now)).id == account.id


async def test_guesses_from_elsewhere_do_not_lock_the_counter_out(db):
    """Counted per (email, client address): someone guessing from another address locks only
    themselves; the clerk at the counter still logs in."""
    account = await make_staff(db)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(LoginFailed):
            await sign_in(db, account.email, "guess", client=ELSEWHERE)
    with pytest.raises(AccountLocked):
        await sign_in(db, account.email, client=ELSEWHERE)
    assert (await sign_in(db, account.email, client=COUNTER)).id == account.id
    with pytest.raises(AccountLocked):  # the counter's login unlocked no one else
        await sign_in(db, account.email, client=ELSEWHERE)


async def test_the_throttle_table_holds_no_email(db):
    await make_staff(db)
    for email in ("agent1@office.example", "Stranger@Example.org"):
        with pytest.raises(LoginFailed):
            await sign_in(db, email, "guess")
    async with db.reading() as session:
        rows = (await session.scalars(select(LoginThrottle))).all()
    assert len(rows) == 2
    stored = " ".join(f"{row.key_digest} {row.attempts}" for row in rows).lower()
    assert "office" not in stored and "stranger" not in stored and COUNTER not in stored
    assert {row.key_digest for row in rows} == {
        accounts.throttle_key("test", "agent1@office.example", COUNTER),
        accounts.throttle_key("test", "stranger@example.org", COUNTER),
    }


@pytest.mark.parametrize("known", [True, False], ids=["account", "unknown-email"])
async def test_parallel_guesses_cannot_pass_the_limit(db, known):
    """Twenty guesses at once, on independent connections: each attempt is counted before its
    password is checked, so exactly five are checked, fifteen are refused as locked, and the
    right password is then refused."""
    email = (await make_staff(db)).email if known else "nobody@office.example"

    async def guess(number: int) -> str:
        try:
            await sign_in(db, email, f"guess {number}")
        except (LoginFailed, AccountLocked) as refusal:
            return refusal.code
        return "logged in"

    answers = await asyncio.gather(*(guess(n) for n in range(4 * MAX_FAILED_LOGINS)))
    assert sorted(answers) == sorted(
        ["login_failed"] * MAX_FAILED_LOGINS + ["account_locked"] * 3 * MAX_FAILED_LOGINS
    )
    with pytest.raises(AccountLocked):
        await sign_in(db, email)


async def test_passwords_are_checked_in_a_few_worker_threads(db, monkeypatch):
    """argon2 never runs on the event loop's thread (a login would stall every request), and
    no more than ``HASHING_THREADS`` hash at once."""
    account = await make_staff(db)
    loop_thread = threading.get_ident()
    threads: list[int] = []
    running, most = 0, 0
    guard = threading.Lock()
    verify = accounts._verify

    def watched(password_hash: str, password: str) -> bool:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
            threads.append(threading.get_ident())
        try:
            return verify(password_hash, password)
        finally:
            with guard:
                running -= 1

    monkeypatch.setattr(accounts, "_verify", watched)
    tries = [
        sign_in(db, email, password, client=f"192.0.2.{number}")
        for number, (email, password) in enumerate(
            [(account.email, PASSWORD), (account.email, "guess"), ("nobody@office.example", "x")]
            * 3
        )
    ]
    results = await asyncio.gather(*tries, return_exceptions=True)
    assert sum(isinstance(result, accounts.StaffRef) for result in results) == 3
    assert len(threads) == len(tries) and loop_thread not in threads
    assert 1 <= most <= HASHING_THREADS


async def test_the_login_page_says_until_when_an_account_is_locked(client, db):
    """A real account and an unknown email get the same pages: five 422s, then 403 "locked"."""
    account = await make_staff(db)
    pages = {}
    for email in (account.email, "nobody@office.example"):
        codes = [(await log_in(client, email, "guess")).status_code for _ in range(5)]
        assert codes == [422] * MAX_FAILED_LOGINS
        pages[email] = await log_in(client, email)
    locked, unknown = pages.values()
    assert locked.status_code == unknown.status_code == 403
    assert "ce compte est verrouillé jusqu’au" in text_of(locked)

    # The two locks end a few milliseconds apart: compare the pages without their moment.
    def without_moment(page: str) -> str:
        return re.sub(r"jusqu’au [^.]*\.", "jusqu’au …", page)

    assert without_moment(text_of(unknown).replace("nobody@office.example", account.email)) == (
        without_moment(text_of(locked))
    )


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


async def test_a_copied_cookie_stops_working_at_logout(client, db):
    """The session ends on the server: a cookie copied before the logout (another tab, another
    machine, a thief) opens nothing after it."""
    account = await make_staff(db)
    await log_in(client, account.email)
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as thief:
        thief.cookies.set("staff_session", client.cookies["staff_session"], path="/staff")
        assert (await thief.get("/staff/")).status_code == 200
        await client.post("/staff/logout", data={"_csrf_token": client.cookies["csrftoken"]})
        async with db.reading() as session:
            assert (await session.scalars(select(StaffSession))).all() == []
        again = await thief.get("/staff/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/staff/login")


async def test_the_table_keeps_only_a_digest_of_the_session_token(client, db):
    account = await make_staff(db)
    await log_in(client, account.email)
    async with db.reading() as session:
        (stored,) = (await session.scalars(select(StaffSession))).all()
    assert stored.staff_id == account.id
    assert stored.expires_at - stored.created_at == accounts.SESSION_LIFETIME
    # A token opens a session by its digest; the token itself is stored nowhere.
    token = await accounts.open_session(db, account)
    async with db.reading() as session:
        digests = set((await session.scalars(select(StaffSession.token_digest))).all())
    assert tokens.digest(token) in digests and token not in digests and len(digests) == 2
    assert (await accounts.staff_for_session(db, token)) == account
    assert (await accounts.staff_for_session(db, tokens.digest(token))) is None
    assert (
        await accounts.staff_for_session(db, token, now=clock.now() + accounts.SESSION_LIFETIME)
    ) is None


async def test_logging_in_again_ends_the_previous_session(client, db):
    account = await make_staff(db)
    await log_in(client, account.email)
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as copy:
        copy.cookies.set("staff_session", client.cookies["staff_session"], path="/staff")
        assert (await copy.get("/staff/")).status_code == 200
        await log_in(client, account.email)
        async with db.reading() as session:
            assert len((await session.scalars(select(StaffSession))).all()) == 1
        assert (await copy.get("/staff/", follow_redirects=False)).status_code == 303
    assert (await client.get("/staff/")).status_code == 200


async def test_a_session_of_a_disabled_account_stops_working(client, db):
    account = await make_staff(db)
    await log_in(client, account.email)
    assert (await client.get("/staff/")).status_code == 200
    async with db.writing() as session:
        user = await session.get(StaffUser, account.id)
        user.disabled_at = clock.now()  # type: ignore[union-attr]
    assert (await client.get("/staff/", follow_redirects=False)).status_code == 303


async def test_disabling_an_account_ends_its_sessions(db):
    account, colleague = await make_staff(db), await make_staff(db)
    apps = [create_app(site_settings(db), database=db) for _ in range(3)]
    async with (
        AsyncTestClient(app=apps[0]) as first,
        AsyncTestClient(app=apps[1]) as second,
        AsyncTestClient(app=apps[2]) as other,
    ):
        for browser, who in ((first, account), (second, account), (other, colleague)):
            assert (await log_in(browser, who.email)).status_code == 303
        await accounts.disable_staff(db, account.id, actor="test")
        async with db.reading() as session:
            left = (await session.scalars(select(StaffSession.staff_id))).all()
        assert left == [colleague.id]
        for browser in (first, second):
            assert (await browser.get("/staff/", follow_redirects=False)).status_code == 303
        assert (await other.get("/staff/")).status_code == 200
        assert (await log_in(first, account.email)).status_code == 422  # and no new one


async def test_the_cli_creates_an_account_asking_for_the_password(db):
    environment = {**os.environ, "RESERVATIONS_DATABASE_URL": db.url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reservations", "staff", "add", "Claire@Office.example", "--admin",
        env=environment, stdin=PIPE, stdout=PIPE, stderr=STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate(b"un mot de passe long\nun mot de passe long\n")
    assert await process.wait() == 0, output.decode()
    account = await sign_in(db, "claire@office.example", "un mot de passe long")
    assert account.role == StaffRole.ADMIN


async def test_staff_error_pages_keep_the_back_office_layout(staff, db):
    client, account = staff
    missing = await client.get("/staff/bookings/999999")
    assert missing.status_code == 404
    assert account.email in missing.text and 'href="/staff/planning"' in missing.text
    assert "Retour à l’espace de l’office" in missing.text
