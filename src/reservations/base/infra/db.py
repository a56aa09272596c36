"""The database handle: one engine, and sessions for reading or for writing.

Services open their own unit of work with ``db.writing()`` (commits on success, rolls back on
error) or ``db.reading()``. On SQLite a writing transaction starts with ``BEGIN IMMEDIATE``
(SQLAlchemy's documented recipe for pysqlite/aiosqlite), so two writers never interleave and a
writer waits (``busy_timeout``) instead of failing half-way; readers stay concurrent under WAL.
On PostgreSQL transactions are READ COMMITTED and places are taken by one conditional UPDATE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from reservations.base.infra.unavailable import is_database_unavailable
from reservations.settings import PROJECT_ROOT

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "reservations_write"


def _install_sqlite_recipe(sync_engine: Any) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 0,
        pool_timeout_seconds: float = 10,
        null_pool: bool = False,
    ) -> None:
        """At most ``pool_size + max_overflow`` connections on PostgreSQL (a bounded budget
        against the server's ``max_connections``); a checkout that waits longer than the
        timeout raises, and the web layer answers 503. ``null_pool``: one connection per
        session, closed after it (tests sharing a database with a server process)."""
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        options: dict[str, Any] = {}
        if null_pool:
            options["poolclass"] = NullPool
        elif self.dialect == "postgresql":
            options.update(
                pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout_seconds
            )
        self.engine = create_async_engine(url, **options)
        if self.is_sqlite:
            _install_sqlite_recipe(self.engine.sync_engine)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session:
            yield session

    @asynccontextmanager
    async def reading_connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for reads that want rows, not ORM objects (lists, exports)."""
        async with self.engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def reading_statements(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for reads whose statements each stand alone: on PostgreSQL in
        autocommit, one round trip a statement instead of BEGIN, the statement and ROLLBACK
        (READ COMMITTED gives every statement its own snapshot anyway); on SQLite a read
        transaction as ``reading_connection``, which costs no round trip there."""
        engine = self.engine if self.is_sqlite else self._autocommit_engine
        async with engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        async with self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def writing_connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a writing transaction (BEGIN IMMEDIATE on SQLite), for hot paths
        where the ORM's unit of work costs more than the statements themselves."""
        async with self._write_engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection where each statement commits by itself: one round trip per statement.
        Only for statements that are a whole unit of work on their own."""
        async with self._autocommit_engine.connect() as connection:
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations. Alembic's async env calls ``asyncio.run()``, so when an event loop
    is already running here (tests, async callers) the upgrade runs in a worker thread."""
    from alembic import command

    _ensure_sqlite_folder(url)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(alembic_config(url), revision)
        return
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(command.upgrade, alembic_config(url), revision).result()


def _ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


class DriverStatement:
    """A Core statement compiled once for asyncpg and sent straight through its connection
    (``Database.driver_connection``). SQLAlchemy's execution of a statement (cache lookup,
    events, parameter and result processing) costs more CPU than asyncpg's: on a booking, the
    request's single statement, that was a third of the server's work. The parameters still go
    through each bind's own type (a JSON value becomes text, a datetime is checked aware); the
    rows come back as asyncpg records, JSON decoded by the codec SQLAlchemy set on the
    connection."""

    def __init__(self, statement: Any) -> None:
        self._statement = statement
        self._compiled: tuple[str, list[tuple[str, Any]]] | None = None

    def _compile(self, dialect: Any) -> tuple[str, list[tuple[str, Any]]]:
        if self._compiled is None:
            compiled = self._statement.compile(dialect=dialect)
            names = list(compiled.positiontup or [])
            processors = [compiled.binds[name].type.bind_processor(dialect) for name in names]
            self._compiled = (str(compiled), list(zip(names, processors, strict=True)))
        return self._compiled

    def sql_and_arguments(self, dialect: Any, params: dict[str, Any]) -> tuple[str, list[Any]]:
        """The SQL text and its positional arguments, processed as SQLAlchemy would."""
        sql, binds = self._compile(dialect)
        return sql, [process(params[name]) if process else params[name] for name, process in binds]

    async def first(self, db: Database, params: dict[str, Any]) -> Any:
        """The first row (an asyncpg ``Record``), or None, in autocommit. Fails as SQLAlchemy
        would: ``IntegrityError`` for a broken constraint, ``OperationalError`` for a lost or
        refused connection (invalidated, so the pool does not hand it out again)."""
        sql, arguments = self.sql_and_arguments(db.engine.dialect, params)
        # The pool's own connection, without a SQLAlchemy ``Connection`` around it (that costs
        # as much as the statement): asyncpg outside a transaction, so the statement commits.
        driver_error = db.engine.dialect.loaded_dbapi.Error
        try:
            pooled = await db.engine.raw_connection()
        except driver_error as error:  # as a ``Connection`` would say it (too many clients...)
            raise sa_exc.DBAPIError.instance(sql, arguments, error, driver_error) from error
        try:
            return await pooled.driver_connection.fetchrow(sql, *arguments)
        except asyncpg.IntegrityConstraintViolationError as error:
            raise sa_exc.IntegrityError(sql, arguments, error) from error
        # InternalClientError: asyncpg's protocol caught in a state the server's end of the
        # connection broke ("another operation is in progress"): a lost connection too.
        except (
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            OSError,
        ) as error:
            failure = sa_exc.DBAPIError(sql, arguments, error)
            if isinstance(error, asyncpg.PostgresError) and not is_database_unavailable(failure):
                raise failure from error
            await greenlet_spawn(pooled.invalidate, error)
            raise sa_exc.OperationalError(
                sql, arguments, error, connection_invalidated=True
            ) from error
        finally:
            await greenlet_spawn(pooled.close)  # back to the pool (closed if invalidated)
