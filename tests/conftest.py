"""Fixtures: every database test runs on SQLite and, when RESERVATIONS_TEST_POSTGRES_URL is set,
on PostgreSQL too. Each test gets a fresh, migrated database: a copy of a template migrated once
per session (a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from reservations.base.infra import db as db_module
from reservations.base.infra.db import Database

POSTGRES_URL = os.environ.get("RESERVATIONS_TEST_POSTGRES_URL")
NO_POSTGRES = (
    "RESERVATIONS_TEST_POSTGRES_URL is not set: PostgreSQL variant skipped (.ci/run sets it)"
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize(
            "backend",
            ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
            scope="session",
        )


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _async_url(url: str, database: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


async def _pg_admin(sql: str) -> None:
    assert POSTGRES_URL
    connection = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _blocking(coroutine) -> None:  # type: ignore[no-untyped-def]
    """Run a coroutine to its end from sync code, even under a running loop (in a thread)."""
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def template(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to copy: a file path on SQLite, a database name on PostgreSQL."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        db_module.upgrade(f"sqlite+aiosqlite:///{path}")
        yield str(path)
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    name = f"reservations_tmpl_{uuid.uuid4().hex[:10]}"
    _blocking(_pg_admin(f'CREATE DATABASE "{name}"'))
    db_module.upgrade(_async_url(POSTGRES_URL, name))
    yield name
    _blocking(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(backend: str, template: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh, migrated database of the test's backend."""
    if backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert POSTGRES_URL
    name = f"reservations_test_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _async_url(POSTGRES_URL, name)
    left_open = await _connections_left_open(name)
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert not left_open, (
        f"{left_open} connection(s) to the test database were still open after the test: an "
        "engine (Database.dispose) or a server it started was not closed. Leaks add up until "
        "PostgreSQL refuses connections (max_connections) in a later test."
    )


async def _connections_left_open(name: str, patience: float = 10.0) -> int:
    """Connections to database ``name`` once the test's engines and servers are closed (a
    closed connection's backend may take a moment to leave pg_stat_activity)."""
    assert POSTGRES_URL
    connection = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        for _ in range(int(patience / 0.1)):
            count = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
            )
            if count == 0:
                return 0
            await asyncio.sleep(0.1)
        return int(count)
    finally:
        await connection.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, null_pool=True)
    yield database
    await database.dispose()


# --- a real browser ---------------------------------------------------------------------------

CHROMIUM = os.environ.get("RESERVATIONS_TEST_CHROMIUM", "/usr/bin/chromium")
#: Flags for a headless Chromium run as root on a machine without network (see the README).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    """Debian's Chromium driven by Playwright. Skipped where it is missing, unless
    RESERVATIONS_TEST_REQUIRE_BROWSER is set (``.ci/run`` sets it and installs Chromium)."""
    if not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM}: browser tests skipped (.ci/run installs it)"
        if os.environ.get("RESERVATIONS_TEST_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def staff(db):  # type: ignore[no-untyped-def]
    """A test client logged into the back office as a (non-admin) staff member, and the account."""
    from tests.staff_support import staff_client
    from tests.test_visitors import site_settings

    async with staff_client(db, site_settings(db)) as logged_in:
        yield logged_in


@pytest.fixture
async def admin(db):  # type: ignore[no-untyped-def]
    """A test client logged into the back office as an administrator, and the account."""
    from reservations.base.models import StaffRole
    from tests.staff_support import staff_client
    from tests.test_visitors import site_settings

    async with staff_client(db, site_settings(db), StaffRole.ADMIN) as logged_in:
        yield logged_in


@pytest.fixture
def smtp():  # type: ignore[no-untyped-def]
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""
    from tests.smtp_server import smtp_server

    with smtp_server() as server:
        yield server


@pytest.fixture
def site(database_url: str, smtp):  # type: ignore[no-untyped-def]
    """The real server (``python -m reservations serve``), mailing to ``smtp``; its links point
    at itself, so the port is put into RESERVATIONS_PUBLIC_URL by the command (``live_server``
    fills ``{port}`` in there only)."""
    from tests.live_server import live_server, self_pointing_command

    command = self_pointing_command()
    with live_server(database_url, env=smtp.environment(), command=command) as server:
        yield server


# --- a fake Stripe on loopback ----------------------------------------------------------------


@pytest.fixture
def fake_stripe():  # type: ignore[no-untyped-def]
    """Stripe's API as ``tests/fake_stripe.py`` fakes it, on 127.0.0.1, for one test."""
    from tests.fake_stripe import RunningFake

    with RunningFake() as fake:
        yield fake
