"""Logged-in back-office clients for tests: a real account (argon2 hash) and a real login
through the form, CSRF token included, so that the session cookie is the one people get."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar.testing import AsyncTestClient

from reservations.app import create_app
from reservations.base.infra.db import Database
from reservations.base.models import StaffRole
from reservations.base.rules.accounts import StaffRef, add_staff
from reservations.settings import Settings

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


async def make_staff(db: Database, role: StaffRole = StaffRole.STAFF) -> StaffRef:
    return await add_staff(
        db, f"agent{next(_numbers)}@office.example", PASSWORD, role, actor="test"
    )


async def log_in(client: AsyncTestClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    """Post the login form as a browser does (GET it first for the CSRF cookie)."""
    await client.get("/staff/login")
    return await client.post(
        "/staff/login",
        data={"email": email, "password": password, "_csrf_token": client.cookies["csrftoken"]},
        follow_redirects=False,
    )


@asynccontextmanager
async def staff_client(
    db: Database, settings: Settings, role: StaffRole = StaffRole.STAFF
) -> AsyncIterator[tuple[AsyncTestClient, StaffRef]]:
    """A test client logged in as a new account of ``role``."""
    account = await make_staff(db, role)
    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        answer = await log_in(client, account.email)
        assert answer.status_code == 303, answer.text[:500]
        yield client, account


def csrf(client: AsyncTestClient) -> str:
    """The token to put in a posted form (the CSRF cookie set by any earlier GET)."""
    return client.cookies["csrftoken"]
